// Package auditstore keeps the audit trail (package audit) in Redis:
//
//	<prefix>:registry:{<ga>}:audit:entries              hash: event id -> entry JSON
//	<prefix>:registry:{<ga>}:audit:idx:all              sorted sets, score 0, members
//	<prefix>:registry:{<ga>}:audit:idx:subject:<name>   <time ns, 20 digits>/<event id>
//	<prefix>:registry:{<ga>}:audit:idx:actor:<actor>
//	<prefix>:registry:{<ga>}:audit:idx:type:<type>
//	<prefix>:registry:audit:accounts                    set of global accounts with entries
//
// Members of equal score sort by bytes, so every index is ordered by
// (time, id), and a page is one ZREVRANGEBYLEX from a bound: O(log n +
// page), wherever the page starts. The bound is the tightest of the page
// token's position, `time <` and the start of `time >=` (and the
// retention), so a time range combined with one equality term costs the
// same as a plain page. Two or more equality terms walk the smallest of
// their indexes (ZCARD is O(1)) and keep the entries that match the
// others, at most scanBudget members a page; a page that ran out of budget
// is short and carries a page token (docs/API.md, "Audit trail").
package auditstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/services/registry/audit"
)

// Store implements audit.Store.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	// accounts: global account → when this process last added it to the
	// accounts set.
	accounts sync.Map
}

// New returns the store under the key prefix ("ls" in production).
func New(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, prefix: prefix}
}

var _ audit.Store = (*Store)(nil)

func (s *Store) base(ga string) string { return s.prefix + ":registry:{" + ga + "}:audit:" }

func (s *Store) entriesKey(ga string) string { return s.base(ga) + "entries" }
func (s *Store) allKey(ga string) string     { return s.base(ga) + "idx:all" }
func (s *Store) indexKey(ga, field, value string) string {
	return s.base(ga) + "idx:" + field + ":" + value
}
func (s *Store) accountsKey() string { return s.prefix + ":registry:audit:accounts" }

// member is an entry's member in the indexes.
func member(t time.Time, id string) string { return timeBound(t) + "/" + id }

// timeBound is the 20-digit time prefix of members at t.
func timeBound(t time.Time) string { return fmt.Sprintf("%020d", max(t.UnixNano(), 0)) }

// cursorOf reads a member back.
func cursorOf(m string) (audit.Cursor, bool) {
	if len(m) < 22 || m[20] != '/' {
		return audit.Cursor{}, false
	}
	ns, err := strconv.ParseInt(m[:20], 10, 64)
	if err != nil {
		return audit.Cursor{}, false
	}
	return audit.Cursor{Time: time.Unix(0, ns).UTC(), ID: m[21:]}, true
}

// record is an entry as stored.
type record struct {
	ID            string          `json:"id"`
	GlobalAccount string          `json:"ga"`
	Time          time.Time       `json:"time"`
	Type          string          `json:"type"`
	Subject       string          `json:"subject"`
	Actor         string          `json:"actor,omitempty"`
	CausedBy      string          `json:"causedBy,omitempty"`
	Revision      int64           `json:"revision"`
	Resource      json.RawMessage `json:"resource,omitempty"`
}

func (r record) entry() audit.Entry {
	return audit.Entry{ID: r.ID, GlobalAccount: r.GlobalAccount, Time: r.Time, Type: r.Type, Subject: r.Subject,
		Actor: r.Actor, CausedBy: r.CausedBy, Revision: r.Revision, Resource: r.Resource}
}

// recordScript adds an entry once: KEYS entries, all, subject, type,
// actor (optional); ARGV id, member, JSON. It returns 0 when the id was
// there already.
var recordScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 0 then return 0 end
for i = 2, #KEYS do redis.call('ZADD', KEYS[i], 0, ARGV[2]) end
return 1
`)

// Record stores each of es whose id is not there yet, and returns how
// many it stored: one round trip for all, one script call per entry. The
// writes are durable (redisconn.Sync): the consumer acks the events only
// once the configured replicas hold their entries.
func (s *Store) Record(ctx context.Context, es ...audit.Entry) (int, error) {
	type call struct {
		keys []string
		args []any
	}
	calls := make([]call, len(es))
	var due []string // global accounts to add to the accounts set
	for i, e := range es {
		if !audit.ValidID(e.ID) {
			return 0, fmt.Errorf("auditstore: event id %q is not storable", e.ID)
		}
		body, err := json.Marshal(record{ID: e.ID, GlobalAccount: e.GlobalAccount, Time: e.Time.UTC(), Type: e.Type,
			Subject: e.Subject, Actor: e.Actor, CausedBy: e.CausedBy, Revision: e.Revision, Resource: e.Resource})
		if err != nil {
			return 0, fmt.Errorf("auditstore: encode entry: %w", err)
		}
		ga := e.GlobalAccount
		keys := []string{s.entriesKey(ga), s.allKey(ga), s.indexKey(ga, "subject", e.Subject), s.indexKey(ga, "type", e.Type)}
		if e.Actor != "" {
			keys = append(keys, s.indexKey(ga, "actor", e.Actor))
		}
		calls[i] = call{keys, []any{e.ID, member(e.Time, e.ID), body}}
		if s.accountDue(ga) {
			due = append(due, ga)
		}
	}
	var cmds []*redis.Cmd
	send := func() error {
		cmds = make([]*redis.Cmd, len(calls))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			// The accounts set (no hash tag: outside the script) lists a
			// global account before its first entry is written; this
			// process adds it again each accountsRefresh, so that a set
			// lost in a failover fills up again.
			if len(due) > 0 {
				p.SAdd(ctx, s.accountsKey(), anySlice(due)...)
			}
			for i, c := range calls {
				cmds[i] = recordScript.EvalSha(ctx, p, c.keys, c.args...)
			}
			return nil
		})
		return err
	}
	err := send()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err = recordScript.Load(ctx, s.rdb).Err(); err == nil {
			err = send()
		}
	}
	if err == nil {
		err = redisconn.Sync(ctx, s.rdb)
	}
	if err != nil {
		for _, ga := range due {
			s.accounts.Delete(ga)
		}
		return 0, redisconn.Classify(err)
	}
	added := 0
	for _, c := range cmds {
		if n, _ := c.Int(); n == 1 {
			added++
		}
	}
	return added, nil
}

// accountsRefresh is how often a process adds a global account it writes
// entries of to the accounts set again.
const accountsRefresh = time.Hour

// accountDue tells whether ga is to be added to the accounts set now: the
// first time this process writes an entry of ga, and each accountsRefresh.
func (s *Store) accountDue(ga string) bool {
	now := time.Now()
	if last, ok := s.accounts.Load(ga); ok && now.Sub(last.(time.Time)) < accountsRefresh {
		return false
	}
	s.accounts.Store(ga, now)
	return true
}

// scanBudget bounds the index members one page with two or more equality
// terms walks: at least minScanBudget, else scanFactor pages.
const (
	minScanBudget = 1000
	scanFactor    = 4
)

// List returns a page of entries matching q, newest first.
func (s *Store) List(ctx context.Context, q audit.Query) (audit.Result, error) {
	ga := q.GlobalAccount
	type term struct{ field, value string }
	var terms []term
	for _, t := range []term{{"subject", q.Subject}, {"actor", q.Actor}, {"type", q.Type}} {
		if t.value != "" {
			terms = append(terms, t)
		}
	}
	key := s.allKey(ga)
	var rest []term // the terms the entries are checked against
	switch len(terms) {
	case 0:
	case 1:
		key = s.indexKey(ga, terms[0].field, terms[0].value)
	default:
		// Walk the smallest index; check the others on the entries.
		cards := make([]*redis.IntCmd, len(terms))
		if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, t := range terms {
				cards[i] = p.ZCard(ctx, s.indexKey(ga, t.field, t.value))
			}
			return nil
		}); err != nil {
			return audit.Result{}, redisconn.Classify(err)
		}
		best := 0
		for i := range terms {
			if cards[i].Val() < cards[best].Val() {
				best = i
			}
		}
		if cards[best].Val() == 0 {
			return audit.Result{}, nil
		}
		key = s.indexKey(ga, terms[best].field, terms[best].value)
		rest = append(append(rest, terms[:best]...), terms[best+1:]...)
	}
	matches := func(r record) bool {
		for _, t := range rest {
			var v string
			switch t.field {
			case "subject":
				v = r.Subject
			case "actor":
				v = r.Actor
			case "type":
				v = r.Type
			}
			if v != t.value {
				return false
			}
		}
		return true
	}

	// The range: below the tightest upper bound, from the lower one.
	upper := "+"
	if !q.Below.IsZero() {
		upper = "(" + member(q.Below.Time, q.Below.ID)
	}
	if !q.Until.IsZero() {
		if u := "(" + timeBound(q.Until); upper == "+" || u < upper {
			upper = u
		}
	}
	lower := "-"
	if !q.From.IsZero() {
		lower = "[" + timeBound(q.From)
	}

	var res audit.Result
	if len(rest) == 0 {
		// One index: the page is the next Limit+1 members (one more tells
		// whether a next page exists).
		members, recs, err := s.fetch(ctx, ga, key, upper, lower, q.Limit+1)
		if err != nil {
			return audit.Result{}, err
		}
		for i, r := range recs {
			if i == q.Limit {
				res.Next, _ = cursorOf(members[i-1])
				break
			}
			if r != nil {
				res.Entries = append(res.Entries, r.entry())
			}
		}
		return res, nil
	}
	budget := max(minScanBudget, scanFactor*q.Limit)
	batch := max(q.Limit, 100)
	last := "" // the member of the page's last entry
	for budget > 0 {
		n := min(batch, budget)
		members, recs, err := s.fetch(ctx, ga, key, upper, lower, n)
		if err != nil {
			return audit.Result{}, err
		}
		budget -= len(members)
		for i, r := range recs {
			if r == nil || !matches(*r) {
				continue
			}
			if len(res.Entries) == q.Limit {
				// A match beyond the page: the next page starts below
				// the page's last entry.
				res.Next, _ = cursorOf(last)
				return res, nil
			}
			res.Entries = append(res.Entries, r.entry())
			last = members[i]
		}
		if len(members) < n {
			return res, nil // the index is exhausted
		}
		upper = "(" + members[len(members)-1]
	}
	// Out of budget: continue below the last member walked.
	res.Next, _ = cursorOf(upper[1:])
	return res, nil
}

// fetch returns up to n members of key in (lower, upper) from the top, and
// their entries (nil where an entry is gone: trimmed meanwhile).
func (s *Store) fetch(ctx context.Context, ga, key, upper, lower string, n int) ([]string, []*record, error) {
	members, err := s.rdb.ZRevRangeByLex(ctx, key, &redis.ZRangeBy{Max: upper, Min: lower, Count: int64(n)}).Result()
	if err != nil {
		return nil, nil, redisconn.Classify(err)
	}
	return s.entries(ctx, ga, members)
}

// entries returns the entries of members (nil where one is gone).
func (s *Store) entries(ctx context.Context, ga string, members []string) ([]string, []*record, error) {
	if len(members) == 0 {
		return nil, nil, nil
	}
	ids := make([]string, len(members))
	for i, m := range members {
		c, _ := cursorOf(m)
		ids[i] = c.ID
	}
	vals, err := s.rdb.HMGet(ctx, s.entriesKey(ga), ids...).Result()
	if err != nil {
		return nil, nil, redisconn.Classify(err)
	}
	recs := make([]*record, len(vals))
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		var r record
		if err := json.Unmarshal([]byte(str), &r); err != nil {
			return nil, nil, fmt.Errorf("auditstore: entry %s: %w", ids[i], err)
		}
		recs[i] = &r
	}
	return members, recs, nil
}

// Trim removes up to n entries of ga older than before, oldest first,
// from the entries and every index. Repeating it is harmless.
func (s *Store) Trim(ctx context.Context, ga string, before time.Time, n int) (int, error) {
	members, recs, err := s.fetchOldest(ctx, ga, before, n)
	if err != nil || len(members) == 0 {
		return 0, err
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		ids := make([]string, 0, len(members))
		for i, m := range members {
			c, _ := cursorOf(m)
			ids = append(ids, c.ID)
			if r := recs[i]; r != nil {
				p.ZRem(ctx, s.indexKey(ga, "subject", r.Subject), m)
				p.ZRem(ctx, s.indexKey(ga, "type", r.Type), m)
				if r.Actor != "" {
					p.ZRem(ctx, s.indexKey(ga, "actor", r.Actor), m)
				}
			}
		}
		p.HDel(ctx, s.entriesKey(ga), ids...)
		p.ZRem(ctx, s.allKey(ga), anySlice(members)...)
		return nil
	})
	if err != nil {
		return 0, redisconn.Classify(err)
	}
	return len(members), nil
}

// fetchOldest returns up to n members of ga's all-index older than before,
// oldest first, with their entries.
func (s *Store) fetchOldest(ctx context.Context, ga string, before time.Time, n int) ([]string, []*record, error) {
	members, err := s.rdb.ZRangeByLex(ctx, s.allKey(ga), &redis.ZRangeBy{Min: "-", Max: "(" + timeBound(before), Count: int64(n)}).Result()
	if err != nil {
		return nil, nil, redisconn.Classify(err)
	}
	return s.entries(ctx, ga, members)
}

// Accounts returns the global accounts with entries (an account whose
// entries all expired stays listed; trimming it again finds nothing).
func (s *Store) Accounts(ctx context.Context) ([]string, error) {
	var out []string
	iter := s.rdb.SScan(ctx, s.accountsKey(), 0, "", 1000).Iterator()
	for iter.Next(ctx) {
		out = append(out, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, redisconn.Classify(err)
	}
	return out, nil
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
