package token_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/pkg/servicedeps"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/token"
	"github.com/landscape-dev/landscape/services/token/tokens"
)

const (
	serviceSecret = "test-service-secret-0123456789abcdef"
	userSecret    = "test-user-secret-0123456789abcdef"
	sys1          = "globalAccounts/acme/systems/s1"
)

type harness struct {
	rdb     *redis.Client
	prefix  string
	clock   *testkit.Clock
	js      jetstream.JetStream
	conn    *grpc.ClientConn
	client  tokenv1.TokenServiceClient
	addr    string
	logs    *testkit.Buffer
	mu      sync.Mutex
	secrets []string
}

// start runs the whole service in-process: gRPC on 127.0.0.1:0, Redis,
// embedded NATS and the outbox relay.
func start(t testing.TB, withNATS bool) *harness {
	t.Helper()
	rdb, prefix := testkit.Redis(t)
	h := &harness{rdb: rdb, prefix: prefix, clock: testkit.NewClock(time.Now()), logs: &testkit.Buffer{}}
	logger := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	if withNATS {
		h.js = testkit.JetStream(t, testkit.NATS(t).URL())
	}
	svc, err := token.New(token.Deps{Common: servicedeps.Common{Logger: logger, Redis: rdb, KeyPrefix: prefix, JetStream: h.js, Now: h.clock.Now}})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := authn.New(authn.Config{HS256Secret: userSecret, ServiceSecret: serviceSecret})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpcserver.New(logger, auth)
	svc.Register(srv)
	h.addr = testkit.Serve(t, srv.Serve)
	if withNATS {
		wg.Go(func() {
			if err := svc.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	h.conn, err = grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(authn.ServiceCredential(serviceSecret, "registry")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.conn.Close() })
	h.client = tokenv1.NewTokenServiceClient(h.conn)
	return h
}

func (h *harness) issue(t testing.TB, subject string, ttl time.Duration, revokePrevious bool) *tokenv1.IssueTokenResponse {
	t.Helper()
	res, err := h.client.IssueToken(t.Context(), &tokenv1.IssueTokenRequest{
		Subject: subject, SystemType: "sap-commerce-cloud", Ttl: durationpb.New(ttl), RevokePrevious: revokePrevious,
	})
	if err != nil {
		t.Fatalf("IssueToken: %v", err)
	}
	h.mu.Lock()
	h.secrets = append(h.secrets, res.GetSecret())
	h.mu.Unlock()
	return res
}

// wantStatus checks the code, the ErrorInfo reason and, when given, the
// field of the first violation.
func wantStatus(t testing.TB, err error, code codes.Code, reason, field string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code {
		t.Fatalf("status %v, want %s", err, code)
	}
	var gotReason, gotField string
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() != "landscape" {
				t.Fatalf("domain %q", d.GetDomain())
			}
			gotReason = d.GetReason()
		case *errdetails.BadRequest:
			if len(d.GetFieldViolations()) > 0 {
				gotField = d.GetFieldViolations()[0].GetField()
			}
		}
	}
	if gotReason != reason || gotField != field {
		t.Fatalf("reason %q field %q, want %q %q (%v)", gotReason, gotField, reason, field, err)
	}
}

func TestGRPCFlowAndReasons(t *testing.T) {
	t.Parallel()
	h := start(t, false)
	ctx := t.Context()
	c := h.client

	res := h.issue(t, sys1, 10*time.Minute, false)
	tok := res.GetToken()
	if !strings.HasPrefix(res.GetSecret(), "lsit_") || len(res.GetSecret()) != 54 ||
		!strings.HasPrefix(tok.GetName(), sys1+"/integrationTokens/") || tok.GetSubject() != sys1 ||
		tok.GetGlobalAccount() != "acme" || tok.GetSystemType() != "sap-commerce-cloud" ||
		tok.GetState() != tokenv1.Token_UNUSED ||
		tok.GetExpireTime().AsTime().Sub(tok.GetCreateTime().AsTime()) != 10*time.Minute {
		t.Fatalf("IssueToken = %v", res)
	}
	got, err := c.ConsumeToken(ctx, &tokenv1.ConsumeTokenRequest{Secret: res.GetSecret()})
	if err != nil {
		t.Fatal(err)
	}
	if g := got.GetToken(); g.GetName() != tok.GetName() || g.GetState() != tokenv1.Token_CONSUMED ||
		g.GetSubject() != sys1 || g.GetSystemType() != "sap-commerce-cloud" || g.GetEndTime() == nil {
		t.Fatalf("ConsumeToken = %v", got)
	}
	_, err = c.ConsumeToken(ctx, &tokenv1.ConsumeTokenRequest{Secret: res.GetSecret()})
	wantStatus(t, err, codes.Unauthenticated, "TOKEN_ALREADY_USED", "")

	// Mistyped (checksum), unknown, empty.
	other := h.issue(t, "globalAccounts/acme/systems/s2", time.Hour, false).GetSecret()
	mistyped := other[:20] + string("ab"[boolIndex(other[20] == 'a')]) + other[21:]
	_, err = c.ConsumeToken(ctx, &tokenv1.ConsumeTokenRequest{Secret: mistyped})
	wantStatus(t, err, codes.Unauthenticated, "TOKEN_INVALID", "")
	_, err = c.ConsumeToken(ctx, &tokenv1.ConsumeTokenRequest{Secret: "lsit_" + strings.Repeat("A", 43) + "000000"})
	wantStatus(t, err, codes.Unauthenticated, "TOKEN_INVALID", "")
	unknown, _ := tokens.NewSecret(nil) // well-formed, never issued
	_, err = c.ConsumeToken(ctx, &tokenv1.ConsumeTokenRequest{Secret: unknown})
	wantStatus(t, err, codes.Unauthenticated, "TOKEN_INVALID", "")
	_, err = c.ConsumeToken(ctx, &tokenv1.ConsumeTokenRequest{})
	wantStatus(t, err, codes.InvalidArgument, "INVALID_ARGUMENT", "integrationToken")

	// Revoked, by subject and by name.
	r1 := h.issue(t, "globalAccounts/acme/systems/s3", time.Hour, false)
	r2 := h.issue(t, "globalAccounts/acme/systems/s3", time.Hour, false)
	n, err := c.RevokeTokens(ctx, &tokenv1.RevokeTokensRequest{Subject: "globalAccounts/acme/systems/s3", Name: r1.GetToken().GetName()})
	if err != nil || n.GetRevokedCount() != 1 {
		t.Fatalf("RevokeTokens by name: %v %v", n, err)
	}
	n, err = c.RevokeTokens(ctx, &tokenv1.RevokeTokensRequest{Subject: "globalAccounts/acme/systems/s3"})
	if err != nil || n.GetRevokedCount() != 1 {
		t.Fatalf("RevokeTokens: %v %v", n, err)
	}
	for _, r := range []*tokenv1.IssueTokenResponse{r1, r2} {
		_, err = c.ConsumeToken(ctx, &tokenv1.ConsumeTokenRequest{Secret: r.GetSecret()})
		wantStatus(t, err, codes.Unauthenticated, "TOKEN_REVOKED", "")
	}

	// revoke_previous.
	p1 := h.issue(t, "globalAccounts/acme/systems/s4", time.Hour, false)
	p2 := h.issue(t, "globalAccounts/acme/systems/s4", time.Hour, true)
	_, err = c.ConsumeToken(ctx, &tokenv1.ConsumeTokenRequest{Secret: p1.GetSecret()})
	wantStatus(t, err, codes.Unauthenticated, "TOKEN_REVOKED", "")

	// Expired (the clock passes the 10-minute TTL).
	e1 := h.issue(t, "globalAccounts/acme/systems/s5", 10*time.Minute, false)
	h.clock.Advance(10 * time.Minute)
	_, err = c.ConsumeToken(ctx, &tokenv1.ConsumeTokenRequest{Secret: e1.GetSecret()})
	wantStatus(t, err, codes.Unauthenticated, "TOKEN_EXPIRED", "")
	if _, err := c.ConsumeToken(ctx, &tokenv1.ConsumeTokenRequest{Secret: p2.GetSecret()}); err != nil {
		t.Fatalf("p2 (1 h TTL): %v", err)
	}

	// Bad input.
	_, err = c.IssueToken(ctx, &tokenv1.IssueTokenRequest{Subject: "systems/s1", SystemType: "sap-commerce-cloud", Ttl: durationpb.New(time.Hour)})
	wantStatus(t, err, codes.InvalidArgument, "INVALID_ARGUMENT", "subject")
	_, err = c.IssueToken(ctx, &tokenv1.IssueTokenRequest{Subject: sys1, SystemType: "sap-commerce-cloud"})
	wantStatus(t, err, codes.InvalidArgument, "INVALID_ARGUMENT", "ttl")
	_, err = c.IssueToken(ctx, &tokenv1.IssueTokenRequest{Subject: sys1, Ttl: durationpb.New(time.Hour)})
	wantStatus(t, err, codes.InvalidArgument, "INVALID_ARGUMENT", "systemType")
	_, err = c.RevokeTokens(ctx, &tokenv1.RevokeTokensRequest{Subject: "x"})
	wantStatus(t, err, codes.InvalidArgument, "INVALID_ARGUMENT", "subject")
	_, err = c.RevokeTokens(ctx, &tokenv1.RevokeTokensRequest{Subject: sys1, Name: "globalAccounts/acme/systems/s2/integrationTokens/abc"})
	wantStatus(t, err, codes.InvalidArgument, "INVALID_ARGUMENT", "name")

	assertNoSecrets(t, h.rdb, h.prefix, h.secrets)
	h.assertLogsClean(t)
}

// assertLogsClean checks that the service logged its calls and that no log
// line holds a secret or its hash.
func (h *harness) assertLogsClean(t testing.TB) {
	t.Helper()
	logs := h.logs.String()
	if !strings.Contains(logs, "TokenService/ConsumeToken") {
		t.Fatalf("no call was logged: %q", logs)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.secrets {
		if strings.Contains(logs, s[5:48]) || strings.Contains(logs, tokens.HashSecret(s)) {
			t.Fatal("a log line holds a token secret or its hash")
		}
	}
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestGRPCCallers(t *testing.T) {
	t.Parallel()
	h := start(t, false)
	ctx := t.Context()
	anon, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	_, err = tokenv1.NewTokenServiceClient(anon).IssueToken(ctx, &tokenv1.IssueTokenRequest{
		Subject: sys1, SystemType: "sap-commerce-cloud", Ttl: durationpb.New(time.Hour)})
	wantStatus(t, err, codes.Unauthenticated, "UNAUTHENTICATED", "")

	// A person's JWT, even an admin's of the same global account, is refused.
	jwt, err := authn.MintHS256(userSecret, "alice", "acme", []string{"global-account-admin"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	md := grpc.PerRPCCredsCallOption{Creds: bearer(jwt)}
	_, err = tokenv1.NewTokenServiceClient(anon).ConsumeToken(ctx, &tokenv1.ConsumeTokenRequest{Secret: "x"}, md)
	wantStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED", "")

	// A wrong service secret.
	bad, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(authn.ServiceCredential("another-secret-0123456789abcdef0123", "registry")))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	_, err = tokenv1.NewTokenServiceClient(bad).RevokeTokens(ctx, &tokenv1.RevokeTokensRequest{Subject: sys1})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong service secret: %v", err)
	}

	// Health: SERVING once Redis has been checked.
	hc := healthpb.NewHealthClient(anon)
	testkit.Eventually(t, 10*time.Second, "TokenService SERVING", func() bool {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: tokenv1.TokenService_ServiceDesc.ServiceName})
		return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})
}

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return false }

// Over gRPC too: of 100 concurrent presentations exactly one succeeds
// (20 rounds here; the store test runs 100).
func TestGRPCConcurrentConsume(t *testing.T) {
	t.Parallel()
	h := start(t, false)
	ctx := t.Context()
	for r := range 20 {
		secret := h.issue(t, fmt.Sprintf("globalAccounts/acme/systems/c%d", r), time.Hour, false).GetSecret()
		testkit.OneWins(t, fmt.Sprintf("round %d", r), 100, func(int) error {
			_, err := h.client.ConsumeToken(ctx, &tokenv1.ConsumeTokenRequest{Secret: secret})
			return err
		}, func(err error) bool {
			return status.Code(err) == codes.Unauthenticated && strings.Contains(err.Error(), "already been used")
		})
	}
}

// Events reach JetStream through the outbox relay, with the CloudEvent id
// as Nats-Msg-Id, and never carry a secret or its hash.
func TestEventsOnJetStream(t *testing.T) {
	t.Parallel()
	h := start(t, true)
	ctx := t.Context()
	a := h.issue(t, sys1, time.Hour, false)
	b := h.issue(t, sys1, time.Hour, true) // revokes a
	if _, err := h.client.ConsumeToken(ctx, &tokenv1.ConsumeTokenRequest{Secret: b.GetSecret()}); err != nil {
		t.Fatal(err)
	}
	want := []struct{ subject, name string }{
		{"landscape.token.acme.token.issued", a.GetToken().GetName()},
		{"landscape.token.acme.token.revoked", a.GetToken().GetName()},
		{"landscape.token.acme.token.issued", b.GetToken().GetName()},
		{"landscape.token.acme.token.consumed", b.GetToken().GetName()},
	}
	var stream jetstream.Stream
	testkit.Eventually(t, 15*time.Second, "stream LANDSCAPE_TOKEN holds 4 events", func() bool {
		s, err := h.js.Stream(ctx, "LANDSCAPE_TOKEN")
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		if err != nil {
			return false
		}
		stream = s
		return info.State.Msgs >= uint64(len(want))
	})
	needles := []string{}
	for _, s := range []string{a.GetSecret(), b.GetSecret()} {
		needles = append(needles, s[5:48], tokens.HashSecret(s))
	}
	for i, w := range want {
		m, err := stream.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != w.subject {
			t.Fatalf("event %d on %s, want %s", i, m.Subject, w.subject)
		}
		ev, err := cloudevent.Decode(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Subject != w.name || ev.GlobalAccount != "acme" || m.Header.Get("Nats-Msg-Id") != ev.ID {
			t.Fatalf("event %d: %+v (msg id %q)", i, ev, m.Header.Get("Nats-Msg-Id"))
		}
		for _, n := range needles {
			if strings.Contains(string(m.Data), n) || strings.Contains(fmt.Sprint(m.Header), n) {
				t.Fatalf("event %d carries a secret or its hash", i)
			}
		}
	}
	assertNoSecrets(t, h.rdb, h.prefix, h.secrets)
}

// assertNoSecrets scans every key and value under prefix (strings, hashes,
// sorted sets, sets, lists, streams) for the random part of each secret.
func assertNoSecrets(t testing.TB, rdb *redis.Client, prefix string, secrets []string) {
	t.Helper()
	ctx := context.Background()
	check := func(where, v string) {
		for _, s := range secrets {
			if strings.Contains(v, s[5:48]) {
				t.Fatalf("a token secret is stored in plain text in %s", where)
			}
		}
	}
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	n := 0
	for iter.Next(ctx) {
		k := iter.Val()
		n++
		check("a key name", k)
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "string":
			check(k, rdb.Get(ctx, k).Val())
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				check(k, f+v)
			}
		case "zset":
			for _, m := range rdb.ZRange(ctx, k, 0, -1).Val() {
				check(k, m)
			}
		case "set":
			for _, m := range rdb.SMembers(ctx, k).Val() {
				check(k, m)
			}
		case "list":
			for _, m := range rdb.LRange(ctx, k, 0, -1).Val() {
				check(k, m)
			}
		case "stream":
			for _, m := range rdb.XRange(ctx, k, "-", "+").Val() {
				check(k, fmt.Sprint(m.Values))
			}
		default:
			t.Fatalf("key %s of unexpected type %s", k, typ)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no keys scanned")
	}
}
