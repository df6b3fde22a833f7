package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/pkg/resource"
)

// Limits of GET /v1/globalAccounts/{ga}/events:watch (docs/API.md, "Watch").
const (
	// WatchKeepAlive is the longest silence on a watch: a comment line
	// (": keep-alive") is sent after it.
	WatchKeepAlive = 10 * time.Second
	// WatchBuffer is how many events may wait for one reader; a reader
	// that lets more pile up is cut off (the connection closes) and
	// resumes with Last-Event-ID.
	WatchBuffer = 256
	// MaxWatchesPerAccount is how many watches of one global account the
	// gateways serve at once, together when they share a Redis
	// (watchLimit), else each; the next is 429 RATE_LIMITED.
	MaxWatchesPerAccount = 100
)

// watchContexts are the streams a watch reads, in cursor order.
var watchContexts = [3]string{"registry", "token", "formation"}

// watchSuffix ends the watch route: /v1/globalAccounts/{ga}/events:watch.
const (
	watchPrefix = "/v1/globalAccounts/"
	watchSuffix = "/events:watch"
)

// watchAccount returns the global account of a watch path.
func watchAccount(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, watchPrefix)
	if !ok {
		return "", false
	}
	ga, ok := strings.CutSuffix(rest, watchSuffix)
	if !ok || ga == "" || strings.Contains(ga, "/") {
		return "", false
	}
	return ga, true
}

// watchers counts the watches per global account.
type watchers struct {
	mu sync.Mutex
	n  map[string]int
}

func (w *watchers) acquire(ga string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n == nil {
		w.n = map[string]int{}
	}
	if w.n[ga] >= MaxWatchesPerAccount {
		return false
	}
	w.n[ga]++
	return true
}

func (w *watchers) release(ga string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n[ga]--; w.n[ga] <= 0 {
		delete(w.n, ga)
	}
}

// cursor is the position of a watch in each stream: the sequence of the
// last message delivered (or skipped) there. On the wire it is opaque:
// base64url of "<registry>.<token>.<formation>", so any gateway process
// resumes any cursor.
type cursor [3]uint64

func (c cursor) String() string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d.%d.%d", c[0], c[1], c[2]))
}

func parseCursor(s string) (cursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 64 {
		return cursor{}, false
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 3 {
		return cursor{}, false
	}
	var c cursor
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil || (len(p) > 1 && p[0] == '0') {
			return cursor{}, false
		}
		c[i] = n
	}
	return c, true
}

// watchEvent is one message read for a watch.
type watchEvent struct {
	stream int
	seq    uint64
	data   []byte
}

// serveWatch serves a watch: Server-Sent Events, one per event of the
// global account from the three streams, each with its cursor as id.
func (g *Gateway) serveWatch(w http.ResponseWriter, r *http.Request, ga string) {
	setRoute(r, "/v1/globalAccounts/{ga}/events:watch")
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeRefusal(w, r, refusalMethod(r))
		return
	}
	fail := func(err error) {
		code := http.StatusInternalServerError
		var ae *apperr.Error
		if errors.As(err, &ae) {
			code = grpcserver.HTTPStatus(ae.Reason)
		}
		if code >= 500 {
			g.logger.Warn("watch refused", "error", err.Error())
		}
		writeStatus(w, r, code, grpcserver.Status(err))
	}
	if g.cfg.Auth == nil || g.cfg.JetStream == nil {
		fail(apperr.New(apperr.Unavailable, "this gateway serves no watch: it has no NATS connection"))
		return
	}
	caller, err := g.cfg.Auth.AuthenticateUser(r.Header.Values("Authorization"))
	if err != nil {
		fail(err)
		return
	}
	if ri := infoOf(r.Context()); ri != nil {
		ri.sub, ri.ga = caller.Subject, caller.GlobalAccount
	}
	if !resource.ValidID(ga) {
		fail(apperr.Invalid("globalAccount", "is not a global account id"))
		return
	}
	if err := authn.Authorize(authn.WithCaller(r.Context(), caller), ga, authn.Read); err != nil {
		fail(err)
		return
	}
	start, err := g.watchStart(r, ga)
	if err != nil {
		fail(err)
		return
	}
	release, ok := g.watches.acquire(r.Context(), ga)
	if !ok {
		fail(apperr.New(apperr.RateLimited, fmt.Sprintf("at most %d watches of a global account at once", MaxWatchesPerAccount), "globalAccount", ga))
		return
	}
	defer release()

	ctx := r.Context()
	// Join the account's live feed, then read where the streams end: an
	// event the feed takes from now on reaches this watch, and one it
	// took before lies at or below that end, which the catch-up from the
	// start covers.
	rc := http.NewResponseController(w)
	// A write blocked on a reader that is cut off fails at once.
	f, sub, err := g.feeds.join(ctx, ga, func() { _ = rc.SetWriteDeadline(time.Now()) })
	if err != nil {
		fail(err)
		return
	}
	defer g.feeds.leave(f, sub)
	ends, err := g.streamEnds(ctx)
	if err != nil {
		fail(err)
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	pos := start
	write := func(b []byte) bool {
		select {
		case <-sub.cutOff:
			return false
		default:
		}
		_ = rc.SetWriteDeadline(time.Now().Add(WatchKeepAlive * 3))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	var buf []byte
	// emit writes an event the watch has not delivered yet (per stream,
	// sequences only grow) and moves the cursor past it.
	emit := func(ev watchEvent) bool {
		if ev.seq <= pos[ev.stream] {
			return true // delivered already (catch-up and feed overlap)
		}
		pos[ev.stream] = ev.seq
		buf = appendEvent(buf[:0], pos, ev.data)
		return write(buf)
	}
	if !write([]byte(": watching " + ga + "\n\n")) {
		return
	}
	// Catch up, stream by stream, on what lies between the start and the
	// streams' end as the feed joined; the feed holds what follows.
	for i := range watchContexts {
		if start[i] >= ends[i] {
			continue
		}
		if err := catchUp(ctx, g.cfg.JetStream, i, ga, start[i], emit); err != nil {
			if ctx.Err() == nil {
				g.logger.Info("watch catch-up failed; closing, the reader resumes with its cursor", "error", err.Error())
			}
			return
		}
	}
	keep := time.NewTicker(WatchKeepAlive)
	defer keep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.cutOff:
			g.logger.Info("watch reader too slow; cut off", "buffered", WatchBuffer)
			return
		case <-keep.C:
			if !write([]byte(": keep-alive\n\n")) {
				return
			}
		case ev := <-sub.events:
			if !emit(ev) {
				return
			}
			keep.Reset(WatchKeepAlive)
		}
	}
}

// appendEvent appends one SSE message: the cursor as id, the CloudEvent
// type as event, the CloudEvent (compact JSON, one line) as data.
func appendEvent(buf []byte, pos cursor, data []byte) []byte {
	var head struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(data, &head)
	buf = append(buf, "id: "...)
	buf = append(buf, pos.String()...)
	buf = append(buf, "\nevent: "...)
	buf = append(buf, strings.Map(noNewline, head.Type)...)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, data...) // compact JSON: one line
	return append(buf, "\n\n"...)
}

func noNewline(r rune) rune {
	if r == '\n' || r == '\r' {
		return -1
	}
	return r
}

// watchStart returns where a watch starts in each stream: after the
// cursor of Last-Event-ID or ?after=, from ?since=, or after the
// streams' last messages (only new events).
func (g *Gateway) watchStart(r *http.Request, ga string) (cursor, error) {
	q := r.URL.Query()
	after, field := r.Header.Get("Last-Event-ID"), "Last-Event-ID"
	if a := q.Get("after"); a != "" {
		after, field = a, "after"
	}
	since := q.Get("since")
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var infos [3]*jetstream.StreamInfo
	var ends cursor
	for i, c := range watchContexts {
		s, err := g.cfg.JetStream.Stream(ctx, cloudevent.StreamName(c))
		if err != nil {
			return cursor{}, apperr.New(apperr.Unavailable, "the event streams cannot be read; retry").WithCause(err)
		}
		infos[i] = s.CachedInfo()
		ends[i] = infos[i].State.LastSeq
	}
	switch {
	case after != "":
		c, ok := parseCursor(after)
		if !ok {
			return cursor{}, apperr.Invalid(field, "is not a cursor of this watch: send the id of an event it delivered")
		}
		for i, info := range infos {
			if c[i] > info.State.LastSeq {
				return cursor{}, apperr.Invalid(field, "is not a cursor of this watch: it lies past the end of the streams")
			}
			if info.State.FirstSeq > 0 && c[i]+1 < info.State.FirstSeq {
				return cursor{}, apperr.New(apperr.CursorExpired, "the cursor is older than the streams' retention: start again with since or without a cursor", field, after)
			}
		}
		return c, nil
	case since != "":
		t, err := time.Parse(time.RFC3339Nano, since)
		if err != nil {
			return cursor{}, apperr.Invalid("since", "must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z")
		}
		var c cursor
		for i, ctxName := range watchContexts {
			seq, err := g.firstSeqSince(ctx, cloudevent.StreamName(ctxName), ga, t, infos[i].State.LastSeq)
			if err != nil {
				return cursor{}, err
			}
			c[i] = seq - 1
		}
		return c, nil
	}
	return ends, nil
}

// streamEnds returns the last sequence of each stream.
func (g *Gateway) streamEnds(ctx context.Context) (cursor, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var ends cursor
	for i, c := range watchContexts {
		s, err := g.cfg.JetStream.Stream(ctx, cloudevent.StreamName(c))
		if err != nil {
			return cursor{}, apperr.New(apperr.Unavailable, "the event streams cannot be read; retry").WithCause(err)
		}
		ends[i] = s.CachedInfo().State.LastSeq
	}
	return ends, nil
}

// firstSeqSince returns the sequence of the first message of the account
// in stream at or after t, or last+1 when there is none.
func (g *Gateway) firstSeqSince(ctx context.Context, stream, ga string, t time.Time, last uint64) (uint64, error) {
	ctxName := strings.ToLower(strings.TrimPrefix(stream, "LANDSCAPE_"))
	cons, err := g.cfg.JetStream.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"landscape." + ctxName + "." + ga + ".>"},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &t,
	})
	if err != nil {
		return 0, apperr.New(apperr.Unavailable, "the event streams cannot be read; retry").WithCause(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, apperr.New(apperr.Unavailable, "the event streams cannot be read; retry").WithCause(err)
	}
	if info.NumPending == 0 {
		return last + 1, nil
	}
	msgs, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		return 0, apperr.New(apperr.Unavailable, "the event streams cannot be read; retry").WithCause(err)
	}
	for m := range msgs.Messages() {
		if md, err := m.Metadata(); err == nil {
			return md.Sequence.Stream, nil
		}
	}
	if err := msgs.Error(); err != nil && !errors.Is(err, context.Canceled) {
		return 0, apperr.New(apperr.Unavailable, "the event streams cannot be read; retry").WithCause(err)
	}
	return last + 1, nil
}
