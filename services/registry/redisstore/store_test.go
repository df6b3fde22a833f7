package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/registry/catalog"
	"github.com/landscape-dev/landscape/services/registry/redisstore"
	"github.com/landscape-dev/landscape/services/registry/system"
	"github.com/landscape-dev/landscape/services/registry/systempb"
)

// fakeTokens stands in for the token service (tested in its own module);
// the registry's storage is real Redis.
type fakeTokens struct {
	mu       sync.Mutex
	tokens   map[string]*fakeToken // secret -> token
	revoked  []string              // names revoked one by one
	issueErr error
}

type fakeToken struct {
	name, subject, typ string
	used, revoked      bool
}

func newFakeTokens() *fakeTokens { return &fakeTokens{tokens: map[string]*fakeToken{}} }

func (f *fakeTokens) Issue(_ context.Context, subject, typ string, ttl time.Duration, revokePrevious bool) (system.IssuedToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.issueErr != nil {
		return system.IssuedToken{}, f.issueErr
	}
	if revokePrevious {
		for _, t := range f.tokens {
			if t.subject == subject && !t.used {
				t.revoked = true
			}
		}
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	secret := "lsit_" + hex.EncodeToString(b)
	name := subject + "/integrationTokens/" + hex.EncodeToString(b[:6])
	f.tokens[secret] = &fakeToken{name: name, subject: subject, typ: typ}
	now := time.Now()
	return system.IssuedToken{Name: name, Secret: secret, CreateTime: now, ExpireTime: now.Add(ttl)}, nil
}

func (f *fakeTokens) Consume(_ context.Context, secret string) (system.ConsumedToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tokens[secret]
	switch {
	case !ok:
		return system.ConsumedToken{}, apperr.New(apperr.TokenInvalid, "invalid")
	case t.revoked:
		return system.ConsumedToken{}, apperr.New(apperr.TokenRevoked, "revoked")
	case t.used:
		return system.ConsumedToken{}, apperr.New(apperr.TokenAlreadyUsed, "used")
	}
	t.used = true
	return system.ConsumedToken{Name: t.name, Subject: t.subject}, nil
}

func (f *fakeTokens) Revoke(_ context.Context, subject, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.tokens {
		if t.subject == subject && !t.used && (name == "" || t.name == name) {
			t.revoked = true
		}
	}
	if name != "" {
		f.revoked = append(f.revoked, name)
	}
	return nil
}

type env struct {
	rdb    *redis.Client
	prefix string
	store  *redisstore.Store
	svc    *system.Service
	tokens *fakeTokens
	clock  atomic.Int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	rdb, prefix := testkit.Redis(t)
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{rdb: rdb, prefix: prefix, store: redisstore.New(rdb, prefix), tokens: newFakeTokens()}
	e.clock.Store(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).UnixNano())
	// Each call of now advances a microsecond: distinct create times.
	now := func() time.Time { return time.Unix(0, e.clock.Add(1000)).UTC() }
	e.svc = system.NewService(e.store, e.tokens, cat, system.Options{Now: now})
	return e
}

func reasonOf(err error) apperr.Reason {
	if err == nil {
		return ""
	}
	return apperr.ReasonOf(err)
}

func (e *env) register(t *testing.T, ga, name, typ string) *system.System {
	t.Helper()
	reg, err := e.svc.Register(t.Context(), system.RegisterInput{GlobalAccount: ga, DisplayName: name, Type: typ})
	if err != nil {
		t.Fatalf("register %q: %v", name, err)
	}
	return reg.System
}

func TestRegisterGetAndEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	reg, err := e.svc.Register(ctx, system.RegisterInput{GlobalAccount: "acme", SystemID: "sf-prod", DisplayName: "SF prod", Type: "sap-successfactors"})
	if err != nil {
		t.Fatal(err)
	}
	if reg.System.State != system.Pending || reg.System.Revision != 1 || reg.Token.Secret == "" {
		t.Fatalf("registered %+v", reg)
	}
	got, err := e.svc.Get(ctx, "acme", "sf-prod")
	if err != nil || got.DisplayName != "SF prod" || got.Etag() != "1" || !got.CreateTime.Equal(reg.System.CreateTime) {
		t.Fatalf("get: %+v %v", got, err)
	}
	// Same id, same name (other case), unknown type, bad input.
	_, err = e.svc.Register(ctx, system.RegisterInput{GlobalAccount: "acme", SystemID: "sf-prod", DisplayName: "Other", Type: "sap-successfactors"})
	if reasonOf(err) != apperr.SystemIDTaken {
		t.Fatalf("same id: %v", err)
	}
	_, err = e.svc.Register(ctx, system.RegisterInput{GlobalAccount: "acme", DisplayName: "sf PROD", Type: "sap-successfactors"})
	if reasonOf(err) != apperr.SystemNameTaken {
		t.Fatalf("same name: %v", err)
	}
	// Another global account may use the name.
	e.register(t, "other", "SF prod", "sap-successfactors")
	_, err = e.svc.Register(ctx, system.RegisterInput{GlobalAccount: "acme", DisplayName: "X", Type: "sap-nope"})
	if reasonOf(err) != apperr.SystemTypeUnknown {
		t.Fatalf("unknown type: %v", err)
	}
	_, err = e.svc.Register(ctx, system.RegisterInput{GlobalAccount: "acme", SystemID: "Bad_Id", RequestID: "a b", DisplayName: " x", Type: ""})
	ae := apperr.As(err)
	fields := map[string]bool{}
	for _, v := range ae.Violations {
		fields[v.Field] = true
	}
	for _, f := range []string{"systemId", "requestId", "system.displayName", "system.type"} {
		if !fields[f] {
			t.Errorf("no violation on %s: %v", f, err)
		}
	}
	if _, err := e.svc.Get(ctx, "acme", "nope"); reasonOf(err) != apperr.SystemNotFound {
		t.Fatalf("get missing: %v", err)
	}
	// The outbox holds system.created events that never hold a secret.
	entries, err := e.rdb.XRange(ctx, e.store.Outbox().Key(), "-", "+").Result()
	if err != nil || len(entries) != 2 {
		t.Fatalf("outbox: %d entries, %v", len(entries), err)
	}
	ev, err := cloudevent.Decode([]byte(entries[0].Values["b"].(string)))
	if err != nil || ev.Type != "landscape.registry.v1.SystemCreated" || ev.Subject != "globalAccounts/acme/systems/sf-prod" ||
		entries[0].Values["s"] != "landscape.registry.acme.system.created" {
		t.Fatalf("event %+v %v", ev, err)
	}
	if strings.Contains(string(ev.Data), reg.Token.Secret) || !strings.Contains(string(ev.Data), `"revision":"1"`) {
		t.Fatalf("event data %s", ev.Data)
	}
}

func TestRequestIDRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	in := system.RegisterInput{GlobalAccount: "acme", RequestID: "req-1", DisplayName: "C4C", Type: "sap-cloud-for-customer"}
	first, err := e.svc.Register(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	in.DisplayName = "ignored on retry"
	second, err := e.svc.Register(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if second.System.ID != first.System.ID || second.Token.Secret == first.Token.Secret {
		t.Fatalf("retry: %s/%s", first.System.ID, second.System.ID)
	}
	if _, err := e.tokens.Consume(ctx, first.Token.Secret); reasonOf(err) != apperr.TokenRevoked {
		t.Fatalf("first token after retry: %v", err)
	}
	// Concurrent first calls with one request id: one system.
	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range ids {
		wg.Go(func() {
			r, err := e.svc.Register(ctx, system.RegisterInput{GlobalAccount: "acme", RequestID: "req-2", DisplayName: "Same " + strconv.Itoa(i), Type: "sap-s4hana-cloud"})
			if err != nil {
				t.Errorf("concurrent retry: %v", err)
				return
			}
			ids[i] = r.System.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("one request id created several systems: %v", ids)
		}
	}
	// Paired: the retry is refused.
	if _, err := e.svc.Pair(ctx, system.PairInput{Token: second.Token.Secret, SystemType: "sap-cloud-for-customer", BaseURL: "https://c4c.example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Register(ctx, in); reasonOf(err) != apperr.SystemAlreadyRegistered {
		t.Fatalf("retry after pairing: %v", err)
	}
}

func TestPairingLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	reg, err := e.svc.Register(ctx, system.RegisterInput{GlobalAccount: "acme", SystemID: "s4", DisplayName: "S4", Type: "sap-s4hana-cloud"})
	if err != nil {
		t.Fatal(err)
	}
	// Bad input does not burn the token.
	_, err = e.svc.Pair(ctx, system.PairInput{Token: reg.Token.Secret, SystemType: "sap-s4hana-cloud", BaseURL: "not a url"})
	if reasonOf(err) != apperr.InvalidArgument || apperr.As(err).Violations[0].Field != "baseUrl" {
		t.Fatalf("bad url: %v", err)
	}
	if _, err := e.svc.Pair(ctx, system.PairInput{SystemType: "sap-s4hana-cloud", BaseURL: "https://x"}); apperr.As(err).Violations[0].Field != "integrationToken" {
		t.Fatalf("empty token: %v", err)
	}
	// Wrong type: ERROR with a message naming both types.
	_, err = e.svc.Pair(ctx, system.PairInput{Token: reg.Token.Secret, SystemType: "sap-commerce-cloud", BaseURL: "https://x"})
	if reasonOf(err) != apperr.SystemTypeMismatch {
		t.Fatalf("mismatch: %v", err)
	}
	sys, _ := e.svc.Get(ctx, "acme", "s4")
	if sys.State != system.Error || !strings.Contains(sys.StateMessage, "sap-s4hana-cloud") || !strings.Contains(sys.StateMessage, "sap-commerce-cloud") {
		t.Fatalf("after mismatch: %+v", sys)
	}
	if _, err := e.svc.Pair(ctx, system.PairInput{Token: reg.Token.Secret, SystemType: "sap-s4hana-cloud", BaseURL: "https://x"}); reasonOf(err) != apperr.TokenAlreadyUsed {
		t.Fatalf("reuse: %v", err)
	}
	// Get Token: ERROR -> PENDING, then pair.
	tok, err := e.svc.GenerateIntegrationToken(ctx, "acme", "s4")
	if err != nil {
		t.Fatal(err)
	}
	sys, _ = e.svc.Get(ctx, "acme", "s4")
	if sys.State != system.Pending || sys.StateMessage != "" {
		t.Fatalf("after get token: %+v", sys)
	}
	tok2, err := e.svc.GenerateIntegrationToken(ctx, "acme", "s4")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.tokens.Consume(ctx, tok.Secret); reasonOf(err) != apperr.TokenRevoked {
		t.Fatalf("earlier token: %v", err)
	}
	sys, err = e.svc.Pair(ctx, system.PairInput{Token: tok2.Secret, SystemType: "sap-s4hana-cloud", BaseURL: "https://s4.example.com", ExternalID: "ext-1"})
	if err != nil || sys.State != system.Registered || sys.BaseURL != "https://s4.example.com" || sys.RegisterTime.IsZero() {
		t.Fatalf("pair: %+v %v", sys, err)
	}
	if _, err := e.svc.GenerateIntegrationToken(ctx, "acme", "s4"); reasonOf(err) != apperr.SystemAlreadyRegistered {
		t.Fatalf("get token when registered: %v", err)
	}
	// Report failure: cut to 1024 characters.
	reg2 := e.register(t, "acme", "FSM", "sap-field-service-management")
	tok3, _ := e.svc.GenerateIntegrationToken(ctx, "acme", reg2.ID)
	sys, err = e.svc.ReportPairingFailure(ctx, tok3.Secret, strings.Repeat("é", 3000))
	if err != nil || sys.State != system.Error || len([]rune(sys.StateMessage)) != 1024 {
		t.Fatalf("report: %v", err)
	}
	// Events of s4: created, registration_failed, registration_restarted, registered.
	entries, _ := e.rdb.XRange(ctx, e.store.Outbox().Key(), "-", "+").Result()
	var subjects []string
	for _, en := range entries {
		if ev, _ := cloudevent.Decode([]byte(en.Values["b"].(string))); ev.Subject == "globalAccounts/acme/systems/s4" {
			subjects = append(subjects, strings.TrimPrefix(en.Values["s"].(string), "landscape.registry.acme."))
		}
	}
	want := "system.created system.registration_failed system.registration_restarted system.registered"
	if strings.Join(subjects, " ") != want {
		t.Fatalf("events %v, want %s", subjects, want)
	}
}

func TestUpdateAndDeregister(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	a := e.register(t, "acme", "Alpha", "sap-s4hana-cloud")
	e.register(t, "acme", "Beta", "sap-s4hana-cloud")
	up, err := e.svc.Update(ctx, system.UpdateInput{GlobalAccount: "acme", ID: a.ID, DisplayName: "BETA", Paths: []string{"display_name"}})
	if reasonOf(err) != apperr.SystemNameTaken {
		t.Fatalf("update to a taken name: %v %+v", err, up)
	}
	up, err = e.svc.Update(ctx, system.UpdateInput{GlobalAccount: "acme", ID: a.ID, DisplayName: "Gamma", Description: "d", Etag: "1"})
	if err != nil || up.DisplayName != "Gamma" || up.Description != "d" || up.Etag() != "2" {
		t.Fatalf("update: %+v %v", up, err)
	}
	if _, err := e.svc.Update(ctx, system.UpdateInput{GlobalAccount: "acme", ID: a.ID, Description: "x", Etag: "1"}); reasonOf(err) != apperr.EtagMismatch {
		t.Fatalf("stale etag: %v", err)
	}
	if _, err := e.svc.Update(ctx, system.UpdateInput{GlobalAccount: "acme", ID: a.ID, Paths: []string{"colour"}}); reasonOf(err) != apperr.InvalidArgument {
		t.Fatalf("bad mask: %v", err)
	}
	// A mask derived from a whole resource (as the gateway does) updates
	// only what may change.
	up, err = e.svc.Update(ctx, system.UpdateInput{GlobalAccount: "acme", ID: a.ID, Description: "d2",
		Paths: []string{"name", "display_name", "description", "type", "state", "etag", "create_time", "formations"}, DisplayName: "Gamma"})
	if err != nil || up.Description != "d2" || up.Type != "sap-s4hana-cloud" || up.State != system.Pending {
		t.Fatalf("whole-resource update: %+v %v", up, err)
	}
	// The old name is free, the new one taken.
	e.register(t, "acme", "alpha", "sap-s4hana-cloud")
	if _, err := e.svc.Register(ctx, system.RegisterInput{GlobalAccount: "acme", DisplayName: "gamma", Type: "sap-s4hana-cloud"}); reasonOf(err) != apperr.SystemNameTaken {
		t.Fatalf("new name: %v", err)
	}
	// In a formation: refused; out of it: deregistered, name free.
	f := "globalAccounts/acme/formations/f1"
	if err := e.svc.ApplyAssignment(ctx, "acme", a.ID, f, 3, true); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Deregister(ctx, "acme", a.ID); reasonOf(err) != apperr.SystemInFormation {
		t.Fatalf("deregister in formation: %v", err)
	}
	if err := e.svc.ApplyAssignment(ctx, "acme", a.ID, f, 2, false); err != nil { // stale
		t.Fatal(err)
	}
	if s, _ := e.svc.Get(ctx, "acme", a.ID); len(s.Formations) != 1 {
		t.Fatalf("a stale event changed formations: %v", s.Formations)
	}
	if err := e.svc.ApplyAssignment(ctx, "acme", a.ID, f, 4, false); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Deregister(ctx, "acme", a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Get(ctx, "acme", a.ID); reasonOf(err) != apperr.SystemNotFound {
		t.Fatalf("after deregister: %v", err)
	}
	e.register(t, "acme", "Gamma", "sap-s4hana-cloud")
	page, err := e.svc.List(ctx, "acme", 10, "", "")
	if err != nil || len(page.Systems) != 3 {
		t.Fatalf("list after deregister: %d %v", len(page.Systems), err)
	}
}

func TestNameRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	testkit.OneWins(t, "register", 50, func(i int) error {
		name := "Race Name"
		if i%2 == 1 {
			name = "RACE name"
		}
		_, err := e.svc.Register(t.Context(), system.RegisterInput{GlobalAccount: "acme", DisplayName: name, Type: "sap-successfactors"})
		return err
	}, func(err error) bool { return reasonOf(err) == apperr.SystemNameTaken })
	// Every losing call that had issued a token revoked exactly that one.
	e.tokens.mu.Lock()
	defer e.tokens.mu.Unlock()
	unused := 0
	for _, tk := range e.tokens.tokens {
		if !tk.revoked && !tk.used {
			unused++
		}
	}
	if unused != 1 {
		t.Fatalf("%d unused tokens left, want 1", unused)
	}
}

func TestEtagRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.register(t, "acme", "Etag", "sap-successfactors")
	testkit.OneWins(t, "update", 30, func(i int) error {
		_, err := e.svc.Update(t.Context(), system.UpdateInput{GlobalAccount: "acme", ID: a.ID, Description: fmt.Sprint("d", i), Etag: "1"})
		return err
	}, func(err error) bool { return reasonOf(err) == apperr.EtagMismatch })
}

func TestPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	types := []string{"sap-s4hana-cloud", "sap-successfactors", "sap-commerce-cloud"}
	const n = 1000
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			_, err := e.svc.Register(ctx, system.RegisterInput{GlobalAccount: "big", SystemID: fmt.Sprintf("s%04d", i), DisplayName: fmt.Sprintf("System %d", i), Type: types[i%3]})
			if err != nil {
				t.Errorf("register %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	// Move every 7th system to REGISTERED via pairing.
	registered := 0
	e.tokens.mu.Lock()
	var secrets []string
	for s, tk := range e.tokens.tokens {
		var i int
		fmt.Sscanf(tk.subject, "globalAccounts/big/systems/s%d", &i)
		if i%7 == 0 {
			secrets = append(secrets, s)
		}
	}
	e.tokens.mu.Unlock()
	for _, s := range secrets {
		ct, _ := e.tokens.peek(s)
		if _, err := e.svc.Pair(ctx, system.PairInput{Token: s, SystemType: ct, BaseURL: "https://x.example.com"}); err != nil {
			t.Fatal(err)
		}
		registered++
	}
	all := listAll(t, e, 37, "")
	if len(all) != n {
		t.Fatalf("listed %d of %d", len(all), n)
	}
	for i := 1; i < len(all); i++ {
		p, c := all[i-1], all[i]
		if c.CreateTime.Before(p.CreateTime) || (c.CreateTime.Equal(p.CreateTime) && c.ID <= p.ID) {
			t.Fatalf("order broken at %d: %s %s", i, p.ID, c.ID)
		}
	}
	if got := listAll(t, e, 1000, "state = REGISTERED"); len(got) != registered {
		t.Fatalf("REGISTERED: %d, want %d", len(got), registered)
	}
	got := listAll(t, e, 100, `state = PENDING AND type = "sap-commerce-cloud"`)
	want := 0
	for i := range n {
		if i%3 == 2 && i%7 != 0 {
			want++
		}
	}
	if len(got) != want {
		t.Fatalf("PENDING commerce: %d, want %d", len(got), want)
	}
	for _, s := range got {
		if s.State != system.Pending || s.Type != "sap-commerce-cloud" {
			t.Fatalf("filter returned %+v", s)
		}
	}
	// A type alone: the type's systems in every state, in order, in pages
	// that cross the states' sets.
	byType := listAll(t, e, 29, `type = "sap-successfactors"`)
	var wantIDs []string
	for _, s := range all {
		if s.Type == "sap-successfactors" {
			wantIDs = append(wantIDs, s.ID)
		}
	}
	var gotIDs []string
	for _, s := range byType {
		gotIDs = append(gotIDs, s.ID)
	}
	if !slices.Equal(gotIDs, wantIDs) {
		t.Fatalf("type filter: %d systems, want the %d of the full list in its order", len(gotIDs), len(wantIDs))
	}
	// Defaults and bounds.
	p, err := e.svc.List(ctx, "big", 0, "", "")
	if err != nil || len(p.Systems) != 50 || p.NextToken == "" {
		t.Fatalf("default page: %d %v", len(p.Systems), err)
	}
	p, err = e.svc.List(ctx, "big", 5000, "", "")
	if err != nil || len(p.Systems) != 1000 || p.NextToken != "" {
		t.Fatalf("capped page: %d %q %v", len(p.Systems), p.NextToken, err)
	}
	if _, err := e.svc.List(ctx, "big", -1, "", ""); apperr.As(err).Violations[0].Field != "pageSize" {
		t.Fatalf("negative page size: %v", err)
	}
	for _, bad := range []string{"x", "!!!", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		if _, err := e.svc.List(ctx, "big", 5, bad, ""); reasonOf(err) != apperr.InvalidArgument || apperr.As(err).Violations[0].Field != "pageToken" {
			t.Fatalf("page token %q: %v", bad, err)
		}
	}
	if _, err := e.svc.List(ctx, "big", 5, "", "name = x"); apperr.As(err).Violations[0].Field != "filter" {
		t.Fatalf("bad filter: %v", err)
	}
}

func (f *fakeTokens) peek(secret string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tokens[secret]
	if !ok {
		return "", false
	}
	return t.typ, true
}

func listAll(t *testing.T, e *env, size int, filter string) []*system.System {
	t.Helper()
	var all []*system.System
	seen := map[string]bool{}
	token := ""
	for pages := 0; ; pages++ {
		p, err := e.svc.List(t.Context(), "big", size, token, filter)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Systems) > size {
			t.Fatalf("page of %d > %d", len(p.Systems), size)
		}
		for _, s := range p.Systems {
			if seen[s.ID] {
				t.Fatalf("%s listed twice", s.ID)
			}
			seen[s.ID] = true
		}
		all = append(all, p.Systems...)
		if p.NextToken == "" {
			return all
		}
		if pages > 2000 {
			t.Fatal("pagination does not end")
		}
		token = p.NextToken
	}
}

func TestQuotaRefusalCreatesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.tokens.issueErr = apperr.New(apperr.TokenQuotaExceeded, "quota")
	_, err := e.svc.Register(t.Context(), system.RegisterInput{GlobalAccount: "acme", SystemID: "q1", RequestID: "q", DisplayName: "Q", Type: "sap-successfactors"})
	if reasonOf(err) != apperr.TokenQuotaExceeded {
		t.Fatalf("register over quota: %v", err)
	}
	keys, err := e.rdb.Keys(t.Context(), e.prefix+":*").Result()
	if err != nil || len(keys) != 0 {
		t.Fatalf("a refused registration wrote %v (%v)", keys, err)
	}
}

// A record of an earlier version, which stored the system's name in its
// data and all of the data in one field, still reads and lists; the
// records written now leave the name out.
func TestEarlierRecordForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	sys := e.register(t, "ga1", "Earlier", "sap-s4hana-cloud")
	key := e.store.SystemKey("ga1", sys.ID)
	if data := e.rdb.HGet(ctx, key, "data").Val(); strings.Contains(data, sys.Name()) {
		t.Fatalf("the record holds the name %s", sys.Name())
	}
	m := systempb.System(sys)
	m.Etag = ""
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	e.rdb.Del(ctx, key)
	e.rdb.HSet(ctx, key, "rev", sys.Revision, "data", data)
	got, err := e.store.Get(ctx, "ga1", sys.ID)
	if err != nil || got.Name() != sys.Name() || got.DisplayName != "Earlier" || got.Revision != sys.Revision {
		t.Fatalf("earlier record: %+v, %v", got, err)
	}
	page, err := e.store.List(ctx, "ga1", system.Filter{}, 10, "")
	if err != nil || len(page.Systems) != 1 || page.Systems[0].Name() != sys.Name() {
		t.Fatalf("list of an earlier record: %+v, %v", page, err)
	}
}

// TestQuotaCountsEveryState: the quota counts the systems of every state
// (the indexes of the states together hold them all).
func TestQuotaCountsEveryState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	now := time.Now().UTC()
	create := func(id string, st system.State, quota int64) error {
		return e.store.Create(ctx, &system.System{GlobalAccount: "q", ID: id, DisplayName: id, Type: "sap-s4hana-cloud",
			State: st, CreateTime: now, UpdateTime: now, Revision: 1}, "", quota, system.EventCreated)
	}
	for i, st := range []system.State{system.Pending, system.Registered, system.Error} {
		if err := create(fmt.Sprintf("s%d", i), st, 4); err != nil {
			t.Fatalf("%v system under a quota of 4: %v", st, err)
		}
	}
	if err := create("s3", system.Pending, 3); !errors.Is(err, system.ErrQuotaExceeded) {
		t.Fatalf("a 4th system under a quota of 3: %v, want ErrQuotaExceeded", err)
	}
	if err := create("s3", system.Pending, 4); err != nil {
		t.Fatalf("a 4th system under a quota of 4: %v", err)
	}
}
