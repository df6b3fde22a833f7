// Package audit is the audit trail of a global account (docs/API.md,
// "Audit trail"): one entry per event of the registry, token and formation
// contexts, kept for a retention period, read newest first with filters on
// subject, actor, type and time. The registry builds it from the three
// event streams (package auditconsumer) and serves it (grpcapi).
//
// It imports no transport, storage or generated code: the Store port is
// implemented by auditstore (Redis).
package audit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/filter"
	"github.com/landscape-dev/landscape/pkg/resource"
)

// DefaultRetention is how long entries are kept unless --audit-retention
// says otherwise: 400 days, a year and a bit, so that a yearly review
// still finds last year's changes.
const DefaultRetention = 400 * 24 * time.Hour

// Entry is one entry of the audit trail: one event as it was published.
type Entry struct {
	ID            string    // the CloudEvent id
	GlobalAccount string    // the globalaccount extension
	Time          time.Time // the CloudEvent time
	Type          string    // the CloudEvent type
	Subject       string    // the resource name
	Actor         string    // user:…, token:…, service:…
	CausedBy      string    // the id of the event this one reacts to
	Revision      int64     // the resource's revision after the change
	// Resource is the resource as in the event's data, a JSON object
	// (never a secret: see auditconsumer).
	Resource json.RawMessage
}

// Cursor is a position in the trail, which is ordered by (Time, ID).
// Pages go from newer to older: a page continues below its cursor.
type Cursor struct {
	Time time.Time
	ID   string
}

// IsZero reports whether c is the top of the trail.
func (c Cursor) IsZero() bool { return c.ID == "" }

// Query is what a page asks the store for.
type Query struct {
	GlobalAccount string
	// Equality terms; "" matches everything.
	Subject, Actor, Type string
	// From (inclusive) and Until (exclusive) bound the time; zero: none.
	From, Until time.Time
	// Below: only entries older than this position; zero: from the newest.
	Below Cursor
	// Limit is the most entries to return (1 to resource.MaxPageSize).
	Limit int
}

// Result is a page from the store. Next is set when more entries may
// follow: the next page continues below it. A page can be short (even
// empty) while Next is set, when the store bounded its work (see Store).
type Result struct {
	Entries []Entry
	Next    Cursor
}

// Store keeps the trail.
type Store interface {
	// Record stores each of es unless an entry with its id is there
	// already (a redelivered event); it returns how many it stored.
	Record(ctx context.Context, es ...Entry) (int, error)
	// List returns entries matching q, newest first. It costs O(log n +
	// Limit) for at most one equality term; with more it may stop early
	// and return a short page with Next set.
	List(ctx context.Context, q Query) (Result, error)
	// Trim removes up to max entries of ga older than before; it returns
	// how many it removed.
	Trim(ctx context.Context, ga string, before time.Time, max int) (int, error)
	// Accounts returns the global accounts that have entries.
	Accounts(ctx context.Context) ([]string, error)
}

// Options configure the Service.
type Options struct {
	// Retention is how long entries are kept; 0: DefaultRetention.
	Retention time.Duration
	// Now is the clock; nil: time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Service records and lists the trail.
type Service struct {
	store     Store
	retention time.Duration
	now       func() time.Time
	logger    *slog.Logger

	mu      sync.Mutex
	trimmed map[string]time.Time // global account → when Record last trimmed it
}

// NewService returns the service over store.
func NewService(store Store, o Options) *Service {
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, retention: o.Retention, now: o.Now, logger: o.Logger, trimmed: map[string]time.Time{}}
}

// Retention is how long entries are kept.
func (s *Service) Retention() time.Duration { return s.retention }

// cutoff is the time before which entries have expired.
func (s *Service) cutoff() time.Time { return s.now().Add(-s.retention) }

// trimBatch bounds what one Record trims of an account's expired entries,
// so that a write never does unbounded work; trimEvery is how often a
// process trims an account it records entries of (a trim costs a round
// trip, an entry expires after the retention: once a minute keeps up); the
// periodic Sweep removes the rest.
const (
	trimBatch   = 32
	trimEvery   = time.Minute
	trimTracked = 100_000
)

// Record adds the entries of events, each once: a redelivered event
// changes nothing. An event older than the retention is not stored (it
// would be trimmed at once). Recording also trims a few expired entries of
// each account it writes to, once each trimEvery.
func (s *Service) Record(ctx context.Context, es ...Entry) error {
	cutoff := s.cutoff()
	kept := make([]Entry, 0, len(es))
	for _, e := range es {
		if !e.Time.Before(cutoff) {
			kept = append(kept, e)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	if _, err := s.store.Record(ctx, kept...); err != nil {
		return err
	}
	for _, e := range kept {
		if !s.trimDue(e.GlobalAccount) {
			continue
		}
		if _, err := s.store.Trim(ctx, e.GlobalAccount, cutoff, trimBatch); err != nil {
			s.mu.Lock()
			delete(s.trimmed, e.GlobalAccount)
			s.mu.Unlock()
			return err
		}
	}
	return nil
}

// trimDue tells whether Record is to trim ga now, and if so notes it. It
// remembers at most trimTracked accounts: past that it forgets them all,
// which only costs each a trim more.
func (s *Service) trimDue(ga string) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.trimmed[ga]; ok && now.Sub(last) < trimEvery {
		return false
	}
	if len(s.trimmed) >= trimTracked {
		clear(s.trimmed)
	}
	s.trimmed[ga] = now
	return true
}

// sweepBatch is how many entries one Trim call of Sweep removes.
const sweepBatch = 512

// Sweep removes every expired entry of every account. It is idempotent:
// several registry processes may sweep at once.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	gas, err := s.store.Accounts(ctx)
	if err != nil {
		return 0, err
	}
	cutoff := s.cutoff()
	total := 0
	for _, ga := range gas {
		for ctx.Err() == nil {
			n, err := s.store.Trim(ctx, ga, cutoff, sweepBatch)
			total += n
			if err != nil {
				return total, err
			}
			if n < sweepBatch {
				break
			}
		}
	}
	return total, ctx.Err()
}

// Page is one page of the trail.
type Page struct {
	Entries   []Entry
	NextToken string
}

// List returns a page of ga's trail, newest first, for the filter of
// docs/API.md, "Audit trail". Expired entries are never returned, even
// before a sweep removed them.
func (s *Service) List(ctx context.Context, ga string, pageSize int, pageToken, filterText string) (Page, error) {
	limit, err := resource.PageSize(pageSize)
	if err != nil {
		return Page{}, err
	}
	q, err := ParseFilter(filterText)
	if err != nil {
		return Page{}, err
	}
	q.GlobalAccount, q.Limit = ga, limit
	if pageToken != "" {
		if q.Below, err = parsePageToken(pageToken, filterText); err != nil {
			return Page{}, err
		}
	}
	if cutoff := s.cutoff(); q.From.Before(cutoff) {
		q.From = cutoff
	}
	if !q.Until.IsZero() && !q.Until.After(q.From) {
		return Page{}, nil // an empty range
	}
	res, err := s.store.List(ctx, q)
	if err != nil {
		return Page{}, err
	}
	p := Page{Entries: res.Entries}
	if !res.Next.IsZero() {
		p.NextToken = pageToken0(res.Next, filterText)
	}
	return p, nil
}

// ParseFilter reads the filter of docs/API.md, "Audit trail": subject,
// actor and type = "…", time >= and time < "RFC 3339", joined by AND.
func ParseFilter(s string) (Query, error) {
	terms, err := filter.Parse(s,
		filter.Text("subject", "resource name"),
		filter.Text("actor", "actor (user:…, token:… or service:…)"),
		filter.Text("type", "event type"),
		filter.Time("time"))
	if err != nil {
		return Query{}, err
	}
	q := Query{Subject: terms["subject"], Actor: terms["actor"], Type: terms["type"]}
	q.From, _ = terms.TimeTerm("time>=")
	q.Until, _ = terms.TimeTerm("time<")
	return q, nil
}

// Page tokens: base64url of "<unix ns>.<id>.<filter hash>". The hash ties
// a token to the filter of the page that made it, as docs/API.md,
// "Filters and paging" asks: a token with another filter is refused.
func pageToken0(c Cursor, filterText string) string {
	raw := strconv.FormatInt(c.Time.UnixNano(), 10) + "." + c.ID + "." + filterHash(filterText)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func filterHash(s string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return fmt.Sprintf("%08x", h.Sum32())
}

func parsePageToken(token, filterText string) (Cursor, error) {
	bad := apperr.Invalid("pageToken", "is not a page token of this list")
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return Cursor{}, bad
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 3 || !ValidID(parts[1]) {
		return Cursor{}, bad
	}
	ns, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || ns < 0 {
		return Cursor{}, bad
	}
	if parts[2] != filterHash(filterText) {
		return Cursor{}, apperr.Invalid("pageToken", "was made for another filter; send the same filter as the first page")
	}
	return Cursor{Time: time.Unix(0, ns).UTC(), ID: parts[1]}, nil
}

// ValidID reports whether id can be an entry's id: 1 to 64 letters,
// digits, '-' or '_' (the services' CloudEvent ids are 26 base32
// characters).
func ValidID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
