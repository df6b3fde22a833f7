package outbox_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/eventctx"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/subscriber"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

// A commit under a span is a span of its own (outbox.commit), and each of
// its events carries that span's W3C traceparent as the CloudEvents
// extension attribute traceparent. The relay publishes the event in a span
// of that trace (a child of the commit span), with the publish span's
// context in the NATS header traceparent; a subscriber continues the same
// trace in its consumer span, and the handler runs in it.
func TestRelayAndSubscriberContinueTheEventsTrace(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ob, rdb, prefix := newOutbox(t)
	js := testkit.JetStream(t, testkit.NATS(t).URL())

	msg := testkit.RevisionEvent(t, testSpec, "traced", 1)
	// A traceparent attribute from elsewhere in the context is replaced
	// by the commit span's.
	stray := eventctx.With(t.Context(), cloudevent.TraceparentAttr, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	ctx, call := tp.Tracer("test").Start(stray, "call")
	traceID := call.SpanContext().TraceID().String()
	key := prefix + ":" + testContext + ":{ga}:system:traced"
	if err := ob.Tx().PutRecord(key, 1, []byte("1")).Emit(msg).Commit(ctx); err != nil {
		t.Fatal(err)
	}
	call.End()
	var commitSpan string
	for _, s := range exp.GetSpans() {
		if s.Name == "outbox.commit" {
			commitSpan = s.SpanContext.SpanID().String()
		}
	}
	if commitSpan == "" {
		t.Fatal("no outbox.commit span")
	}
	traceparent := "00-" + traceID + "-" + commitSpan + "-01"
	stored, err := rdb.XRange(t.Context(), ob.Key(), "-", "+").Result()
	if err != nil || len(stored) != 1 {
		t.Fatalf("outbox entries: %v, %v", stored, err)
	}
	if got := cloudevent.TraceparentOf([]byte(stored[0].Values["b"].(string))); got != traceparent {
		t.Fatalf("outbox entry's traceparent = %q, want the commit span's %q", got, traceparent)
	}

	// The relay starts once the entry is read back.
	testkit.Go(t, outbox.NewRelay(ob, js, testkit.Logger(t), outbox.RelayOptions{TracerProvider: tp}).Run)

	handled := make(chan trace.SpanContext, 1)
	testkit.Go(t, func(ctx context.Context) error {
		return subscriber.Run(ctx, js, subscriber.Config{
			Service: "registry", Stream: cloudevent.StreamName(testContext), Durable: "traced", FilterSubject: cloudevent.StreamSubjects(testContext),
			TracerProvider: tp,
		}, func(ctx context.Context, _ cloudevent.Event) error {
			select {
			case handled <- trace.SpanContextFromContext(ctx):
			default:
			}
			return nil
		}, testkit.Logger(t))
	})
	var inHandler trace.SpanContext
	select {
	case inHandler = <-handled:
	case <-time.After(60 * time.Second):
		t.Fatal("the subscriber did not handle the event in 60 s")
	}
	if inHandler.TraceID().String() != traceID {
		t.Errorf("handler runs in trace %s, want %s", inHandler.TraceID(), traceID)
	}

	var spans tracetest.SpanStubs
	byName := map[string]tracetest.SpanStub{}
	testkit.Eventually(t, 10*time.Second, "commit, publish and consumer spans", func() bool {
		spans = exp.GetSpans()
		clear(byName)
		for _, s := range spans {
			byName[s.Name] = s
		}
		_, c := byName["outbox.commit"]
		_, p := byName[testContext+" publish"]
		_, s := byName["traced process"]
		return c && p && s
	})
	if c := byName["outbox.commit"]; c.Parent.SpanID() != call.SpanContext().SpanID() {
		t.Errorf("outbox.commit is not a child of the call")
	}
	pub, cons := byName[testContext+" publish"], byName["traced process"]
	if pub.SpanContext.TraceID().String() != traceID || pub.Parent.SpanID().String() != commitSpan || pub.SpanKind != trace.SpanKindProducer {
		t.Errorf("publish span: trace %s parent %s kind %v; want trace %s parent %s, producer", pub.SpanContext.TraceID(), pub.Parent.SpanID(), pub.SpanKind, traceID, commitSpan)
	}
	if cons.SpanContext.TraceID().String() != traceID || cons.Parent.SpanID().String() != commitSpan || cons.SpanKind != trace.SpanKindConsumer {
		t.Errorf("consumer span: trace %s parent %s kind %v; want trace %s parent %s, consumer", cons.SpanContext.TraceID(), cons.Parent.SpanID(), cons.SpanKind, traceID, commitSpan)
	}
	if inHandler.SpanID() != cons.SpanContext.SpanID() {
		t.Errorf("the handler does not run in the consumer span")
	}

	// On NATS: the envelope keeps the commit's traceparent, the header
	// names the publish span.
	c, err := js.OrderedConsumer(t.Context(), cloudevent.StreamName(testContext), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got := cloudevent.TraceparentOf(m.Data()); got != traceparent {
		t.Errorf("published envelope traceparent %q, want %q", got, traceparent)
	}
	if h := m.Headers().Get("traceparent"); !strings.HasPrefix(h, "00-"+traceID+"-"+pub.SpanContext.SpanID().String()) {
		t.Errorf("NATS header traceparent %q, want the publish span %s of trace %s", h, pub.SpanContext.SpanID(), traceID)
	}
}

// Untraced commits, relays and subscribers make no spans and add no
// header (tracing off costs nothing).
func TestUntracedCommitAddsNoTraceparent(t *testing.T) {
	t.Parallel()
	_, prefix, js, ob := startRelay(t)
	msg := commit(t, t.Context(), ob, prefix, "plain", 1)
	var m jetstream.Msg
	testkit.Eventually(t, 10*time.Second, "the event on NATS", func() bool {
		c, err := js.OrderedConsumer(t.Context(), cloudevent.StreamName(testContext), jetstream.OrderedConsumerConfig{})
		if err != nil {
			return false
		}
		m, err = c.Next(jetstream.FetchMaxWait(time.Second))
		return err == nil
	})
	if !bytes.Equal(m.Data(), msg.Body) || m.Headers().Get("traceparent") != "" {
		t.Errorf("untraced event changed: header %q", m.Headers().Get("traceparent"))
	}
}
