package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/retry"
	"github.com/landscape-dev/landscape/pkg/telemetry"
)

// Defaults of a relay.
const (
	DefaultRetention = 7 * 24 * time.Hour // stream max age
	DefaultBatchSize = 256                // entries published per round
	// DuplicateWindow is the stream's duplicate window: a re-publish of an
	// entry (same Nats-Msg-Id) within it is dropped by JetStream.
	DuplicateWindow = 2 * time.Minute
)

// RelayOptions tune a relay; zero values take defaults.
type RelayOptions struct {
	Retention time.Duration // stream max age; default 7 days
	BatchSize int           // entries published per round; default 256
	// Replicas is the stream's replica count (3 on a 3-node cluster); 0
	// creates it with the server's default and keeps an existing stream's.
	Replicas int
	// Registerer receives the relay's Prometheus collectors (outbox length,
	// age of the oldest entry, published and retried counts, labelled with
	// the context); nil registers none. The counts are logged either way.
	Registerer prometheus.Registerer
	// TracerProvider makes a span per published entry, continuing the
	// trace whose context the entry carries; nil: no spans.
	TracerProvider trace.TracerProvider
}

// Relay publishes the outbox's entries to JetStream in order, with
// Nats-Msg-Id = the CloudEvent id, and deletes each entry only after its
// publish ack. Several replicas may run one; a lease in Redis lets one
// publish at a time.
//
// One round reads up to BatchSize entries from the head of the outbox
// (waiting with XREAD BLOCK when it is empty), publishes them with
// PublishAsync, waits for the acks and deletes exactly the acked entries.
// While NATS (or Redis) is unreachable the entries stay and the relay backs
// off, logging once per outage. On a client that waits for replicas
// (redisconn.OpenDurable), a round is published only once they hold its
// entries (redisconn.Sync); until then it waits like an outage. What a
// crashed process left is simply
// still at the head of the outbox, so it is published first. A publish
// whose deletion failed is published again and dropped by JetStream's
// duplicate window.
type Relay struct {
	o      *Outbox
	js     jetstream.JetStream
	logger *slog.Logger
	opts   RelayOptions

	leaseTTL   time.Duration // lease lifetime without renewal
	renewAfter time.Duration // renew the lease when older than this
	block      time.Duration // longest XREAD BLOCK
	ackWait    time.Duration // longest wait for the acks of one round
	backoffMin time.Duration
	backoffMax time.Duration
	statsEvery time.Duration // metrics refresh
	logEvery   time.Duration // periodic log line

	// crashAfterPublish makes Run return after a round's acks and before
	// deleting the entries: a crash at the worst moment, for tests.
	crashAfterPublish bool

	m      *relayMetrics
	tracer trace.Tracer // nil: no spans
}

// NewRelay returns a relay of o's entries to the context's stream
// (LANDSCAPE_<CONTEXT>).
func NewRelay(o *Outbox, js jetstream.JetStream, logger *slog.Logger, opts RelayOptions) *Relay {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Relay{
		o: o, js: js, opts: opts,
		logger:     logger.With("component", "outbox-relay", "context", o.context),
		leaseTTL:   6 * time.Second,
		renewAfter: time.Second,
		block:      time.Second,
		ackWait:    2 * time.Second,
		backoffMin: 50 * time.Millisecond,
		backoffMax: 2 * time.Second,
		statsEvery: 5 * time.Second,
		logEvery:   30 * time.Second,
		m:          newRelayMetrics(o.context, opts.Registerer),
		tracer:     telemetry.Tracer(opts.TracerProvider, "outbox"),
	}
}

// LeaseKey is the Redis key of the relay lease of an outbox.
func (o *Outbox) LeaseKey() string { return o.key + ":lease" }

// RejectedKey is the Redis stream where the relay moves outbox entries it
// can never publish (malformed, or a subject outside the context's stream),
// with an error log; nothing writes such entries through Tx.
func (o *Outbox) RejectedKey() string { return o.key + ":rejected" }

var errNotConnected = errors.New("nats: not connected")

var errCrash = errors.New("outbox: relay stopped by test hook")

// Run creates or updates the stream (retrying while NATS is unreachable),
// then relays until ctx ends. It never gives up while ctx lives; it
// returns nil when ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	statsDone := make(chan struct{})
	go func() { defer close(statsDone); r.statsLoop(ctx) }()
	defer func() { cancel(); <-statsDone }()

	if !r.ensureStream(ctx) {
		return nil
	}
	owner := newOwner()
	bo := r.newBackoff()
	redisDown := false
	for ctx.Err() == nil {
		ok, err := r.acquire(ctx, owner)
		if err != nil {
			if !redisDown && ctx.Err() == nil {
				r.logger.Warn("outbox relay cannot reach redis; retrying", "error", err)
				redisDown = true
			}
			bo.Wait(ctx)
			continue
		}
		redisDown = false
		bo.Reset()
		if !ok {
			// Another replica publishes; try again before its lease could expire.
			retry.Sleep(ctx, retry.Jitter(r.leaseTTL/3))
			continue
		}
		r.logger.Debug("outbox relay holds the lease")
		err = r.lead(ctx, owner)
		r.release(owner)
		if errors.Is(err, errCrash) {
			return nil
		}
	}
	return nil
}

// lead publishes while it holds the lease. It returns when the lease is
// lost or ctx ends.
//
// One round is in flight while the next is read and sent: PublishAsync on
// one connection keeps the order, and a failure makes the relay wait for
// what is in flight, delete what was acked and read again from the head.
func (r *Relay) lead(ctx context.Context, owner string) error {
	renewed := time.Now()
	renew := func() bool {
		if time.Since(renewed) < r.renewAfter {
			return true
		}
		ok, err := r.renew(ctx, owner)
		switch {
		case err != nil:
			// Redis is flaky: keep going while the lease surely still holds.
			return time.Since(renewed)+r.ackWait+r.block < r.leaseTTL
		case !ok:
			r.logger.Info("outbox relay lost its lease")
			return false
		}
		renewed = time.Now()
		return true
	}
	bo := r.newBackoff()
	var (
		natsDown, redisDown bool
		unreplicated        bool // the last Sync fell short
		downSince           time.Time
		inflight            *round
		lastID              = "0-0" // read after this id; "0-0" is the head
	)
	// settle waits for a round's acks and deletes the acked entries.
	settle := func(rd *round) error {
		err := r.await(ctx, rd)
		if r.crashAfterPublish && len(rd.acked) > 0 {
			return errCrash
		}
		if len(rd.acked) > 0 {
			if derr := r.o.rdb.XDel(context.WithoutCancel(ctx), r.o.key, rd.acked...).Err(); derr != nil {
				// They are published: they are read and published again
				// later, and JetStream drops the duplicates.
				r.logger.Warn("outbox relay cannot delete published entries; they will be deduplicated", "error", derr)
				lastID = "0-0"
			}
			r.m.published.Add(int64(len(rd.acked)))
		}
		if err != nil {
			r.m.retried.Add(int64(rd.read - len(rd.acked)))
		}
		return err
	}
	// restart settles what is in flight and makes the next read start at
	// the head. It returns only the test hook's errCrash.
	restart := func() error {
		if inflight != nil {
			err := settle(inflight)
			inflight = nil
			if errors.Is(err, errCrash) {
				return err
			}
		}
		lastID = "0-0"
		return nil
	}
	// fail handles a failed round: settle what is in flight, log once per
	// outage, back off, and read again from the head.
	fail := func(perr error) error {
		r.m.publishErrors.Inc()
		if err := restart(); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if !natsDown {
			r.logger.Warn("outbox relay cannot publish; keeping the entries and retrying", "error", perr)
			natsDown, downSince = true, time.Now()
		}
		if errors.Is(perr, jetstream.ErrNoStreamResponse) || errors.Is(perr, nats.ErrNoResponders) {
			// The stream may have been deleted: create it again.
			r.ensureStream(ctx)
		}
		bo.Wait(ctx)
		return nil
	}
	// stall handles a round that could not read, or not yet publish, what
	// Redis holds: log once while *down, settle what is in flight, back
	// off, and read again from the head. When stop, the relay returns err.
	stall := func(down *bool, msg string, cause error) (stop bool, err error) {
		if ctx.Err() != nil {
			return true, nil
		}
		if !*down {
			r.logger.Warn(msg, "error", cause)
			*down = true
		}
		if err := restart(); err != nil {
			return true, err
		}
		bo.Wait(ctx)
		return false, nil
	}
	// recovered logs once that a stall is over.
	recovered := func(down *bool, msg string) {
		if *down {
			r.logger.Info(msg)
			*down = false
		}
	}
	defer func() {
		if inflight != nil {
			_ = settle(inflight)
		}
	}()
	for ctx.Err() == nil {
		if !renew() {
			return nil
		}
		block := r.block
		if inflight != nil {
			block = -1 // do not wait for new entries while acks are due
		}
		res, err := r.o.rdb.XRead(ctx, &redis.XReadArgs{
			Streams: []string{r.o.key, lastID},
			Count:   int64(r.opts.BatchSize),
			Block:   block,
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			if stop, err := stall(&redisDown, "outbox relay cannot read the outbox; retrying", err); stop {
				return err
			}
			continue
		}
		recovered(&redisDown, "outbox relay reads the outbox again")
		var next *round
		if len(res) > 0 && len(res[0].Messages) > 0 {
			if !renew() {
				return nil
			}
			// Publish only what the replicas hold (redisconn.Sync; free
			// unless the client waits for replicas): an entry a failover
			// could lose has no event.
			if err := redisconn.Sync(ctx, r.o.rdb); err != nil {
				if stop, err := stall(&unreplicated, "outbox relay waits for the redis replicas to hold the entries before publishing", err); stop {
					return err
				}
				continue
			}
			recovered(&unreplicated, "outbox relay: the redis replicas hold the entries again")
			entries := res[0].Messages
			lastID = entries[len(entries)-1].ID
			next = r.send(ctx, entries)
		}
		if inflight != nil {
			err := settle(inflight)
			inflight = nil
			if errors.Is(err, errCrash) {
				return err
			}
			if err != nil {
				inflight = next
				if err := fail(err); err != nil {
					return err
				}
				continue
			}
		}
		if next == nil {
			continue
		}
		if next.err != nil {
			inflight = next
			if err := fail(next.err); err != nil {
				return err
			}
			continue
		}
		inflight = next
		if natsDown {
			r.logger.Info("outbox relay publishes again", "outage", time.Since(downSince).Round(time.Millisecond))
			natsDown = false
		}
		bo.Reset()
	}
	return nil
}

// round is one batch of entries sent and waiting for acks.
type round struct {
	read  int // entries read for it
	sent  []sentEntry
	at    time.Time
	err   error    // first send or ack failure
	acked []string // outbox ids acked, in order
}

type sentEntry struct {
	id   string // outbox entry id
	fut  jetstream.PubAckFuture
	span trace.Span // the publish span; nil without tracing
}

// send publishes entries in order without waiting for the acks. It stops
// at the first entry it cannot send.
func (r *Relay) send(ctx context.Context, entries []redis.XMessage) *round {
	rd := &round{at: time.Now(), read: len(entries), sent: make([]sentEntry, 0, len(entries))}
	if nc := r.js.Conn(); nc != nil && !nc.IsConnected() {
		rd.err = errNotConnected
		return rd
	}
	prefix := "landscape." + r.o.context + "."
	for _, e := range entries {
		subj, _ := e.Values["s"].(string)
		id, _ := e.Values["i"].(string)
		body, _ := e.Values["b"].(string)
		if id == "" || !strings.HasPrefix(subj, prefix) || len(subj) == len(prefix) {
			r.reject(ctx, e, subj)
			rd.read--
			continue
		}
		msg := &nats.Msg{Subject: subj, Data: []byte(body), Header: nats.Header{}}
		msg.Header.Set("Content-Type", cloudevent.ContentType)
		span := r.startSpan(msg, body, id)
		f, err := r.js.PublishMsgAsync(msg, jetstream.WithMsgID(id))
		if err != nil {
			endSpan(span, err)
			rd.err = err
			break
		}
		rd.sent = append(rd.sent, sentEntry{id: e.ID, fut: f, span: span})
	}
	return rd
}

// await waits for the acks of a round (at most ackWait after it was sent)
// and records the acked entries; it returns the first failure.
func (r *Relay) await(ctx context.Context, rd *round) error {
	timer := time.NewTimer(max(0, r.ackWait-time.Since(rd.at)))
	defer timer.Stop()
	for i, s := range rd.sent {
		select {
		case <-s.fut.Ok():
			rd.acked = append(rd.acked, s.id)
			endSpan(s.span, nil)
		case err := <-s.fut.Err():
			if rd.err == nil {
				rd.err = err
			}
			endSpan(s.span, err)
		case <-timer.C:
			if rd.err == nil {
				rd.err = jetstream.ErrAsyncPublishTimeout
			}
			endSpans(rd.sent[i:], rd.err)
			return rd.err
		case <-ctx.Done():
			if rd.err == nil {
				rd.err = ctx.Err()
			}
			endSpans(rd.sent[i:], rd.err)
			return rd.err
		}
	}
	return rd.err
}

// startSpan starts the publish span of an entry as a child of the commit
// that wrote it (the event's traceparent extension attribute), and puts
// its own trace context in the message's traceparent header. It returns
// nil without tracing.
func (r *Relay) startSpan(msg *nats.Msg, body, id string) trace.Span {
	if r.tracer == nil {
		return nil
	}
	parent := telemetry.WithTraceparent(context.Background(), cloudevent.TraceparentOf([]byte(body)))
	ctx, span := r.tracer.Start(parent, r.o.context+" publish", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", msg.Subject),
			attribute.String("messaging.message.id", id),
		))
	if tp := telemetry.Traceparent(ctx); tp != "" {
		msg.Header.Set(telemetry.TraceparentHeader, tp)
	}
	return span
}

// endSpan ends a publish span (nil: none), failed when err is set.
func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
	}
	span.End()
}

func endSpans(sent []sentEntry, err error) {
	for _, s := range sent {
		endSpan(s.span, err)
	}
}

// reject moves an entry that can never be published to the rejected stream.
func (r *Relay) reject(ctx context.Context, e redis.XMessage, subject string) {
	_, err := r.o.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: r.o.RejectedKey(), Values: e.Values})
		p.XDel(ctx, r.o.key, e.ID)
		return nil
	})
	r.logger.Error("outbox entry cannot be published; moved aside", "entry", e.ID, "subject", subject,
		"to", r.o.RejectedKey(), "error", err)
}

// StreamConfig is the configuration the relay gives the context's stream.
func (r *Relay) StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:       cloudevent.StreamName(r.o.context),
		Subjects:   []string{cloudevent.StreamSubjects(r.o.context)},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		Discard:    jetstream.DiscardOld,
		MaxAge:     r.opts.Retention,
		Duplicates: DuplicateWindow,
		Replicas:   r.opts.Replicas,
	}
}

// ensureStream creates the stream or updates the settings it owns
// (natsconn.EnsureStream), keeping the rest as an operator set them. It
// retries until it succeeds or ctx ends.
func (r *Relay) ensureStream(ctx context.Context) bool {
	bo := r.newBackoff()
	logged := false
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := natsconn.EnsureStream(cctx, r.js, r.StreamConfig())
		cancel()
		if err == nil {
			if logged {
				r.logger.Info("outbox relay stream ready", "stream", r.StreamConfig().Name)
			}
			return true
		}
		if !logged && ctx.Err() == nil {
			r.logger.Warn("outbox relay cannot create or update its stream; retrying", "stream", r.StreamConfig().Name, "error", err)
			logged = true
		}
		bo.Wait(ctx)
	}
	return false
}

func (r *Relay) acquire(ctx context.Context, owner string) (bool, error) {
	ok, err := r.o.rdb.SetNX(ctx, r.o.LeaseKey(), owner, r.leaseTTL).Result()
	if err != nil || ok {
		return ok, err
	}
	// Still ours (a renewal that timed out on our side)?
	return r.renew(ctx, owner)
}

func (r *Relay) renew(ctx context.Context, owner string) (bool, error) {
	n, err := renewScript.Run(ctx, r.o.rdb, []string{r.o.LeaseKey()}, owner, r.leaseTTL.Milliseconds()).Int()
	return n == 1, err
}

func (r *Relay) release(owner string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = releaseScript.Run(ctx, r.o.rdb, []string{r.o.LeaseKey()}, owner).Err()
}

var renewScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
  return 1
end
return 0
`)

var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
`)

func newOwner() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *Relay) newBackoff() *retry.Backoff {
	return &retry.Backoff{Min: r.backoffMin, Max: r.backoffMax}
}
