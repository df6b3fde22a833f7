package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"hash/crc32"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// systemTypes are the six system types of the catalog.
var systemTypes = []string{"sap-s4hana-cloud", "sap-marketing-cloud", "sap-successfactors", "sap-commerce-cloud", "sap-cloud-for-customer", "sap-field-service-management"}

var tokenPattern = regexp.MustCompile(`^lsit_[0-9A-Za-z]{49}$`)

// reasonOf returns the code and the ErrorInfo reason of a gRPC error.
func reasonOf(err error) (codes.Code, string) {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return st.Code(), info.GetReason()
		}
	}
	return st.Code(), ""
}

func wantReason(t testing.TB, what string, err error, code codes.Code, reason string) {
	t.Helper()
	c, r := reasonOf(err)
	if c != code || r != reason {
		t.Fatalf("%s: got %v %s (%v), want %v %s", what, c, r, err, code, reason)
	}
}

// violationField returns the first BadRequest field violation.
func violationField(err error) string {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

const b62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// wellFormedToken builds a token with a valid checksum (docs/API.md, "Integration tokens") that
// was never issued.
func wellFormedToken() string {
	var body [43]byte
	for i := range body {
		n, _ := rand.Int(rand.Reader, big.NewInt(62))
		body[i] = b62[n.Int64()]
	}
	s := "lsit_" + string(body[:])
	sum := crc32.ChecksumIEEE([]byte(s))
	var cs [6]byte
	for i := 5; i >= 0; i-- {
		cs[i] = b62[sum%62]
		sum /= 62
	}
	return s + string(cs[:])
}

// mistype changes one character of the random part (the checksum then fails).
func mistype(tok string) string {
	b := []byte(tok)
	if b[10] == 'a' {
		b[10] = 'b'
	} else {
		b[10] = 'a'
	}
	return string(b)
}

type fixture struct {
	st  *stacktest.Stack
	ctx context.Context // carries an admin JWT of ga
	ga  string
	n   atomic.Int64
	// secrets issued in this test, for the scan of Redis.
	mu      sync.Mutex
	secrets []string
}

func start(t *testing.T, opts stacktest.Options) *fixture {
	t.Helper()
	st := stacktest.Start(t, opts)
	f := &fixture{st: st, ga: "acme"}
	f.ctx = stacktest.Ctx(t.Context(), st.AdminJWT(f.ga))
	return f
}

func (f *fixture) keep(secret string) {
	f.mu.Lock()
	f.secrets = append(f.secrets, secret)
	f.mu.Unlock()
}

func (f *fixture) register(t testing.TB, typ string) *registryv1.RegisterSystemResponse {
	t.Helper()
	res, err := f.st.Registry.RegisterSystem(f.ctx, &registryv1.RegisterSystemRequest{
		Parent: "globalAccounts/" + f.ga,
		System: &registryv1.System{DisplayName: fmt.Sprintf("System %d", f.n.Add(1)), Type: typ},
	})
	if err != nil {
		t.Fatalf("register %s: %v", typ, err)
	}
	f.keep(res.GetIntegrationToken().GetToken())
	return res
}

func (f *fixture) pair(tok, typ string) (*registryv1.System, error) {
	return f.st.Registry.PairSystem(context.Background(), &registryv1.PairSystemRequest{
		IntegrationToken: tok, SystemType: typ, BaseUrl: "https://system.example.com", ExternalId: "ext-1",
	})
}

func (f *fixture) get(t testing.TB, name string) *registryv1.System {
	t.Helper()
	s, err := f.st.Registry.GetSystem(f.ctx, &registryv1.GetSystemRequest{Name: name})
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	return s
}

func TestSeedFlowEveryType(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	types, err := f.st.Registry.ListSystemTypes(stacktest.Ctx(t.Context(), f.st.JWT("acme", "system-landscape-viewer")), &registryv1.ListSystemTypesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(types.GetSystemTypes()) != 6 {
		t.Fatalf("%d system types", len(types.GetSystemTypes()))
	}
	for _, typ := range types.GetSystemTypes() {
		id := strings.TrimPrefix(typ.GetName(), "systemTypes/")
		res := f.register(t, id)
		sys, tok := res.GetSystem(), res.GetIntegrationToken()
		if sys.GetState() != registryv1.System_PENDING || sys.GetEtag() != "1" || sys.GetCreateTime() == nil {
			t.Fatalf("%s: registered %v", id, sys)
		}
		if !tokenPattern.MatchString(tok.GetToken()) || !strings.HasPrefix(tok.GetName(), sys.GetName()+"/integrationTokens/") {
			t.Fatalf("%s: token name %q, format ok=%v", id, tok.GetName(), tokenPattern.MatchString(tok.GetToken()))
		}
		wantTTL := typ.GetTokenTtl().AsDuration()
		if got := tok.GetExpireTime().AsTime().Sub(tok.GetCreateTime().AsTime()); got != wantTTL {
			t.Fatalf("%s: token lifetime %v, want %v", id, got, wantTTL)
		}
		paired, err := f.pair(tok.GetToken(), id)
		if err != nil {
			t.Fatalf("%s: pair: %v", id, err)
		}
		if paired.GetState() != registryv1.System_REGISTERED || paired.GetBaseUrl() != "https://system.example.com" ||
			paired.GetExternalId() != "ext-1" || paired.GetRegisterTime() == nil {
			t.Fatalf("%s: paired %v", id, paired)
		}
		if got := f.get(t, sys.GetName()); got.GetState() != registryv1.System_REGISTERED || got.GetEtag() != "2" {
			t.Fatalf("%s: get after pairing %v", id, got)
		}
	}
	page, err := f.st.Registry.ListSystems(f.ctx, &registryv1.ListSystemsRequest{Parent: "globalAccounts/acme", Filter: "state = REGISTERED", PageSize: 4})
	if err != nil || len(page.GetSystems()) != 4 || page.GetNextPageToken() == "" {
		t.Fatalf("list page 1: %d %v", len(page.GetSystems()), err)
	}
	page, err = f.st.Registry.ListSystems(f.ctx, &registryv1.ListSystemsRequest{Parent: "globalAccounts/acme", Filter: "state = REGISTERED", PageSize: 4, PageToken: page.GetNextPageToken()})
	if err != nil || len(page.GetSystems()) != 2 || page.GetNextPageToken() != "" {
		t.Fatalf("list page 2: %d %v", len(page.GetSystems()), err)
	}
	f.assertNoSecretsAtRest(t)
	f.assertEvents(t, map[string]int{"system.created": 6, "system.registered": 6})
}

// assertEvents waits until the registry's stream holds at least the given
// number of events of each kind for the global account, and checks that
// none holds a token.
func (f *fixture) assertEvents(t *testing.T, want map[string]int) {
	t.Helper()
	ctx := t.Context()
	got := map[string]int{}
	testkit.Eventually(t, 15*time.Second, "registry events on JetStream", func() bool {
		cons, err := f.st.JetStream.OrderedConsumer(ctx, "LANDSCAPE_REGISTRY", jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{"landscape.registry." + f.ga + ".system.>"},
		})
		if err != nil {
			return false
		}
		clear(got)
		batch, err := cons.FetchNoWait(1000)
		if err != nil {
			return false
		}
		for m := range batch.Messages() {
			ev, err := cloudevent.Decode(m.Data())
			if err != nil {
				t.Fatalf("event: %v", err)
			}
			for _, s := range f.secrets {
				if strings.Contains(string(m.Data()), s) {
					t.Fatalf("event %s holds a token", ev.ID)
				}
			}
			if m.Headers().Get("Nats-Msg-Id") != ev.ID {
				t.Fatalf("Nats-Msg-Id %q, CloudEvent id %q", m.Headers().Get("Nats-Msg-Id"), ev.ID)
			}
			got[strings.TrimPrefix(m.Subject(), "landscape.registry."+f.ga+".")]++
		}
		for k, n := range want {
			if got[k] < n {
				return false
			}
		}
		return true
	})
}

func TestTokenReasons(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	typ := "sap-successfactors"

	// Used.
	res := f.register(t, typ)
	if _, err := f.pair(res.GetIntegrationToken().GetToken(), typ); err != nil {
		t.Fatal(err)
	}
	_, err := f.pair(res.GetIntegrationToken().GetToken(), typ)
	wantReason(t, "used token", err, codes.Unauthenticated, "TOKEN_ALREADY_USED")

	// Revoked by Get Token.
	res = f.register(t, typ)
	tok2, err := f.st.Registry.GenerateIntegrationToken(f.ctx, &registryv1.GenerateIntegrationTokenRequest{Name: res.GetSystem().GetName()})
	if err != nil {
		t.Fatal(err)
	}
	f.keep(tok2.GetToken())
	_, err = f.pair(res.GetIntegrationToken().GetToken(), typ)
	wantReason(t, "token revoked by Get Token", err, codes.Unauthenticated, "TOKEN_REVOKED")

	// Revoked by deregistration; the display name is free again.
	_, err = f.st.Registry.DeregisterSystem(f.ctx, &registryv1.DeregisterSystemRequest{Name: res.GetSystem().GetName()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.pair(tok2.GetToken(), typ)
	wantReason(t, "token revoked by deregistration", err, codes.Unauthenticated, "TOKEN_REVOKED")
	if _, err := f.st.Registry.RegisterSystem(f.ctx, &registryv1.RegisterSystemRequest{Parent: "globalAccounts/acme",
		System: &registryv1.System{DisplayName: strings.ToUpper(res.GetSystem().GetDisplayName()), Type: typ}}); err != nil {
		t.Fatalf("register with a freed name: %v", err)
	}

	// Mistyped (bad checksum), unknown (good checksum), malformed.
	res = f.register(t, typ)
	_, err = f.pair(mistype(res.GetIntegrationToken().GetToken()), typ)
	wantReason(t, "mistyped token", err, codes.Unauthenticated, "TOKEN_INVALID")
	_, err = f.pair(wellFormedToken(), typ)
	wantReason(t, "unknown token", err, codes.Unauthenticated, "TOKEN_INVALID")
	_, err = f.pair("hello", typ)
	wantReason(t, "malformed token", err, codes.Unauthenticated, "TOKEN_INVALID")
	_, err = f.pair("", typ)
	wantReason(t, "empty token", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	if violationField(err) != "integrationToken" {
		t.Fatalf("empty token: field %q", violationField(err))
	}
	// Bad input does not use the token up.
	_, err = f.st.Registry.PairSystem(context.Background(), &registryv1.PairSystemRequest{IntegrationToken: res.GetIntegrationToken().GetToken(), SystemType: typ, BaseUrl: "ftp://x"})
	wantReason(t, "bad base URL", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	if violationField(err) != "baseUrl" {
		t.Fatalf("bad base URL: field %q", violationField(err))
	}
	if _, err := f.pair(res.GetIntegrationToken().GetToken(), typ); err != nil {
		t.Fatalf("pair after bad input: %v", err)
	}

	// ReportPairingFailure: uses the token, cut message, ERROR.
	res = f.register(t, typ)
	sys, err := f.st.Registry.ReportPairingFailure(context.Background(), &registryv1.ReportPairingFailureRequest{
		IntegrationToken: res.GetIntegrationToken().GetToken(), Message: strings.Repeat("x", 5000),
	})
	if err != nil || sys.GetState() != registryv1.System_ERROR || len(sys.GetStateMessage()) != 1024 {
		t.Fatalf("report failure: %v %v", sys, err)
	}
	_, err = f.pair(res.GetIntegrationToken().GetToken(), typ)
	wantReason(t, "token used by a failure report", err, codes.Unauthenticated, "TOKEN_ALREADY_USED")
	f.assertNoSecretsAtRest(t)
}

func TestExpiredToken(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{TokenTTL: 300 * time.Millisecond})
	res := f.register(t, "sap-commerce-cloud")
	expire := res.GetIntegrationToken().GetExpireTime().AsTime()
	testkit.Eventually(t, 5*time.Second, "the token's expire time passes", func() bool { return time.Now().After(expire.Add(50 * time.Millisecond)) })
	_, err := f.pair(res.GetIntegrationToken().GetToken(), "sap-commerce-cloud")
	wantReason(t, "expired token", err, codes.Unauthenticated, "TOKEN_EXPIRED")
	if s := f.get(t, res.GetSystem().GetName()); s.GetState() != registryv1.System_PENDING {
		t.Fatalf("an expired token changed the system: %v", s)
	}
}

func TestWrongTypeThenRecovery(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	res := f.register(t, "sap-s4hana-cloud")
	_, err := f.pair(res.GetIntegrationToken().GetToken(), "sap-marketing-cloud")
	wantReason(t, "wrong type", err, codes.FailedPrecondition, "SYSTEM_TYPE_MISMATCH")
	sys := f.get(t, res.GetSystem().GetName())
	if sys.GetState() != registryv1.System_ERROR || !strings.Contains(sys.GetStateMessage(), "sap-s4hana-cloud") || !strings.Contains(sys.GetStateMessage(), "sap-marketing-cloud") {
		t.Fatalf("after mismatch: %v", sys)
	}
	_, err = f.pair(res.GetIntegrationToken().GetToken(), "sap-s4hana-cloud")
	wantReason(t, "token after mismatch", err, codes.Unauthenticated, "TOKEN_ALREADY_USED")
	tok, err := f.st.Registry.GenerateIntegrationToken(f.ctx, &registryv1.GenerateIntegrationTokenRequest{Name: sys.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if s := f.get(t, sys.GetName()); s.GetState() != registryv1.System_PENDING || s.GetStateMessage() != "" {
		t.Fatalf("after Get Token: %v", s)
	}
	paired, err := f.pair(tok.GetToken(), "sap-s4hana-cloud")
	if err != nil || paired.GetState() != registryv1.System_REGISTERED {
		t.Fatalf("pair after recovery: %v %v", paired, err)
	}
	_, err = f.st.Registry.GenerateIntegrationToken(f.ctx, &registryv1.GenerateIntegrationTokenRequest{Name: sys.GetName()})
	wantReason(t, "Get Token when registered", err, codes.FailedPrecondition, "SYSTEM_ALREADY_REGISTERED")
}

func TestOneTokenManyPresenters(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	const rounds, presenters = 100, 100
	for round := range rounds {
		res := f.register(t, "sap-cloud-for-customer")
		testkit.OneWins(t, fmt.Sprintf("round %d: one token, %d presenters", round, presenters), presenters, func(int) error {
			_, err := f.pair(res.GetIntegrationToken().GetToken(), "sap-cloud-for-customer")
			return err
		}, hasReason("TOKEN_ALREADY_USED"))
	}
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	res := f.register(t, "sap-successfactors")
	name := res.GetSystem().GetName()
	other := stacktest.Ctx(t.Context(), f.st.AdminJWT("other"))
	_, err := f.st.Registry.GetSystem(other, &registryv1.GetSystemRequest{Name: name})
	wantReason(t, "other global account", err, codes.PermissionDenied, "PERMISSION_DENIED")
	_, err = f.st.Registry.GetSystem(other, &registryv1.GetSystemRequest{Name: "globalAccounts/acme/systems/nope"})
	wantReason(t, "other global account, missing system", err, codes.PermissionDenied, "PERMISSION_DENIED")
	viewer := stacktest.Ctx(t.Context(), f.st.JWT("acme", "system-landscape-viewer"))
	if _, err := f.st.Registry.GetSystem(viewer, &registryv1.GetSystemRequest{Name: name}); err != nil {
		t.Fatalf("viewer get: %v", err)
	}
	_, err = f.st.Registry.GenerateIntegrationToken(viewer, &registryv1.GenerateIntegrationTokenRequest{Name: name})
	wantReason(t, "viewer writes", err, codes.PermissionDenied, "PERMISSION_DENIED")
	_, err = f.st.Registry.GetSystem(t.Context(), &registryv1.GetSystemRequest{Name: name})
	wantReason(t, "no JWT", err, codes.Unauthenticated, "UNAUTHENTICATED")
	_, err = f.st.Registry.GetSystem(f.ctx, &registryv1.GetSystemRequest{Name: "globalAccounts/acme/systems/nope"})
	wantReason(t, "missing system", err, codes.NotFound, "SYSTEM_NOT_FOUND")
	_, err = f.st.Registry.RegisterSystem(f.ctx, &registryv1.RegisterSystemRequest{Parent: "globalAccounts/acme", System: &registryv1.System{DisplayName: "X", Type: "sap-nope"}})
	wantReason(t, "unknown type", err, codes.InvalidArgument, "SYSTEM_TYPE_UNKNOWN")
	_, err = f.st.Registry.ListSystems(f.ctx, &registryv1.ListSystemsRequest{Parent: "globalAccounts/acme", Filter: "state = NOPE"})
	wantReason(t, "bad filter", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	if violationField(err) != "filter" {
		t.Fatalf("bad filter field %q", violationField(err))
	}
	// Update with a mask in either spelling, and a stale etag.
	up, err := f.st.Registry.UpdateSystem(f.ctx, &registryv1.UpdateSystemRequest{
		System:     &registryv1.System{Name: name, DisplayName: "Renamed", Etag: "1", State: registryv1.System_REGISTERED},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	})
	if err != nil || up.GetDisplayName() != "Renamed" || up.GetEtag() != "2" || up.GetState() != registryv1.System_PENDING {
		t.Fatalf("update: %v %v", up, err)
	}
	_, err = f.st.Registry.UpdateSystem(f.ctx, &registryv1.UpdateSystemRequest{
		System:     &registryv1.System{Name: name, Description: "x", Etag: "1"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}},
	})
	wantReason(t, "stale etag", err, codes.Aborted, "ETAG_MISMATCH")
}

func TestDeregisterRefusedInFormation(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	res := f.register(t, "sap-commerce-cloud") // may join before pairing
	name := res.GetSystem().GetName()
	form, err := f.st.Formation.CreateFormation(f.ctx, &formationv1.CreateFormationRequest{
		Parent:    "globalAccounts/acme",
		Formation: &formationv1.Formation{DisplayName: "Extensions", FormationType: "side-by-side-extensibility-with-kyma"},
	})
	if err != nil {
		t.Fatalf("create formation: %v", err)
	}
	if _, err := f.st.Formation.AssignSystem(f.ctx, &formationv1.AssignSystemRequest{Name: form.GetName(), System: name}); err != nil {
		t.Fatalf("assign: %v", err)
	}
	testkit.Eventually(t, 15*time.Second, "the system lists its formation", func() bool {
		return len(f.get(t, name).GetFormations()) == 1
	})
	if got := f.get(t, name).GetFormations()[0]; got != form.GetName() {
		t.Fatalf("formations = [%s]", got)
	}
	_, err = f.st.Registry.DeregisterSystem(f.ctx, &registryv1.DeregisterSystemRequest{Name: name})
	wantReason(t, "deregister in a formation", err, codes.FailedPrecondition, "SYSTEM_IN_FORMATION")
	if _, err := f.st.Formation.UnassignSystem(f.ctx, &formationv1.UnassignSystemRequest{Name: form.GetName(), System: name}); err != nil {
		t.Fatalf("unassign: %v", err)
	}
	testkit.Eventually(t, 15*time.Second, "the system leaves its formation", func() bool {
		return len(f.get(t, name).GetFormations()) == 0
	})
	if _, err := f.st.Registry.DeregisterSystem(f.ctx, &registryv1.DeregisterSystemRequest{Name: name}); err != nil {
		t.Fatalf("deregister: %v", err)
	}
	_, err = f.pair(res.GetIntegrationToken().GetToken(), "sap-commerce-cloud")
	wantReason(t, "token of a deregistered system", err, codes.Unauthenticated, "TOKEN_REVOKED")
}

// assertNoSecretsAtRest scans every key under the test's prefix (strings,
// hashes, lists, sets, sorted sets, streams) for any issued token secret or
// its random part.
func (f *fixture) assertNoSecretsAtRest(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	secrets := append([]string(nil), f.secrets...)
	f.mu.Unlock()
	if len(secrets) == 0 {
		t.Fatal("no secrets to look for")
	}
	ctx := t.Context()
	rdb := f.st.Redis
	var keys []string
	iter := rdb.Scan(ctx, 0, f.st.KeyPrefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("no keys under the prefix")
	}
	check := func(key, what string) {
		for _, s := range secrets {
			if strings.Contains(what, s) || strings.Contains(what, s[5:48]) {
				t.Fatalf("key %s holds a token in plain text", key)
			}
		}
	}
	for _, k := range keys {
		check(k, k)
		_, vals, err := redisValues(ctx, rdb, k)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			check(k, v)
		}
	}
}

func TestRegisterRetriesAndRaces(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	req := &registryv1.RegisterSystemRequest{
		Parent:    "globalAccounts/acme",
		RequestId: "Retry-1",
		SystemId:  "c4c-prod",
		System:    &registryv1.System{DisplayName: "C4C prod", Type: "sap-cloud-for-customer", Name: "ignored", State: registryv1.System_REGISTERED},
	}
	first, err := f.st.Registry.RegisterSystem(f.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if first.GetSystem().GetName() != "globalAccounts/acme/systems/c4c-prod" || first.GetSystem().GetState() != registryv1.System_PENDING {
		t.Fatalf("output-only fields were not ignored: %v", first.GetSystem())
	}
	second, err := f.st.Registry.RegisterSystem(f.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	f.keep(first.GetIntegrationToken().GetToken())
	f.keep(second.GetIntegrationToken().GetToken())
	if second.GetSystem().GetName() != first.GetSystem().GetName() || second.GetIntegrationToken().GetToken() == first.GetIntegrationToken().GetToken() {
		t.Fatalf("retry: %v", second)
	}
	_, err = f.pair(first.GetIntegrationToken().GetToken(), "sap-cloud-for-customer")
	wantReason(t, "token of the first call after a retry", err, codes.Unauthenticated, "TOKEN_REVOKED")
	// Same id without the request id: taken.
	req.RequestId = ""
	req.System.DisplayName = "Other"
	_, err = f.st.Registry.RegisterSystem(f.ctx, req)
	wantReason(t, "taken id", err, codes.AlreadyExists, "SYSTEM_ID_TAKEN")
	req.SystemId = "Not_An_Id"
	_, err = f.st.Registry.RegisterSystem(f.ctx, req)
	wantReason(t, "bad id", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	if violationField(err) != "systemId" {
		t.Fatalf("bad id field %q", violationField(err))
	}
	// 50 concurrent registrations of one display name: exactly one wins.
	f.keep(f.registerRace(t, "one display name", 50, "SYSTEM_NAME_TAKEN", func(i int) *registryv1.RegisterSystemRequest {
		name := "Contested"
		if i%2 == 0 {
			name = "CONTESTED"
		}
		return &registryv1.RegisterSystemRequest{
			Parent: "globalAccounts/acme", System: &registryv1.System{DisplayName: name, Type: "sap-successfactors"},
		}
	}))
	f.assertNoSecretsAtRest(t)
}

// registerRace sends n registrations at once, the i-th req(i): exactly
// one may win, every other is refused with reason taken. It returns the
// winner's token.
func (f *fixture) registerRace(t *testing.T, what string, n int, taken string, req func(i int) *registryv1.RegisterSystemRequest) string {
	t.Helper()
	var (
		mu     sync.Mutex
		winner string
	)
	testkit.OneWins(t, what, n, func(i int) error {
		res, err := f.st.Registry.RegisterSystem(f.ctx, req(i))
		if err == nil {
			mu.Lock()
			winner = res.GetIntegrationToken().GetToken()
			mu.Unlock()
		}
		return err
	}, hasReason(taken))
	return winner
}

// hasReason tells whether an error carries the ErrorInfo reason.
func hasReason(reason string) func(error) bool {
	return func(err error) bool {
		_, r := reasonOf(err)
		return r == reason
	}
}

func TestUpdateThroughGateway(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	res := f.register(t, "sap-successfactors")
	name := res.GetSystem().GetName()
	patch := func(query, body string) (int, string) {
		r := httpCall(t, f.st.HTTP, http.MethodPatch, f.st.BaseURL+"/v1/"+name+query, f.st.AdminJWT("acme"), body)
		return r.Status, string(r.Body)
	}
	// The whole resource sent back, no updateMask: only the display name changes.
	code, body := patch("", `{"name":"`+name+`","displayName":"SF renamed","type":"sap-successfactors","state":"REGISTERED","etag":"1"}`)
	if code != http.StatusOK || !strings.Contains(body, `"displayName":"SF renamed"`) || !strings.Contains(body, `"state":"PENDING"`) || !strings.Contains(body, `"etag":"2"`) {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	code, body = patch("?updateMask=description", `{"description":"d","etag":"1"}`)
	if code != http.StatusConflict || !strings.Contains(body, "ETAG_MISMATCH") {
		t.Fatalf("stale etag: %d %s", code, body)
	}
	code, body = patch("?updateMask=displayName", `{"displayName":" bad"}`)
	if code != http.StatusBadRequest || !strings.Contains(body, "system.displayName") {
		t.Fatalf("bad display name: %d %s", code, body)
	}
}

// Concurrent registrations of one caller-chosen id: one wins, and the
// losers revoke only the token they issued, never the winner's.
func TestSameIDRaceKeepsWinnersToken(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	for round := range 5 {
		id := fmt.Sprintf("contested-%d", round)
		winner := f.registerRace(t, fmt.Sprintf("round %d", round), 20, "SYSTEM_ID_TAKEN", func(i int) *registryv1.RegisterSystemRequest {
			return &registryv1.RegisterSystemRequest{
				Parent: "globalAccounts/acme", SystemId: id,
				System: &registryv1.System{DisplayName: fmt.Sprintf("Contested %d-%d", round, i), Type: "sap-commerce-cloud"},
			}
		})
		f.keep(winner)
		if _, err := f.pair(winner, "sap-commerce-cloud"); err != nil {
			t.Fatalf("round %d: the winner's token: %v", round, err)
		}
	}
}
