// Package subscriber consumes Landscape events from JetStream with a durable
// pull consumer: explicit ack, bounded redelivery with backoff, and a
// dead-letter stream for events that keep failing.
//
// Handlers run one at a time per Run, in stream order; with
// Config.Parallel, the events of one Config.Key do. RunBatch hands a
// BatchHandler the events that arrived together (up to Config.Batch), for
// a consumer whose work per event is mostly a round trip (the audit trail);
// a batch that fails is applied again one event at a time, so that retries
// and dead letters stay per event. A handler must be
// idempotent by revision: apply the event with outbox Tx.ApplyOnce(key,
// revision) in the same step as the state change, and treat the resulting
// conflict on that key as "already applied" (see outbox.AlreadyApplied):
//
//	err := tx.ApplyOnce(seenKey, p.GetRevision()).PutRecord(...).Commit(ctx)
//	if outbox.AlreadyApplied(err, seenKey) {
//		return nil // a repeated or stale event changes nothing
//	}
//	return err
//
// A handler error is retried after a delay (Delays) up to MaxDeliver
// deliveries in all; after the last failed delivery the message is published
// to the service's dead-letter stream (natsconn.DeadLetterStream, subject
// landscape.dlq.<service>.<durable>) with its body and headers plus
// HeaderOriginalSubject and HeaderError, and only then terminated. A body
// that is not a CloudEvent is dead-lettered at once. A message whose
// MaxDeliver deliveries all timed out (AckWait) is dead-lettered on the
// delivery after, without calling the handler again. Handler errors end up
// in HeaderError and in logs: keep them short and never put a token in one.
package subscriber

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/eventctx"
	promreg "github.com/landscape-dev/landscape/pkg/metrics"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/pkg/retry"
	"github.com/landscape-dev/landscape/pkg/telemetry"
)

// Handler applies one event. Returning nil acks it; an error redelivers it
// with backoff, up to MaxDeliver times, then dead-letters it. Handlers must
// be idempotent: use the event payload's revision (outbox Tx.ApplyOnce).
type Handler func(ctx context.Context, ev cloudevent.Event) error

// BatchHandler applies events in stream order, all or none: nil acks them
// all; an error makes the subscriber hand them over again one at a time
// (each in a batch of its own, retried and dead-lettered alone, as a
// Handler's), so it must be idempotent like a Handler. ErrRejected in a
// batch of one dead-letters that event.
type BatchHandler func(ctx context.Context, evs []cloudevent.Event) error

// Config names the consumer.
type Config struct {
	// Service is the consuming service ("registry", "formation"): its
	// dead-letter stream receives this consumer's dead letters.
	Service       string
	Stream        string // e.g. LANDSCAPE_REGISTRY
	Durable       string // e.g. formation-reactions
	FilterSubject string // e.g. landscape.registry.*.system.>
	MaxDeliver    int    // default 5
	// Batch is the most events RunBatch hands its handler at once: those
	// that arrived while the last batch was handled; default 64. Run
	// hands over one at a time.
	Batch int
	// Parallel, above 1, handles up to that many events (or batches) at once:
	// the events of one Key one after another in stream order, those of
	// different keys side by side. The handler must then retry its own
	// conflicts on records that events of different keys share.
	Parallel int
	// Key is what an event changes (with Parallel), e.g. its system.
	Key func(ev cloudevent.Event) string

	// Events, when set, are the events (<entity>.<event>, the end of the
	// subject) the handler reads; the filter's other events are acked
	// unread. (A consumer takes one filter subject on the NATS servers
	// before 2.10 that we support.)
	Events []string

	// Delays between a failed delivery and the next one, by failed delivery
	// (the last repeats); default DefaultDelays.
	Delays []time.Duration
	// AckWait is how long a delivery may take before the server redelivers
	// it; default 30s.
	AckWait time.Duration
	// DeadLetterReplicas is the dead-letter stream's replica count (3 on a
	// 3-node cluster); 0 creates it with the server's default and keeps an
	// existing stream's.
	DeadLetterReplicas int
	// Registerer receives the subscriber's Prometheus counters (handled,
	// retried, dead-lettered, labelled with the durable); nil: none.
	Registerer prometheus.Registerer
	// TracerProvider makes a consumer span per delivery that continues the
	// trace of the event's traceparent extension; nil: no spans.
	TracerProvider trace.TracerProvider
}

// Dead letters.
const (
	// DeadLetterRetention is the dead-letter stream's max age.
	DeadLetterRetention = 90 * 24 * time.Hour
	// HeaderOriginalSubject holds the subject the event was published on.
	HeaderOriginalSubject = "Landscape-Original-Subject"
	// HeaderError holds the last handler error's text (at most 256 bytes).
	HeaderError = "Landscape-Error"
	// HeaderDurable names the consumer that gave up.
	HeaderDurable = "Landscape-Durable"
)

// ErrRejected marks an event that a handler refuses for good (it
// contradicts what the consumer knows): it is dead-lettered at once, never
// retried and never applied. Wrap it with Reject. An error that wraps
// resource.ErrImplausibleRevision is treated the same.
var ErrRejected = errors.New("event refused")

// Reject wraps err so that the subscriber dead-letters the event at once.
func Reject(err error) error { return fmt.Errorf("%w: %w", ErrRejected, err) }

// CheckEnvelope checks that an event says what its NATS subject says:
// subject landscape.<context>.<ga>.<entity>.<event> carries an event whose
// source is /landscape/<context>, whose globalaccount extension is <ga>
// and whose CloudEvent subject (the resource name) lies in <ga>. A
// message that fails is not an event the owning service published.
func CheckEnvelope(natsSubject string, ev cloudevent.Event) error {
	parts := strings.Split(natsSubject, ".")
	if len(parts) < 5 || parts[0] != "landscape" {
		return fmt.Errorf("subject %q is not landscape.<context>.<globalAccount>.<entity>.<event>", natsSubject)
	}
	ctxName, ga := parts[1], parts[2]
	switch {
	case ev.Source != "/landscape/"+ctxName:
		return fmt.Errorf("source %q does not match subject %q", ev.Source, natsSubject)
	case ev.GlobalAccount != ga:
		return fmt.Errorf("global account %q does not match subject %q", ev.GlobalAccount, natsSubject)
	case resource.GlobalAccountOf(ev.Subject) != ga:
		return fmt.Errorf("resource %q is not in the global account of subject %q", ev.Subject, natsSubject)
	}
	return nil
}

// DefaultDelays are the waits before the 2nd, 3rd, 4th and 5th delivery.
var DefaultDelays = []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second, 5 * time.Second}

// Run consumes until ctx ends, retrying while NATS or the stream is not
// there yet. It returns nil when ctx ends, or an error for a bad Config.
func Run(ctx context.Context, js jetstream.JetStream, cfg Config, h Handler, logger *slog.Logger) error {
	var bh BatchHandler // nil when h is: run refuses it
	if h != nil {
		// What the handler changes keeps the event's actor and names it
		// as its cause.
		bh = func(ctx context.Context, evs []cloudevent.Event) error {
			return h(eventctx.Reaction(ctx, evs[0].ID, evs[0].Actor), evs[0])
		}
	}
	cfg.Batch = 1
	return run(ctx, js, cfg, bh, logger)
}

// RunBatch is Run with a BatchHandler: the events that arrived while the
// last batch was handled, up to cfg.Batch, go to h together.
func RunBatch(ctx context.Context, js jetstream.JetStream, cfg Config, h BatchHandler, logger *slog.Logger) error {
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	return run(ctx, js, cfg, h, logger)
}

func run(ctx context.Context, js jetstream.JetStream, cfg Config, h BatchHandler, logger *slog.Logger) error {
	if cfg.Service == "" || cfg.Stream == "" || cfg.Durable == "" || h == nil {
		return errors.New("subscriber: service, stream, durable and handler are required")
	}
	if cfg.Parallel > 1 && cfg.Key == nil {
		return errors.New("subscriber: Parallel needs a Key")
	}
	for _, name := range []string{cfg.Service, cfg.Durable} {
		if strings.ContainsAny(name, ".*> \t") {
			return fmt.Errorf("subscriber: service and durable must not contain '.', '*', '>' or spaces: %q", name)
		}
	}
	if cfg.MaxDeliver <= 0 {
		cfg.MaxDeliver = 5
	}
	if len(cfg.Delays) == 0 {
		cfg.Delays = DefaultDelays
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &sub{js: js, cfg: cfg, h: h, m: newMetrics(cfg.Durable, cfg.Registerer), tracer: telemetry.Tracer(cfg.TracerProvider, "subscriber"),
		logger: logger.With("component", "subscriber", "stream", cfg.Stream, "durable", cfg.Durable)}
	return s.run(ctx)
}

type sub struct {
	js     jetstream.JetStream
	cfg    Config
	h      BatchHandler
	logger *slog.Logger
	m      *metrics
	tracer trace.Tracer // nil: no spans
}

func (s *sub) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       s.cfg.Durable,
		FilterSubject: s.cfg.FilterSubject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		// One delivery more than the handler gets: when every delivery
		// timed out (a hung handler, a crashed process), the last one
		// dead-letters the message instead of the server dropping it.
		MaxDeliver:    s.cfg.MaxDeliver + 1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxAckPending: 1000,
	}
}

func (s *sub) run(ctx context.Context) error {
	go s.logLoop(ctx, 30*time.Second)
	if s.cfg.Registerer != nil {
		go s.lagLoop(ctx, 5*time.Second)
	}
	cons, ok := s.setup(ctx)
	if !ok {
		return nil
	}
	deliver := func(m jetstream.Msg) {
		if d, ok := s.accept(ctx, m); ok {
			s.handle(ctx, []delivery{d})
		}
	}
	if s.cfg.Batch > 1 || s.cfg.Parallel > 1 {
		// The consumer's callback reads each message and queues it in the
		// lane of its key (one lane without Parallel); each lane handles
		// its queue in order, as many at once as are queued, up to Batch.
		lanes := make([]chan delivery, max(s.cfg.Parallel, 1))
		var wg sync.WaitGroup
		for i := range lanes {
			lanes[i] = make(chan delivery, max(s.cfg.Batch, 16))
			wg.Go(func() { s.lane(ctx, lanes[i]) })
		}
		defer wg.Wait()
		deliver = func(m jetstream.Msg) {
			d, ok := s.accept(ctx, m)
			if !ok {
				return
			}
			lane := lanes[0]
			if len(lanes) > 1 {
				h := fnv.New32a()
				_, _ = h.Write([]byte(s.cfg.Key(d.ev)))
				lane = lanes[h.Sum32()%uint32(len(lanes))]
			}
			select {
			case lane <- d:
			case <-ctx.Done():
				d.span.End()
				_ = m.Nak() // shutting down: redelivered to whoever runs next
			}
		}
	}
	for ctx.Err() == nil {
		cc, err := cons.Consume(deliver,
			jetstream.PullMaxMessages(64),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				s.logger.Debug("subscriber pull", "error", err)
			}))
		if err != nil {
			s.logger.Warn("subscriber cannot consume; retrying", "error", err)
			retry.Sleep(ctx, time.Second)
			if cons, ok = s.setup(ctx); !ok {
				return nil
			}
			continue
		}
		select {
		case <-ctx.Done():
			cc.Stop()
			<-cc.Closed()
			return nil
		case <-cc.Closed():
			// The consumer went away (deleted); set it up again.
			if cons, ok = s.setup(ctx); !ok {
				return nil
			}
		}
	}
	return nil
}

// setup creates the dead-letter stream and the consumer, retrying until it
// works or ctx ends.
func (s *sub) setup(ctx context.Context) (jetstream.Consumer, bool) {
	bo := retry.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}
	logged := false
	for ctx.Err() == nil {
		cons, err := s.trySetup(ctx)
		if err == nil {
			if logged {
				s.logger.Info("subscriber ready")
			}
			return cons, true
		}
		if !logged && ctx.Err() == nil {
			s.logger.Warn("subscriber cannot set up its consumer yet; retrying", "error", err)
			logged = true
		}
		bo.Wait(ctx)
	}
	return nil, false
}

func (s *sub) trySetup(ctx context.Context) (jetstream.Consumer, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := ensureDeadLetterStream(cctx, s.js, s.cfg.Service, s.cfg.DeadLetterReplicas); err != nil {
		return nil, fmt.Errorf("dead-letter stream: %w", err)
	}
	return s.js.CreateOrUpdateConsumer(cctx, s.cfg.Stream, s.consumerConfig())
}

// ensureDeadLetterStream creates service's dead-letter stream, or brings
// an existing one in line (natsconn.EnsureStream); replicas 0 keeps its
// replica count.
func ensureDeadLetterStream(ctx context.Context, js jetstream.JetStream, service string, replicas int) error {
	return natsconn.EnsureStream(ctx, js, jetstream.StreamConfig{
		Name:       natsconn.DeadLetterStream(service),
		Subjects:   []string{natsconn.DeadLetterSubjects(service)},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     DeadLetterRetention,
		Duplicates: 2 * time.Minute,
		Replicas:   replicas,
	})
}

// lane hands the deliveries of its queue to handle in order, as many at
// once as are queued (up to Batch), until ctx ends; then it gives back
// what is left.
func (s *sub) lane(ctx context.Context, queue <-chan delivery) {
	batch := make([]delivery, 0, s.cfg.Batch)
	for {
		select {
		case d := <-queue:
			batch = append(batch[:0], d)
		case <-ctx.Done():
			for {
				select {
				case d := <-queue:
					d.span.End()
					_ = d.m.Nak()
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < s.cfg.Batch {
			select {
			case d := <-queue:
				batch = append(batch, d)
			default:
				break fill
			}
		}
		s.handle(ctx, batch)
	}
}

// delivery is a message on its way to the handler.
type delivery struct {
	m    jetstream.Msg
	md   *jetstream.MsgMetadata
	ev   cloudevent.Event
	ctx  context.Context // with the delivery's span
	span trace.Span
}

// handle hands the events of ds to the handler at once, and each of them
// again alone when that fails.
func (s *sub) handle(ctx context.Context, ds []delivery) {
	if len(ds) > 1 {
		evs := make([]cloudevent.Event, len(ds))
		for i, d := range ds {
			evs[i] = d.ev
		}
		if s.safeHandle(ctx, evs) == nil {
			for _, d := range ds {
				s.settle(d, nil)
			}
			return
		}
	}
	for _, d := range ds {
		s.settle(d, s.safeHandle(d.ctx, []cloudevent.Event{d.ev}))
	}
}

// accept reads a message; it reports false when it settled the message
// itself: one delivery too many, an event the handler does not read, a
// body that is not a CloudEvent of the subject.
func (s *sub) accept(ctx context.Context, m jetstream.Msg) (delivery, bool) {
	md, err := m.Metadata()
	if err != nil {
		s.logger.Error("subscriber got a message without metadata", "subject", m.Subject(), "error", err)
		_ = m.Term()
		return delivery{}, false
	}
	if int(md.NumDelivered) > s.cfg.MaxDeliver {
		s.deadLetter(ctx, m, md, fmt.Errorf("not acknowledged within %s in %d deliveries", s.cfg.AckWait, s.cfg.MaxDeliver))
		return delivery{}, false
	}
	if md.NumDelivered > 1 {
		s.m.redelivered.Inc()
	}
	sctx, span := s.startSpan(ctx, m, md)
	if !s.wanted(m.Subject()) {
		span.SetAttributes(attribute.Bool("landscape.handled", false))
		span.End()
		_ = m.Ack()
		return delivery{}, false
	}
	ev, err := cloudevent.Decode(m.Data())
	if err == nil {
		err = CheckEnvelope(m.Subject(), ev)
	}
	if err != nil {
		// Never gets better: dead-letter at once.
		span.End()
		s.logger.Warn("subscriber refused an event; dead-lettered", "subject", m.Subject(), "error", err)
		s.deadLetter(ctx, m, md, err)
		return delivery{}, false
	}
	return delivery{m: m, md: md, ev: ev, ctx: sctx, span: span}, true
}

// settle acks, retries or dead-letters a delivery by its handler's error.
func (s *sub) settle(d delivery, err error) {
	defer d.span.End()
	m, md, ev := d.m, d.md, d.ev
	if err != nil {
		d.span.RecordError(err)
		d.span.SetStatus(codes.Error, "handler failed")
	}
	if errors.Is(err, ErrRejected) || errors.Is(err, resource.ErrImplausibleRevision) {
		s.logger.Warn("subscriber handler refused an event; dead-lettered", "id", ev.ID, "subject", m.Subject(), "error", err)
		s.deadLetter(d.ctx, m, md, err)
		return
	}
	if err == nil {
		if aerr := m.Ack(); aerr != nil {
			// The server redelivers it; the handler is idempotent.
			s.logger.Debug("subscriber ack failed", "id", ev.ID, "error", aerr)
		}
		s.m.handled.Inc()
		return
	}
	if d.ctx.Err() != nil {
		// Shutting down: let it be redelivered to whoever runs next.
		_ = m.Nak()
		return
	}
	if int(md.NumDelivered) >= s.cfg.MaxDeliver {
		s.deadLetter(d.ctx, m, md, err)
		return
	}
	s.m.retried.Inc()
	if md.NumDelivered == 1 {
		s.logger.Warn("subscriber handler failed; retrying", "id", ev.ID, "subject", m.Subject(), "error", err)
	}
	i := min(int(md.NumDelivered)-1, len(s.cfg.Delays)-1)
	_ = m.NakWithDelay(s.cfg.Delays[max(i, 0)])
}

// startSpan starts the consumer span of a delivery, continuing the trace
// of the event's traceparent extension attribute; the handler's calls and
// commits are its children. Without a tracer it is a no-op span.
func (s *sub) startSpan(ctx context.Context, m jetstream.Msg, md *jetstream.MsgMetadata) (context.Context, trace.Span) {
	if s.tracer == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	parent := telemetry.WithTraceparent(ctx, cloudevent.TraceparentOf(m.Data()))
	return s.tracer.Start(parent, s.cfg.Durable+" process", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", m.Subject()),
			attribute.String("messaging.consumer.group.name", s.cfg.Durable),
			attribute.Int64("messaging.message.delivery_count", int64(md.NumDelivered)),
		))
}

// wanted reports whether the handler reads the event on subject.
func (s *sub) wanted(subject string) bool {
	if len(s.cfg.Events) == 0 {
		return true
	}
	for _, e := range s.cfg.Events {
		if len(subject) > len(e) && subject[len(subject)-len(e)-1] == '.' && strings.HasSuffix(subject, e) {
			return true
		}
	}
	return false
}

// safeHandle turns a handler panic into an error.
func (s *sub) safeHandle(ctx context.Context, evs []cloudevent.Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return s.h(ctx, evs)
}

// deadLetter publishes m to the dead-letter stream and terminates it. When
// the publish fails, the message is left to be redelivered.
func (s *sub) deadLetter(ctx context.Context, m jetstream.Msg, md *jetstream.MsgMetadata, cause error) {
	dl := &nats.Msg{Subject: natsconn.DeadLetterSubject(s.cfg.Service, s.cfg.Durable), Data: m.Data(), Header: nats.Header{}}
	for k, v := range m.Headers() {
		dl.Header[k] = append([]string(nil), v...)
	}
	dl.Header.Set(HeaderOriginalSubject, m.Subject())
	dl.Header.Set(HeaderError, truncate(cause.Error(), 256))
	dl.Header.Set(HeaderDurable, s.cfg.Durable)
	// One dead letter per durable and stream sequence, even when retried.
	dl.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s.%s.%d", s.cfg.Durable, md.Stream, md.Sequence.Stream))
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := s.js.PublishMsg(pctx, dl); err != nil {
		s.logger.Error("subscriber cannot dead-letter a message; it will be redelivered", "subject", m.Subject(), "error", err)
		_ = m.NakWithDelay(s.cfg.Delays[len(s.cfg.Delays)-1])
		return
	}
	_ = m.Term()
	s.m.deadLettered.Inc()
	s.logger.Error("subscriber dead-lettered a message", "subject", m.Subject(), "streamSeq", md.Sequence.Stream,
		"deliveries", md.NumDelivered, "to", dl.Subject, "error", truncate(cause.Error(), 256))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

type metrics struct {
	handled, retried, deadLettered, redelivered *promreg.Counter
	pending, ackPending                         prometheus.Gauge
}

func newMetrics(durable string, reg prometheus.Registerer) *metrics {
	m := promreg.NewSet(reg, prometheus.Labels{"durable": durable})
	return &metrics{
		handled:      m.Counter("landscape_subscriber_handled_total", "Events handled and acked."),
		retried:      m.Counter("landscape_subscriber_retried_total", "Handler failures that were retried."),
		deadLettered: m.Counter("landscape_subscriber_dead_lettered_total", "Events sent to the dead-letter stream."),
		redelivered:  m.Counter("landscape_subscriber_redelivered_total", "Deliveries of an event that had been delivered before."),
		pending:      m.Gauge("landscape_subscriber_pending", "Events in the stream not yet delivered to the consumer (its lag)."),
		ackPending:   m.Gauge("landscape_subscriber_ack_pending", "Events delivered and not yet acknowledged."),
	}
}

// lagLoop reads the consumer's lag from the server every period.
func (s *sub) lagLoop(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, period)
		if c, err := s.js.Consumer(cctx, s.cfg.Stream, s.cfg.Durable); err == nil {
			if info, err := c.Info(cctx); err == nil {
				s.m.pending.Set(float64(info.NumPending))
				s.m.ackPending.Set(float64(info.NumAckPending))
			}
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// logLoop logs the counts every period when they changed.
func (s *sub) logLoop(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	var last [3]int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := [3]int64{s.m.handled.Load(), s.m.retried.Load(), s.m.deadLettered.Load()}
		if now != last {
			s.logger.Info("subscriber stats", "handled", now[0], "retried", now[1], "deadLettered", now[2])
			last = now
		}
	}
}
