package auditstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/registry/audit"
	"github.com/landscape-dev/landscape/services/registry/auditstore"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	rdb    *redis.Client
	prefix string
	store  *auditstore.Store
	svc    *audit.Service
	clock  *testkit.Clock
}

func newEnv(t testing.TB, retention time.Duration) *env {
	t.Helper()
	rdb, prefix := testkit.Redis(t)
	c := testkit.NewClock(t0)
	store := auditstore.New(rdb, prefix)
	return &env{rdb: rdb, prefix: prefix, store: store, clock: c,
		svc: audit.NewService(store, audit.Options{Retention: retention, Now: c.Now})}
}

// entry is the i-th test entry at time at.
func entry(ga string, i int, at time.Time, subject, actor, typ string) audit.Entry {
	return audit.Entry{
		ID: cloudevent.NewID(at), GlobalAccount: ga, Time: at, Type: typ, Subject: subject, Actor: actor,
		Revision: int64(i + 1), Resource: json.RawMessage(fmt.Sprintf(`{"name":%q,"n":%d}`, subject, i)),
	}
}

func (e *env) record(t testing.TB, es ...audit.Entry) {
	t.Helper()
	for _, en := range es {
		if err := e.svc.Record(t.Context(), en); err != nil {
			t.Fatalf("record %s: %v", en.ID, err)
		}
	}
}

// all pages through a listing and returns the ids, checking that pages are
// never longer than size.
func (e *env) all(t testing.TB, ga, filter string, size int) []string {
	t.Helper()
	var ids []string
	token := ""
	for range 10000 {
		p, err := e.svc.List(t.Context(), ga, size, token, filter)
		if err != nil {
			t.Fatalf("list %q: %v", filter, err)
		}
		if len(p.Entries) > size {
			t.Fatalf("a page of %d entries for page size %d", len(p.Entries), size)
		}
		for _, en := range p.Entries {
			ids = append(ids, en.ID)
		}
		if token = p.NextToken; token == "" {
			return ids
		}
	}
	t.Fatal("the listing does not end")
	return nil
}

func ids(es []audit.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func reversed(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestListNewestFirstWithFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	const sys, form = "globalAccounts/acme/systems/s1", "globalAccounts/acme/formations/f1"
	var es []audit.Entry
	for i := range 30 {
		at := t0.Add(-time.Hour + time.Duration(i)*time.Second)
		subject, actor, typ := sys, "user:alice", "landscape.registry.v1.SystemUpdated"
		if i%3 == 1 {
			subject, typ = form, "landscape.formation.v1.FormationUpdated"
		}
		if i%2 == 1 {
			actor = "user:bob"
		}
		es = append(es, entry("acme", i, at, subject, actor, typ))
	}
	// Same time, two ids: ordered by id.
	es = append(es, entry("acme", 30, es[29].Time, sys, "user:alice", "landscape.registry.v1.SystemUpdated"))
	e.record(t, es...)
	e.record(t, entry("other", 0, t0.Add(-time.Minute), "globalAccounts/other/systems/x", "user:alice", "landscape.registry.v1.SystemCreated"))

	want := func(keep func(audit.Entry) bool) []string {
		var out []audit.Entry
		for _, en := range es {
			if keep(en) {
				out = append(out, en)
			}
		}
		// Newest first: by time, then id, descending.
		for i := range out {
			for j := i + 1; j < len(out); j++ {
				if out[j].Time.After(out[i].Time) || out[j].Time.Equal(out[i].Time) && out[j].ID > out[i].ID {
					out[i], out[j] = out[j], out[i]
				}
			}
		}
		return ids(out)
	}
	from, until := es[5].Time, es[20].Time
	for _, tc := range []struct {
		filter string
		keep   func(audit.Entry) bool
	}{
		{"", func(audit.Entry) bool { return true }},
		{`subject = "` + sys + `"`, func(en audit.Entry) bool { return en.Subject == sys }},
		{`actor = "user:bob"`, func(en audit.Entry) bool { return en.Actor == "user:bob" }},
		{`type = "landscape.formation.v1.FormationUpdated"`, func(en audit.Entry) bool { return en.Subject == form }},
		{`time >= "` + from.Format(time.RFC3339Nano) + `"`, func(en audit.Entry) bool { return !en.Time.Before(from) }},
		{`time < "` + until.Format(time.RFC3339Nano) + `"`, func(en audit.Entry) bool { return en.Time.Before(until) }},
		{`subject = "` + sys + `" AND time >= "` + from.Format(time.RFC3339Nano) + `" AND time < "` + until.Format(time.RFC3339Nano) + `"`,
			func(en audit.Entry) bool { return en.Subject == sys && !en.Time.Before(from) && en.Time.Before(until) }},
		{`subject = "` + sys + `" AND actor = "user:bob"`, func(en audit.Entry) bool { return en.Subject == sys && en.Actor == "user:bob" }},
		{`actor = "user:alice" AND type = "landscape.registry.v1.SystemUpdated" AND time < "` + until.Format(time.RFC3339Nano) + `"`,
			func(en audit.Entry) bool {
				return en.Actor == "user:alice" && en.Subject == sys && en.Time.Before(until)
			}},
		{`actor = "user:nobody"`, func(audit.Entry) bool { return false }},
		{`actor = "user:nobody" AND subject = "` + sys + `"`, func(audit.Entry) bool { return false }},
	} {
		w := want(tc.keep)
		for _, size := range []int{1, 2, 7, 50} {
			if got := e.all(t, "acme", tc.filter, size); !equal(got, w) {
				t.Errorf("filter %q, page size %d:\n got %v\nwant %v", tc.filter, size, got, w)
			}
		}
	}
	// The entry round-trips.
	p, err := e.svc.List(t.Context(), "other", 10, "", "")
	if err != nil || len(p.Entries) != 1 || p.NextToken != "" {
		t.Fatalf("other account: %+v, %v", p, err)
	}
	if got := p.Entries[0]; got.Subject != "globalAccounts/other/systems/x" || got.Actor != "user:alice" || got.Revision != 1 ||
		string(got.Resource) != `{"name":"globalAccounts/other/systems/x","n":0}` || !got.Time.Equal(t0.Add(-time.Minute)) {
		t.Errorf("entry: %+v", got)
	}
}

func TestListRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	e.record(t, entry("acme", 0, t0.Add(-2*time.Minute), "globalAccounts/acme/systems/a", "user:a", "T"),
		entry("acme", 1, t0.Add(-time.Minute), "globalAccounts/acme/systems/a", "user:a", "T"))
	p, err := e.svc.List(t.Context(), "acme", 1, "", "")
	if err != nil || p.NextToken == "" {
		t.Fatalf("first page: %+v %v", p, err)
	}
	for _, tc := range []struct{ field, filter, token string }{
		{"filter", "nonsense", ""},
		{"filter", `subject = "a" OR actor = "b"`, ""},
		{"filter", `time >= "yesterday"`, ""},
		{"filter", `kind = "x"`, ""},
		{"pageToken", "", "not-a-token"},
		{"pageToken", "", "MTIz"},
		{"pageToken", `actor = "user:a"`, p.NextToken}, // another filter
	} {
		_, err := e.svc.List(t.Context(), "acme", 10, tc.token, tc.filter)
		ae := apperr.As(err)
		if ae.Reason != apperr.InvalidArgument || len(ae.Violations) == 0 || ae.Violations[0].Field != tc.field {
			t.Errorf("filter %q token %q: %v; want INVALID_ARGUMENT on %s", tc.filter, tc.token, err, tc.field)
		}
	}
	if _, err := e.svc.List(t.Context(), "acme", -1, "", ""); apperr.ReasonOf(err) != apperr.InvalidArgument {
		t.Errorf("page size -1: %v", err)
	}
}

// TestRecordIsIdempotent: an event delivered again (JetStream redelivers
// until acked) is stored once.
func TestRecordIsIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	en := entry("acme", 0, t0.Add(-time.Minute), "globalAccounts/acme/systems/a", "user:a", "T")
	for i := range 3 {
		added, err := e.store.Record(t.Context(), en)
		if err != nil || (added == 1) != (i == 0) {
			t.Fatalf("record #%d: added %v, %v", i+1, added, err)
		}
	}
	e.record(t, en)
	if got := e.all(t, "acme", "", 10); len(got) != 1 {
		t.Errorf("%d entries after 4 deliveries of one event", len(got))
	}
	if n := e.rdb.ZCard(t.Context(), e.prefix+":registry:{acme}:audit:idx:subject:globalAccounts/acme/systems/a").Val(); n != 1 {
		t.Errorf("subject index holds %d members", n)
	}
}

// TestRecordBatch: one call stores a batch of several accounts' entries,
// each once, also when Redis lost its scripts (a restart, a failover).
func TestRecordBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	a := entry("acme", 0, t0.Add(-2*time.Minute), "globalAccounts/acme/systems/a", "user:a", "T")
	b := entry("beta", 1, t0.Add(-time.Minute), "globalAccounts/beta/systems/b", "", "T")
	if added, err := e.store.Record(t.Context(), a); err != nil || added != 1 {
		t.Fatalf("record a: added %d, %v", added, err)
	}
	// Every script of this Redis is gone; the store loads its own again.
	if err := e.rdb.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	added, err := e.store.Record(t.Context(), a, b, b)
	if err != nil || added != 1 {
		t.Fatalf("record a, b, b: added %d, %v; want b alone", added, err)
	}
	for ga, want := range map[string]string{"acme": a.ID, "beta": b.ID} {
		if got := e.all(t, ga, "", 10); !equal(got, []string{want}) {
			t.Errorf("%s: entries %v, want %s", ga, got, want)
		}
	}
	gas, err := e.store.Accounts(t.Context())
	slices.Sort(gas)
	if err != nil || !equal(gas, []string{"acme", "beta"}) {
		t.Errorf("accounts %v, %v; want acme and beta", gas, err)
	}
}

// TestRetention: entries older than the retention are not stored, not
// listed, and removed by recording and by the sweep, from every index.
func TestRetention(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 24*time.Hour)
	ctx := t.Context()
	old := entry("acme", 0, t0.Add(-25*time.Hour), "globalAccounts/acme/systems/a", "user:a", "T")
	e.record(t, old)
	if got := e.all(t, "acme", "", 10); len(got) != 0 {
		t.Errorf("an expired event was stored: %v", got)
	}
	var es []audit.Entry
	for i := range 40 {
		es = append(es, entry("acme", i, t0.Add(-23*time.Hour+time.Duration(i)*time.Minute), fmt.Sprintf("globalAccounts/acme/systems/s%d", i%4), "user:a", "T"))
	}
	es = append(es, entry("quiet", 0, t0.Add(-23*time.Hour), "globalAccounts/quiet/systems/q", "user:q", "T"))
	e.record(t, es...)
	if got := e.all(t, "acme", "", 100); len(got) != 40 {
		t.Fatalf("%d entries, want 40", len(got))
	}

	// 90 minutes later the first 30 (those older than t0-22h30m) have
	// expired: no listing shows them, even before they are removed.
	e.clock.Advance(90 * time.Minute)
	if got := e.all(t, "acme", "", 7); !equal(got, reversed(ids(es[30:40]))) {
		t.Errorf("after expiry: %d entries %v, want the 10 newest", len(got), got)
	}
	if got := e.all(t, "acme", `subject = "globalAccounts/acme/systems/s3"`, 2); !equal(got, reversed([]string{es[31].ID, es[35].ID, es[39].ID})) {
		t.Errorf("after expiry, by subject: %v", got)
	}
	// Recording trims a few of its account's expired entries; the sweep
	// removes the rest, of every account.
	e.record(t, entry("acme", 99, t0.Add(90*time.Minute), "globalAccounts/acme/systems/new", "user:a", "T"))
	n, err := e.svc.Sweep(ctx)
	if err != nil || n > 30 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if h := e.rdb.HLen(ctx, e.prefix+":registry:{acme}:audit:entries").Val(); h != 11 {
		t.Errorf("%d entries kept in Redis, want 11", h)
	}
	if z := e.rdb.ZCard(ctx, e.prefix+":registry:{acme}:audit:idx:subject:globalAccounts/acme/systems/s0").Val(); z != 2 {
		t.Errorf("subject index s0 holds %d members, want 2 (s32 and s36)", z)
	}
	if z := e.rdb.ZCard(ctx, e.prefix+":registry:{acme}:audit:idx:actor:user:a").Val(); z != 11 {
		t.Errorf("actor index holds %d members, want 11", z)
	}
	if h := e.rdb.HLen(ctx, e.prefix+":registry:{quiet}:audit:entries").Val(); h != 0 {
		t.Errorf("the quiet account (no writes since) holds %d expired entries after the sweep", h)
	}
	e.clock.Advance(25 * time.Hour)
	if _, err := e.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	keys := e.rdb.Keys(ctx, e.prefix+":registry:{*}:audit:*").Val()
	if len(keys) != 0 {
		t.Errorf("keys left after everything expired: %v", keys)
	}
}

// TestManyTermsBoundTheWalk: with two equality terms the store walks the
// smaller index, at most a budget per page; pages may be short but the
// listing is complete and in order.
func TestManyTermsBoundTheWalk(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	var es []audit.Entry
	var want []string
	for i := range 3000 {
		actor := "user:a"
		if i%1000 == 0 {
			actor = "user:b"
		}
		typ := "T1"
		if i%2 == 0 {
			typ = "T2"
		}
		en := entry("acme", i, t0.Add(-time.Hour+time.Duration(i)*time.Millisecond), "globalAccounts/acme/systems/s", actor, typ)
		es = append(es, en)
		if actor == "user:a" && typ == "T2" {
			want = append(want, en.ID)
		}
	}
	storeAll(t, e, es)
	got := e.all(t, "acme", `actor = "user:a" AND type = "T2" AND subject = "globalAccounts/acme/systems/s"`, 500)
	if !equal(got, reversed(want)) {
		t.Errorf("%d entries, want %d", len(got), len(want))
	}
	// Rare matches: pages come back short with a token rather than
	// walking the whole index in one request.
	p, err := e.svc.List(t.Context(), "acme", 5, "", `actor = "user:a" AND type = "T3"`)
	if err != nil || len(p.Entries) != 0 || p.NextToken != "" {
		t.Errorf("no T3 (empty index): %d entries, token %q, %v", len(p.Entries), p.NextToken, err)
	}
	p, err = e.svc.List(t.Context(), "acme", 5, "", `actor = "user:b" AND type = "T2"`)
	if err != nil || len(p.Entries) != 3 || p.NextToken != "" {
		t.Errorf("user:b: %d entries, token %q, %v", len(p.Entries), p.NextToken, err)
	}
	p, err = e.svc.List(t.Context(), "acme", 5, "", `type = "T1" AND subject = "globalAccounts/acme/systems/s" AND actor = "user:b"`)
	if err != nil || len(p.Entries) != 0 {
		t.Errorf("no T1 by user:b: %d entries, %v", len(p.Entries), err)
	}
}

// storeAll records es straight into the store in pipelines (fast setup).
func storeAll(t testing.TB, e *env, es []audit.Entry) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, en := range es {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := e.store.Record(context.Background(), en); err != nil {
				t.Errorf("record: %v", err)
			}
		}()
	}
	wg.Wait()
}

// BenchmarkAuditPage: 10,000 entries in one account; the first page and a
// deep page (page 100 of 50) cost the same, as do a filtered page and a
// page with a time range. The baselines are a Redis round trip (PING) and
// offset paging (ZREVRANGEBYLEX with LIMIT offset, O(log n + offset)) at
// the same depths, which page tokens avoid.
func BenchmarkAuditPage(b *testing.B) {
	e := newEnv(b, 0)
	const n, size = 10000, 50
	es := make([]audit.Entry, n)
	for i := range es {
		es[i] = entry("acme", i, t0.Add(-3*time.Hour+time.Duration(i)*time.Second), fmt.Sprintf("globalAccounts/acme/systems/s%d", i%10), "user:a", "T")
	}
	storeAll(b, e, es)
	ctx := context.Background()
	tokenAt := func(filter string, page int) string {
		token := ""
		for range page - 1 {
			p, err := e.svc.List(ctx, "acme", size, token, filter)
			if err != nil || p.NextToken == "" {
				b.Fatalf("paging: %v", err)
			}
			token = p.NextToken
		}
		return token
	}
	listing := func(filter, token string) func(*testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				p, err := e.svc.List(ctx, "acme", size, token, filter)
				if err != nil || len(p.Entries) != size {
					b.Fatalf("%d entries, %v", len(p.Entries), err)
				}
			}
		}
	}
	subject := `subject = "globalAccounts/acme/systems/s3"`
	ranged := subject + ` AND time >= "` + es[0].Time.Format(time.RFC3339) + `" AND time < "` + es[n-1].Time.Format(time.RFC3339) + `"`
	b.Run("baseline-ping", func(b *testing.B) {
		for b.Loop() {
			if err := e.rdb.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("page-1", listing("", ""))
	b.Run("page-100", listing("", tokenAt("", 100)))
	b.Run("page-200-last", listing("", tokenAt("", 200)))
	b.Run("subject-page-1", listing(subject, ""))
	b.Run("subject-page-20-last", listing(subject, tokenAt(subject, 20)))
	b.Run("subject-time-range-page-19", listing(ranged, tokenAt(ranged, 19)))
	key := e.prefix + ":registry:{acme}:audit:idx:all"
	for _, page := range []int{1, 100, 200} {
		b.Run(fmt.Sprintf("baseline-offset-paging-page-%d", page), func(b *testing.B) {
			for b.Loop() {
				by := &redis.ZRangeBy{Max: "+", Min: "-", Offset: int64((page - 1) * size), Count: size}
				if err := e.rdb.ZRevRangeByLex(ctx, key, by).Err(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
