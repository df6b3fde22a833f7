package subscriber_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/subscriber"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

// The subscriber reads a context's stream as the outbox relay fills it;
// these tests publish to that stream directly (the relay's own tests are
// in pkg/outbox, which also checks apply-once consumption end to end).

const testContext = "registry"

var testSpec = cloudevent.Spec{Context: testContext, Name: "system.updated"}

// startStream starts a NATS server with the context's stream.
func startStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	js := testkit.JetStream(t, testkit.NATS(t).URL())
	err := natsconn.EnsureStream(t.Context(), js, jetstream.StreamConfig{
		Name: cloudevent.StreamName(testContext), Subjects: []string{cloudevent.StreamSubjects(testContext)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// publish publishes revision rev of a resource's event as the relay would.
func publish(t testing.TB, js jetstream.JetStream, resource string, rev int64) cloudevent.Message {
	t.Helper()
	msg := testkit.RevisionEvent(t, testSpec, resource, rev)
	publishMsg(t, js, msg)
	return msg
}

func publishMsg(t testing.TB, js jetstream.JetStream, msg cloudevent.Message) {
	t.Helper()
	m := &nats.Msg{Subject: msg.Subject, Data: msg.Body, Header: nats.Header{"Content-Type": []string{cloudevent.ContentType}}}
	if _, err := js.PublishMsg(t.Context(), m, jetstream.WithMsgID(msg.ID)); err != nil {
		t.Fatalf("publish %s: %v", msg.Subject, err)
	}
}

// Done when (4): a handler that fails 5 times sends the message to the
// dead-letter stream, where it can be read.
func TestSubscriberDeadLettersAfterMaxDeliveries(t *testing.T) {
	t.Parallel()
	js := startStream(t)

	bad := publish(t, js, "bad", 1)
	good := publish(t, js, "good", 1)
	var mu sync.Mutex
	calls := map[string]int{}
	reg := prometheus.NewRegistry()
	testkit.Go(t, func(ctx context.Context) error {
		return subscriber.Run(ctx, js, subscriber.Config{
			Service: "registry", Stream: cloudevent.StreamName(testContext), Durable: "dlq-test",
			Delays:     []time.Duration{10 * time.Millisecond, 20 * time.Millisecond},
			Registerer: reg,
		}, func(_ context.Context, ev cloudevent.Event) error {
			mu.Lock()
			defer mu.Unlock()
			calls[ev.ID]++
			if ev.ID == bad.ID {
				return errors.New("system type unknown")
			}
			return nil
		}, testkit.Logger(t))
	})
	testkit.Eventually(t, 10*time.Second, "a dead letter", func() bool {
		return testkit.StreamLen(t, js, natsconn.DeadLetterStream("registry")) == 1
	})
	s, err := js.Stream(t.Context(), natsconn.DeadLetterStream("registry"))
	if err != nil {
		t.Fatal(err)
	}
	dl, err := s.GetLastMsgForSubject(t.Context(), natsconn.DeadLetterSubject("registry", "dlq-test"))
	if err != nil {
		t.Fatal(err)
	}
	if string(dl.Data) != string(bad.Body) {
		t.Errorf("dead letter body = %s, want the original", dl.Data)
	}
	if got := dl.Header.Get(subscriber.HeaderOriginalSubject); got != bad.Subject {
		t.Errorf("original subject = %q, want %q", got, bad.Subject)
	}
	if got := dl.Header.Get(subscriber.HeaderError); got != "system type unknown" {
		t.Errorf("error header = %q", got)
	}
	if got := dl.Header.Get("Content-Type"); got != cloudevent.ContentType {
		t.Errorf("content type header = %q, want the original's", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls[bad.ID] != 5 || calls[good.ID] != 1 {
		t.Errorf("handler calls: bad %d, good %d; want 5 and 1", calls[bad.ID], calls[good.ID])
	}
	if got := testkit.CounterValue(t, reg, "landscape_subscriber_dead_lettered_total"); got != 1 {
		t.Errorf("dead-lettered metric = %v, want 1", got)
	}
}

// A message whose deliveries all time out (a process that crashes on it
// every time) is not lost either: the delivery after MaxDeliver
// dead-letters it without calling the handler.
func TestSubscriberDeadLettersAfterAckTimeouts(t *testing.T) {
	t.Parallel()
	js := startStream(t)
	var mu sync.Mutex
	calls := 0
	cfg := subscriber.Config{
		Service: "registry", Stream: cloudevent.StreamName(testContext), Durable: "crashy", MaxDeliver: 3,
		AckWait: 100 * time.Millisecond,
	}
	handler := func(context.Context, cloudevent.Event) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return nil
	}
	// Let the subscriber create its consumer, then stop it.
	stop := testkit.Go(t, func(ctx context.Context) error { return subscriber.Run(ctx, js, cfg, handler, testkit.Logger(t)) })
	testkit.Eventually(t, 10*time.Second, "the consumer", func() bool {
		_, err := js.Consumer(t.Context(), cfg.Stream, cfg.Durable)
		return err == nil
	})
	stop()
	ev := publish(t, js, "crashy", 1)

	// A process that takes the event and dies, three times.
	cons, err := js.Consumer(t.Context(), cfg.Stream, cfg.Durable)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "three unacknowledged deliveries", func() bool {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return false
		}
		for m := range batch.Messages() {
			if md, err := m.Metadata(); err == nil && md.NumDelivered >= 3 {
				return true
			}
		}
		return false
	})
	testkit.Go(t, func(ctx context.Context) error { return subscriber.Run(ctx, js, cfg, handler, testkit.Logger(t)) })
	testkit.Eventually(t, 10*time.Second, "a dead letter", func() bool {
		return testkit.StreamLen(t, js, natsconn.DeadLetterStream("registry")) == 1
	})
	s, _ := js.Stream(t.Context(), natsconn.DeadLetterStream("registry"))
	dl, err := s.GetLastMsgForSubject(t.Context(), natsconn.DeadLetterSubject("registry", "crashy"))
	if err != nil || string(dl.Data) != string(ev.Body) {
		t.Fatalf("dead letter %v %v", dl, err)
	}
	if got := dl.Header.Get(subscriber.HeaderError); got == "" {
		t.Error("dead letter without an error header")
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 0 {
		t.Errorf("handler called %d times, want 0 (every delivery was taken by the crashing process)", calls)
	}
}

// A subscriber with Events acks the filter's other events unread.
func TestSubscriberReadsOnlyItsEvents(t *testing.T) {
	t.Parallel()
	js := startStream(t)

	wanted := publish(t, js, "a", 1)
	other, err := cloudevent.New(cloudevent.Spec{Context: testContext, Name: "system.created"}, "ga", "globalAccounts/ga/systems/b",
		wrapperspb.String("b"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	publishMsg(t, js, other)
	last := publish(t, js, "c", 1)
	var mu sync.Mutex
	var got []string
	testkit.Go(t, func(ctx context.Context) error {
		return subscriber.Run(ctx, js, subscriber.Config{
			Service: "registry", Stream: cloudevent.StreamName(testContext), Durable: "events-test", Events: []string{testSpec.Name},
		}, func(_ context.Context, ev cloudevent.Event) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, ev.ID)
			return nil
		}, testkit.Logger(t))
	})
	waitAcked(t, js, "events-test", 3)
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != wanted.ID+","+last.ID {
		t.Fatalf("handler read %v, want %s and %s (not %s)", got, wanted.ID, last.ID, other.ID)
	}
}

// RunBatch hands over the events that arrived together, in stream order;
// a batch holding an event the handler refuses is handed over again one
// event at a time, so only that event is dead-lettered and every other is
// applied once, in order.
func TestSubscriberBatches(t *testing.T) {
	t.Parallel()
	js := startStream(t)

	var want []string
	var poison cloudevent.Message
	for i := range 200 {
		msg := publish(t, js, "r", int64(i+1))
		if i == 120 {
			poison = msg
			continue
		}
		want = append(want, msg.ID)
	}
	var mu sync.Mutex
	var applied []string
	largest := 0
	testkit.Go(t, func(ctx context.Context) error {
		return subscriber.RunBatch(ctx, js, subscriber.Config{
			Service: "registry", Stream: cloudevent.StreamName(testContext), Durable: "batch-test", Batch: 50,
		}, func(_ context.Context, evs []cloudevent.Event) error {
			mu.Lock()
			defer mu.Unlock()
			if len(evs) > 50 {
				t.Errorf("a batch of %d events, more than Batch", len(evs))
			}
			largest = max(largest, len(evs))
			for _, ev := range evs {
				if ev.ID == poison.ID {
					return subscriber.Reject(errors.New("not this one"))
				}
			}
			for _, ev := range evs {
				applied = append(applied, ev.ID)
			}
			return nil
		}, testkit.Logger(t))
	})
	waitAcked(t, js, "batch-test", 200)
	if n := testkit.StreamLen(t, js, natsconn.DeadLetterStream("registry")); n != 1 {
		t.Errorf("%d dead letters, want the refused event's alone", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(applied, ",") != strings.Join(want, ",") {
		t.Errorf("applied %d events, want the %d others once each in stream order", len(applied), len(want))
	}
	if largest < 2 {
		t.Errorf("the largest batch held %d event; 200 waiting events came one by one", largest)
	}
}

// With Parallel, events of different keys are handled side by side and
// those of one key one after another, in stream order.
func TestSubscriberParallelKeepsEachKeysOrder(t *testing.T) {
	t.Parallel()
	js := startStream(t)

	const keys, revs = 8, 25
	for rev := range revs {
		for k := range keys {
			publish(t, js, fmt.Sprintf("r%d", k), int64(rev+1))
		}
	}
	var mu sync.Mutex
	seen := map[string][]int64{}
	var inflight, most atomic.Int32
	testkit.Go(t, func(ctx context.Context) error {
		return subscriber.Run(ctx, js, subscriber.Config{
			Service: "registry", Stream: cloudevent.StreamName(testContext), Durable: "parallel-test",
			Parallel: 4, Key: func(ev cloudevent.Event) string { return ev.Subject },
		}, func(_ context.Context, ev cloudevent.Event) error {
			n := inflight.Add(1)
			defer inflight.Add(-1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			var p struct {
				Revision string `json:"revision"`
			}
			if err := json.Unmarshal(ev.Data, &p); err != nil {
				return subscriber.Reject(err)
			}
			rev, _ := strconv.ParseInt(p.Revision, 10, 64)
			time.Sleep(time.Millisecond) // long enough for the lanes to overlap
			mu.Lock()
			defer mu.Unlock()
			seen[ev.Subject] = append(seen[ev.Subject], rev)
			return nil
		}, testkit.Logger(t))
	})
	waitAcked(t, js, "parallel-test", keys*revs)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != keys {
		t.Fatalf("events of %d keys handled, want %d", len(seen), keys)
	}
	for key, got := range seen {
		for i, rev := range got {
			if rev != int64(i+1) {
				t.Fatalf("%s: revisions handled in the order %v, want 1 to %d in order", key, got, revs)
			}
		}
		if len(got) != revs {
			t.Fatalf("%s: %d events handled, want %d", key, len(got), revs)
		}
	}
	if most.Load() < 2 {
		t.Errorf("at most %d event handled at once with 4 lanes", most.Load())
	}
}

// waitAcked waits until durable has acked (or terminated) the stream's
// first n messages and has none pending.
func waitAcked(t testing.TB, js jetstream.JetStream, durable string, n uint64) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, durable+" acked every event", func() bool {
		c, err := js.Consumer(t.Context(), cloudevent.StreamName(testContext), durable)
		if err != nil {
			return false
		}
		info, err := c.Info(t.Context())
		return err == nil && info.AckFloor.Stream == n && info.NumPending == 0
	})
}
