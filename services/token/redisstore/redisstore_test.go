package redisstore_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/token/redisstore"
	"github.com/landscape-dev/landscape/services/token/tokens"
)

type env struct {
	rdb     *redis.Client
	prefix  string
	clock   *testkit.Clock
	store   *redisstore.Store
	svc     *tokens.Service
	mu      sync.Mutex
	secrets []string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	rdb, prefix := testkit.Redis(t)
	c := testkit.NewClock(time.Now())
	st := redisstore.New(rdb, prefix, c.Now)
	e := &env{rdb: rdb, prefix: prefix, clock: c, store: st, svc: tokens.NewService(st, c.Now)}
	return e
}

const sys1 = "globalAccounts/acme/systems/s1"

func (e *env) issue(t testing.TB, subject, typ string, ttl time.Duration, revokePrevious bool) tokens.Issued {
	t.Helper()
	is, err := e.svc.Issue(t.Context(), tokens.IssueRequest{Subject: subject, SystemType: typ, TTL: ttl, RevokePrevious: revokePrevious})
	if err != nil {
		t.Fatalf("issue: %v", err)
	}
	e.mu.Lock()
	e.secrets = append(e.secrets, is.Secret)
	e.mu.Unlock()
	return is
}

func wantReason(t testing.TB, err error, want apperr.Reason) {
	t.Helper()
	if got := apperr.ReasonOf(err); got != want {
		t.Fatalf("reason %s (%v), want %s", got, err, want)
	}
}

// assertNoSecrets scans every key and value under the test's prefix and
// fails if any secret issued in the test (or its random part) shows.
func (e *env) assertNoSecrets(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	var needles [][]byte
	for _, s := range e.secrets {
		needles = append(needles, []byte(s[len(tokens.SecretPrefix):len(tokens.SecretPrefix)+tokens.RandomLen]))
	}
	check := func(where string, b []byte) {
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Fatalf("a token secret is stored in plain text in %s", where)
			}
		}
	}
	keys := 0
	iter := e.rdb.Scan(ctx, 0, e.prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		keys++
		check("key name "+k, []byte(k))
		typ := e.rdb.Type(ctx, k).Val()
		switch typ {
		case "string":
			check(k, []byte(e.rdb.Get(ctx, k).Val()))
		case "hash":
			for f, v := range e.rdb.HGetAll(ctx, k).Val() {
				check(k+" field "+f, []byte(f+v))
			}
		case "zset":
			for _, z := range e.rdb.ZRangeWithScores(ctx, k, 0, -1).Val() {
				check(k+" member", []byte(fmt.Sprint(z.Member)))
			}
		case "stream":
			for _, m := range e.rdb.XRange(ctx, k, "-", "+").Val() {
				for f, v := range m.Values {
					check(k+" entry "+f, []byte(fmt.Sprint(v)))
				}
			}
		case "set":
			for _, m := range e.rdb.SMembers(ctx, k).Val() {
				check(k+" member", []byte(m))
			}
		case "list":
			for _, m := range e.rdb.LRange(ctx, k, 0, -1).Val() {
				check(k+" element", []byte(m))
			}
		default:
			t.Fatalf("unexpected key type %s at %s", typ, k)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if len(e.secrets) > 0 && keys == 0 {
		t.Fatal("no keys scanned")
	}
}

// events decodes the outbox stream.
func (e *env) events(t testing.TB) []cloudevent.Event {
	t.Helper()
	var out []cloudevent.Event
	for _, m := range e.rdb.XRange(context.Background(), e.store.Outbox().Key(), "-", "+").Val() {
		ev, err := cloudevent.Decode([]byte(fmt.Sprint(m.Values["b"])))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func TestIssueAndConsume(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	is := e.issue(t, sys1, "sap-successfactors", 7*24*time.Hour, false)
	tok := is.Token
	if !strings.HasPrefix(tok.Name, sys1+"/integrationTokens/") || tok.GlobalAccount != "acme" ||
		tok.SystemType != "sap-successfactors" || tok.State != tokens.StateUnused || tok.Revision != 1 ||
		tok.ExpireTime.Sub(tok.CreateTime) != 7*24*time.Hour {
		t.Fatalf("issued %+v", tok)
	}
	if err := tokens.CheckSecret(is.Secret); err != nil {
		t.Fatal(err)
	}
	// At rest: the record under the hash, expiring a day after the token.
	rk := e.prefix + ":token:hash:" + tokens.HashSecret(is.Secret)
	if ttl := e.rdb.PTTL(ctx, rk).Val(); ttl < 7*24*time.Hour+23*time.Hour || ttl > 8*24*time.Hour+time.Minute {
		t.Fatalf("record TTL %v", ttl)
	}

	got, err := e.svc.Consume(ctx, is.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != tok.Name || got.Subject != sys1 || got.GlobalAccount != "acme" || got.SystemType != "sap-successfactors" ||
		got.State != tokens.StateConsumed || got.Revision != 2 || got.EndTime.IsZero() {
		t.Fatalf("consumed %+v", got)
	}
	_, err = e.svc.Consume(ctx, is.Secret)
	wantReason(t, err, apperr.TokenAlreadyUsed)

	evs := e.events(t)
	if len(evs) != 2 || evs[0].Type != "landscape.token.v1.TokenIssued" || evs[1].Type != "landscape.token.v1.TokenConsumed" {
		t.Fatalf("events %+v", evs)
	}
	var issued tokenv1.TokenIssued
	if err := evs[0].UnmarshalData(&issued); err != nil || issued.GetRevision() != 1 || issued.GetToken().GetName() != tok.Name {
		t.Fatalf("issued event %v %v", &issued, err)
	}
	var consumed tokenv1.TokenConsumed
	if err := evs[1].UnmarshalData(&consumed); err != nil || consumed.GetRevision() != 2 ||
		consumed.GetToken().GetState() != tokenv1.Token_CONSUMED {
		t.Fatalf("consumed event %v %v", &consumed, err)
	}
	if evs[1].Subject != tok.Name || evs[1].GlobalAccount != "acme" || evs[1].Source != "/landscape/token" {
		t.Fatalf("envelope %+v", evs[1])
	}
	e.assertNoSecrets(t)
}

func TestConsumeReasons(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()

	// Unknown: well-formed, never issued.
	unknown, _ := tokens.NewSecret(nil)
	_, err := e.svc.Consume(ctx, unknown)
	wantReason(t, err, apperr.TokenInvalid)

	// Mistyped: one character changed, so the checksum fails.
	is := e.issue(t, sys1, "sap-commerce-cloud", 10*time.Minute, false)
	b := []byte(is.Secret)
	b[10] ^= 1
	if b[10] == '0'^1 || !strings.ContainsRune("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", rune(b[10])) {
		b[10] = 'A' + (is.Secret[10]-'A'+1)%26
	}
	_, err = e.svc.Consume(ctx, string(b))
	wantReason(t, err, apperr.TokenInvalid)

	// The original is still fine.
	if _, err := e.svc.Consume(ctx, is.Secret); err != nil {
		t.Fatal(err)
	}

	// Empty.
	_, err = e.svc.Consume(ctx, "")
	wantReason(t, err, apperr.InvalidArgument)

	// Expired: one millisecond past the expire time, and still after a day
	// (the record outlives its token by the retention).
	exp := e.issue(t, "globalAccounts/acme/systems/s2", "sap-commerce-cloud", time.Second, false)
	e.clock.Advance(time.Second)
	_, err = e.svc.Consume(ctx, exp.Secret)
	wantReason(t, err, apperr.TokenExpired)
	e.clock.Advance(23 * time.Hour)
	_, err = e.svc.Consume(ctx, exp.Secret)
	wantReason(t, err, apperr.TokenExpired)

	// Revoked.
	rv := e.issue(t, "globalAccounts/acme/systems/s3", "sap-commerce-cloud", time.Hour, false)
	n, err := e.svc.Revoke(ctx, "globalAccounts/acme/systems/s3", "")
	if err != nil || n != 1 {
		t.Fatalf("revoke: %d %v", n, err)
	}
	_, err = e.svc.Consume(ctx, rv.Secret)
	wantReason(t, err, apperr.TokenRevoked)

	e.assertNoSecrets(t)
}

// The Lua step refuses an expired token even when the Go-side check saw it
// valid: the clock passes the expire time between the two.
func TestConsumeExpiryCheckedInStep(t *testing.T) {
	t.Parallel()
	rdb, prefix := testkit.Redis(t)
	base := time.Now()
	st := redisstore.New(rdb, prefix, func() time.Time { return base })
	is, err := tokens.NewService(st, func() time.Time { return base }).Issue(t.Context(),
		tokens.IssueRequest{Subject: sys1, SystemType: "sap-s4hana-cloud", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// The store reads the clock once for the Go check (still valid), then
	// once for the step (an hour later): the step must refuse.
	seq := &seqClock{times: []time.Time{base, base.Add(time.Hour)}}
	_, err = tokens.NewService(redisstore.New(rdb, prefix, seq.Now), seq.Now).Consume(t.Context(), is.Secret)
	wantReason(t, err, apperr.TokenExpired)
	state, _ := rdb.HGet(t.Context(), prefix+":token:hash:"+tokens.HashSecret(is.Secret), "state").Result()
	if state != "UNUSED" {
		t.Fatalf("state %q after a refused consume", state)
	}
}

// Records expire Retention after their token: until then TOKEN_EXPIRED,
// after that TOKEN_INVALID (the key is gone). Real time: Redis expires keys
// by its own clock.
func TestRecordRetention(t *testing.T) {
	t.Parallel()
	rdb, prefix := testkit.Redis(t)
	// Long enough that a loaded machine still reads the TTL before it runs out.
	st := redisstore.New(rdb, prefix, nil).WithRetention(time.Second)
	svc := tokens.NewService(st, nil)
	is, err := svc.Issue(t.Context(), tokens.IssueRequest{Subject: sys1, SystemType: "sap-s4hana-cloud", TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sysKey := prefix + ":token:{acme}:unused:system:s1"
	if ttl := rdb.PTTL(t.Context(), sysKey).Val(); ttl <= 0 || ttl > 3*time.Second {
		t.Fatalf("system index TTL %v", ttl)
	}
	testkit.Eventually(t, 5*time.Second, "the token's expire time", func() bool {
		return time.Now().After(is.Token.ExpireTime)
	})
	_, err = svc.Consume(t.Context(), is.Secret)
	if r := apperr.ReasonOf(err); r != apperr.TokenExpired && r != apperr.TokenInvalid {
		t.Fatalf("after expiry: %v", err) // INVALID only if the 1 s retention passed already
	}
	testkit.Eventually(t, 5*time.Second, "TOKEN_INVALID after the retention", func() bool {
		_, err := svc.Consume(t.Context(), is.Secret)
		return apperr.ReasonOf(err) == apperr.TokenInvalid
	})
	testkit.Eventually(t, 5*time.Second, "every key of the token gone", func() bool {
		keys, _ := rdb.Keys(t.Context(), prefix+":token:*").Result()
		for _, k := range keys {
			if k != prefix+":token:outbox" {
				return false
			}
		}
		return true
	})
}

// seqClock returns its times in turn, then the last one forever.
type seqClock struct {
	mu    sync.Mutex
	times []time.Time
}

func (c *seqClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.times[0]
	if len(c.times) > 1 {
		c.times = c.times[1:]
	}
	return t
}

func TestIssueValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []struct {
		req   tokens.IssueRequest
		field string
	}{
		{tokens.IssueRequest{Subject: "acme/s1", SystemType: "sap-s4hana-cloud", TTL: time.Hour}, "subject"},
		{tokens.IssueRequest{Subject: "globalAccounts/acme/formations/f", SystemType: "sap-s4hana-cloud", TTL: time.Hour}, "subject"},
		{tokens.IssueRequest{Subject: sys1, SystemType: "", TTL: time.Hour}, "systemType"},
		{tokens.IssueRequest{Subject: sys1, SystemType: "SAP", TTL: time.Hour}, "systemType"},
		{tokens.IssueRequest{Subject: sys1, SystemType: "sap-s4hana-cloud"}, "ttl"},
		{tokens.IssueRequest{Subject: sys1, SystemType: "sap-s4hana-cloud", TTL: -time.Second}, "ttl"},
	}
	for _, c := range cases {
		_, err := e.svc.Issue(t.Context(), c.req)
		ae := apperr.As(err)
		if ae.Reason != apperr.InvalidArgument || len(ae.Violations) == 0 || ae.Violations[0].Field != c.field {
			t.Errorf("%+v: %v", c.req, err)
		}
	}
	_, err := e.svc.Revoke(t.Context(), "nope", "")
	wantReason(t, err, apperr.InvalidArgument)
	_, err = e.svc.Revoke(t.Context(), sys1, "globalAccounts/acme/systems/s2/integrationTokens/k")
	wantReason(t, err, apperr.InvalidArgument)
	if n, _ := e.rdb.DBSize(t.Context()).Result(); n < 0 {
		t.Fatal()
	}
	if keys, _ := e.rdb.Keys(t.Context(), e.prefix+"*").Result(); len(keys) != 0 {
		t.Fatalf("refused requests wrote %v", keys)
	}
}

func TestRevokePrevious(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	a := e.issue(t, sys1, "sap-s4hana-cloud", time.Hour, false)
	b := e.issue(t, sys1, "sap-s4hana-cloud", time.Hour, false)
	used := e.issue(t, sys1, "sap-s4hana-cloud", time.Hour, false)
	if _, err := e.svc.Consume(ctx, used.Secret); err != nil {
		t.Fatal(err)
	}
	other := e.issue(t, "globalAccounts/acme/systems/s2", "sap-s4hana-cloud", time.Hour, false)
	c := e.issue(t, sys1, "sap-s4hana-cloud", time.Hour, true)

	for _, s := range []string{a.Secret, b.Secret} {
		_, err := e.svc.Consume(ctx, s)
		wantReason(t, err, apperr.TokenRevoked)
	}
	_, err := e.svc.Consume(ctx, used.Secret)
	wantReason(t, err, apperr.TokenAlreadyUsed)
	if _, err := e.svc.Consume(ctx, other.Secret); err != nil {
		t.Fatalf("another system's token: %v", err)
	}
	if _, err := e.svc.Consume(ctx, c.Secret); err != nil {
		t.Fatalf("new token: %v", err)
	}
	revoked := 0
	for _, ev := range e.events(t) {
		if ev.Type == "landscape.token.v1.TokenRevoked" {
			var p tokenv1.TokenRevoked
			if err := ev.UnmarshalData(&p); err != nil || p.GetRevision() != 2 || p.GetToken().GetState() != tokenv1.Token_REVOKED {
				t.Fatalf("revoked event %v %v", &p, err)
			}
			if ev.Subject != a.Token.Name && ev.Subject != b.Token.Name {
				t.Fatalf("revoked event for %s", ev.Subject)
			}
			revoked++
		}
	}
	if revoked != 2 {
		t.Fatalf("%d token.revoked events, want 2", revoked)
	}
	e.assertNoSecrets(t)
}

func TestRevokeTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	a := e.issue(t, sys1, "sap-s4hana-cloud", time.Hour, false)
	b := e.issue(t, sys1, "sap-s4hana-cloud", time.Hour, false)
	c := e.issue(t, sys1, "sap-s4hana-cloud", time.Hour, false)
	// One by name.
	n, err := e.svc.Revoke(ctx, sys1, b.Token.Name)
	if err != nil || n != 1 {
		t.Fatalf("revoke by name: %d %v", n, err)
	}
	n, err = e.svc.Revoke(ctx, sys1, b.Token.Name)
	if err != nil || n != 0 {
		t.Fatalf("revoke by name again: %d %v", n, err)
	}
	if _, err := e.svc.Consume(ctx, c.Secret); err != nil {
		t.Fatal(err)
	}
	n, err = e.svc.Revoke(ctx, sys1, "")
	if err != nil || n != 1 {
		t.Fatalf("revoke all: %d %v", n, err)
	}
	_, err = e.svc.Consume(ctx, a.Secret)
	wantReason(t, err, apperr.TokenRevoked)
	if n, err = e.svc.Revoke(ctx, "globalAccounts/acme/systems/none", ""); err != nil || n != 0 {
		t.Fatalf("revoke none: %d %v", n, err)
	}
	// An expired token is not revoked: it keeps answering TOKEN_EXPIRED.
	d := e.issue(t, sys1, "sap-s4hana-cloud", time.Second, false)
	e.clock.Advance(2 * time.Second)
	if n, err = e.svc.Revoke(ctx, sys1, ""); err != nil || n != 0 {
		t.Fatalf("revoke expired: %d %v", n, err)
	}
	_, err = e.svc.Consume(ctx, d.Secret)
	wantReason(t, err, apperr.TokenExpired)
}

func TestQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	const typ = "sap-cloud-for-customer"
	sys := func(i int) string { return fmt.Sprintf("globalAccounts/acme/systems/s%d", i) }
	all := make([]tokens.Issued, tokens.QuotaPerType)
	for i := range all {
		all[i] = e.issue(t, sys(i), typ, time.Hour, false)
	}
	refused := func() {
		t.Helper()
		_, err := e.svc.Issue(ctx, tokens.IssueRequest{Subject: sys(5000), SystemType: typ, TTL: time.Hour})
		wantReason(t, err, apperr.TokenQuotaExceeded)
	}
	refused()
	// Other types and other global accounts have their own quota.
	e.issue(t, sys(5000), "sap-s4hana-cloud", time.Hour, false)
	e.issue(t, "globalAccounts/other/systems/s1", typ, time.Hour, false)
	// Replacing a system's token (revoke_previous) is allowed at the quota:
	// the revoked token frees its place in the same step.
	e.issue(t, sys(0), typ, time.Hour, true)
	refused()
	_, err := e.svc.Consume(ctx, all[0].Secret)
	wantReason(t, err, apperr.TokenRevoked)
	// A consumed token frees its place.
	if _, err := e.svc.Consume(ctx, all[1].Secret); err != nil {
		t.Fatal(err)
	}
	e.issue(t, sys(5000), typ, time.Hour, false)
	refused()
	// So does a revoked one.
	if n, err := e.svc.Revoke(ctx, sys(2), ""); err != nil || n != 1 {
		t.Fatalf("revoke: %d %v", n, err)
	}
	e.issue(t, sys(5000), typ, time.Hour, false)
	refused()
	// Expired tokens do not count, and the next issue trims them.
	e.clock.Advance(time.Hour)
	e.issue(t, sys(5000), typ, time.Hour, false)
	if n := e.rdb.ZCard(ctx, e.prefix+":token:{acme}:unused:type:"+typ).Val(); n != 1 {
		t.Fatalf("quota index holds %d members after the trim, want 1", n)
	}
}

// Of 100 concurrent presentations of one token exactly one succeeds; 100 rounds.
func TestConcurrentConsume(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	const rounds, workers = 100, 100
	for r := range rounds {
		is := e.issue(t, fmt.Sprintf("globalAccounts/acme/systems/c%d", r), "sap-s4hana-cloud", time.Hour, false)
		testkit.OneWins(t, fmt.Sprintf("round %d", r), workers, func(int) error {
			_, err := e.svc.Consume(ctx, is.Secret)
			return err
		}, func(err error) bool { return apperr.ReasonOf(err) == apperr.TokenAlreadyUsed })
	}
	consumed := 0
	for _, ev := range e.events(t) {
		if ev.Type == "landscape.token.v1.TokenConsumed" {
			consumed++
		}
	}
	if consumed != rounds {
		t.Fatalf("%d token.consumed events, want %d", consumed, rounds)
	}
	e.assertNoSecrets(t)
}

// Concurrent issues with revoke_previous leave exactly one unused token.
func TestConcurrentRevokePrevious(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var wg sync.WaitGroup
	issued := make([]tokens.Issued, 20)
	errs := make([]error, len(issued))
	for i := range issued {
		wg.Go(func() {
			issued[i], errs[i] = e.svc.Issue(t.Context(), tokens.IssueRequest{
				Subject: sys1, SystemType: "sap-s4hana-cloud", TTL: time.Hour, RevokePrevious: true})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ok := 0
	for _, is := range issued {
		if _, err := e.svc.Consume(t.Context(), is.Secret); err == nil {
			ok++
		} else {
			wantReason(t, err, apperr.TokenRevoked)
		}
	}
	if ok != 1 {
		t.Fatalf("%d tokens usable, want 1", ok)
	}
}

func TestRedisDown(t *testing.T) {
	t.Parallel()
	port, err := testkit.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	svc := tokens.NewService(redisstore.New(rdb, "down", nil), nil)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err = svc.Issue(ctx, tokens.IssueRequest{Subject: sys1, SystemType: "sap-s4hana-cloud", TTL: time.Hour})
	wantReason(t, err, apperr.Unavailable)
	s, _ := tokens.NewSecret(nil)
	_, err = svc.Consume(ctx, s)
	wantReason(t, err, apperr.Unavailable)
	_, err = svc.Revoke(ctx, sys1, "")
	wantReason(t, err, apperr.Unavailable)
}
