package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/subscriber"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

const testContext = "registry"

var testSpec = cloudevent.Spec{Context: testContext, Name: "system.updated"}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// connect opens a client connection the way services do.
func connect(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, js, err := natsconn.Connect(url, t.Name(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return js
}

// commit writes revision rev of a resource and its event in one step.
func commit(t testing.TB, ctx context.Context, ob *outbox.Outbox, prefix, resource string, rev int64) cloudevent.Message {
	t.Helper()
	payload, err := structpb.NewStruct(map[string]any{"revision": strconv.FormatInt(rev, 10), "name": resource})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cloudevent.New(testSpec, "ga", "globalAccounts/ga/systems/"+resource, payload, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key := prefix + ":" + testContext + ":{ga}:system:" + resource
	err = ob.Tx().ExpectRevision(key, rev-1).PutRecord(key, rev, []byte(strconv.FormatInt(rev, 10))).Emit(msg).Commit(ctx)
	if err != nil {
		t.Fatalf("commit %s rev %d: %v", resource, rev, err)
	}
	return msg
}

// run starts fn in the background; the returned stop cancels it and waits.
func run(t testing.TB, fn func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run returned %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("run did not return within 10s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// startRelay starts a NATS server and a relay to it of a fresh outbox in
// Redis; it returns the Redis client and key prefix, a connection to NATS
// and the outbox.
func startRelay(t testing.TB) (*redis.Client, string, jetstream.JetStream, *outbox.Outbox) {
	t.Helper()
	rdb, prefix := testkit.Redis(t)
	ns := testkit.NATS(t)
	js := connect(t, ns.URL())
	ob := outbox.New(rdb, prefix, testContext)
	run(t, outbox.NewRelay(ob, js, testLogger(t), outbox.RelayOptions{}).Run)
	return rdb, prefix, js, ob
}

// streamIDs returns the Nats-Msg-Id of every message of the stream, in order.
func streamIDs(t testing.TB, js jetstream.JetStream, stream string) []string {
	t.Helper()
	ctx := t.Context()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("get %d: %v", seq, err)
		}
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
	}
	return ids
}

func streamLen(t testing.TB, js jetstream.JetStream, stream string) uint64 {
	s, err := js.Stream(t.Context(), stream)
	if err != nil {
		return 0
	}
	info, err := s.Info(t.Context())
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

// assertExactlyOnceInOrder checks that the stream holds the events of want,
// each once, in want's order.
func assertExactlyOnceInOrder(t testing.TB, js jetstream.JetStream, want []cloudevent.Message) {
	t.Helper()
	got := streamIDs(t, js, cloudevent.StreamName(testContext))
	if len(got) != len(want) {
		t.Fatalf("stream holds %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i].ID {
			t.Fatalf("stream event %d is %s, want %s", i, got[i], want[i].ID)
		}
	}
}

func outboxLen(t testing.TB, rdb *redis.Client, ob *outbox.Outbox) int64 {
	return rdb.XLen(t.Context(), ob.Key()).Val()
}

// Done when (1): 1,000 changes committed while NATS is down all reach the
// stream exactly once when it is back.
func TestRelayPublishesEverythingCommittedWhileNATSIsDown(t *testing.T) {
	t.Parallel()
	rdb, prefix := testkit.Redis(t)
	ns := testkit.NATS(t)
	ns.Stop()
	js := connect(t, ns.URL())
	ob := outbox.New(rdb, prefix, testContext)
	reg := prometheus.NewRegistry()
	relay := outbox.NewRelay(ob, js, testLogger(t), outbox.RelayOptions{Registerer: reg})
	run(t, relay.Run) // must not block nor fail while NATS is down

	// 500 changes while NATS has been down since the start, then 500 while
	// it is down again after the relay had published.
	var want []cloudevent.Message
	commitMany := func(from, to int) {
		for i := from; i < to; i++ {
			want = append(want, commit(t, t.Context(), ob, prefix, fmt.Sprintf("s%d", i%37), int64(i/37+1)))
		}
	}
	commitMany(0, 500)
	if n := outboxLen(t, rdb, ob); n != 500 {
		t.Fatalf("outbox holds %d entries while NATS is down, want 500", n)
	}
	ns.Start()
	testkit.Eventually(t, 20*time.Second, "first outbox drained", func() bool { return outboxLen(t, rdb, ob) == 0 })
	ns.Stop()
	commitMany(500, 1000)
	testkit.Eventually(t, 10*time.Second, "failed publishes counted", func() bool {
		return counterValue(t, reg, "landscape_outbox_retried_total") > 0
	})
	if n := outboxLen(t, rdb, ob); n != 500 {
		t.Fatalf("outbox holds %d entries while NATS is down again, want 500", n)
	}
	ns.Start()
	testkit.Eventually(t, 20*time.Second, "outbox drained", func() bool { return outboxLen(t, rdb, ob) == 0 })
	assertExactlyOnceInOrder(t, js, want)
	if got := counterValue(t, reg, "landscape_outbox_published_total"); got != 1000 {
		t.Errorf("published metric = %v, want 1000", got)
	}
	st, err := relay.Stats(t.Context())
	if err != nil || st.Length != 0 || st.Published != 1000 {
		t.Errorf("stats = %+v %v", st, err)
	}
}

// counterValue reads a registered counter (the first series of name).
func counterValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// Done when (2): a relay killed after publishing and before deleting leaves
// each event in the stream once after a restart.
func TestRelayCrashAfterPublishIsDeduplicated(t *testing.T) {
	t.Parallel()
	rdb, prefix := testkit.Redis(t)
	ns := testkit.NATS(t)
	js := connect(t, ns.URL())
	ob := outbox.New(rdb, prefix, testContext)
	var want []cloudevent.Message
	for i := range 300 {
		want = append(want, commit(t, t.Context(), ob, prefix, "a", int64(i+1)))
	}
	crashing := outbox.NewRelay(ob, js, testLogger(t), outbox.RelayOptions{BatchSize: 200})
	outbox.CrashAfterPublish(crashing)
	if err := crashing.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := outboxLen(t, rdb, ob); n != 300 {
		t.Fatalf("after the crash the outbox holds %d, want all 300", n)
	}
	// The first round (200) was acked; the next may have been sent too.
	if n := streamLen(t, js, cloudevent.StreamName(testContext)); n < 200 {
		t.Fatalf("after the crash the stream holds %d, want at least the 200 acked", n)
	}
	run(t, outbox.NewRelay(ob, connect(t, ns.URL()), testLogger(t), outbox.RelayOptions{}).Run)
	testkit.Eventually(t, 10*time.Second, "outbox drained", func() bool { return outboxLen(t, rdb, ob) == 0 })
	assertExactlyOnceInOrder(t, js, want)
}

// Done when (5): two relays on one outbox publish every event once, in
// order, also when the lease holder stops midway.
func TestTwoRelaysPublishOnceInOrder(t *testing.T) {
	t.Parallel()
	rdb, prefix := testkit.Redis(t)
	ns := testkit.NATS(t)
	ob := outbox.New(rdb, prefix, testContext)
	relays := make([]*outbox.Relay, 2)
	stops := make([]func(), 2)
	for i := range relays {
		relays[i] = outbox.NewRelay(ob, connect(t, ns.URL()), testLogger(t), outbox.RelayOptions{BatchSize: 16})
		outbox.SetLease(relays[i], time.Second, 200*time.Millisecond)
		stops[i] = run(t, relays[i].Run)
	}
	js := connect(t, ns.URL())
	var want []cloudevent.Message
	for i := range 600 {
		want = append(want, commit(t, t.Context(), ob, prefix, fmt.Sprintf("r%d", i%5), int64(i/5+1)))
		if i == 300 {
			// Stop whichever relay holds the lease; the other takes over.
			testkit.Eventually(t, 5*time.Second, "a lease holder", func() bool {
				st0, _ := relays[0].Stats(t.Context())
				st1, _ := relays[1].Stats(t.Context())
				return st0.Published+st1.Published > 0
			})
			st0, _ := relays[0].Stats(t.Context())
			if st0.Published > 0 {
				stops[0]()
			} else {
				stops[1]()
			}
		}
	}
	testkit.Eventually(t, 15*time.Second, "outbox drained", func() bool { return outboxLen(t, rdb, ob) == 0 })
	assertExactlyOnceInOrder(t, js, want)
	st0, _ := relays[0].Stats(t.Context())
	st1, _ := relays[1].Stats(t.Context())
	if st0.Published == 0 || st1.Published == 0 {
		t.Errorf("published %d and %d: the second relay never took over", st0.Published, st1.Published)
	}
}

// revisionOf reads the test payload's revision.
func revisionOf(ev cloudevent.Event) (int64, error) {
	var p structpb.Struct
	if err := ev.UnmarshalData(&p); err != nil {
		return 0, err
	}
	return strconv.ParseInt(p.GetFields()["revision"].GetStringValue(), 10, 64)
}

// Done when (3): events of one resource arrive in revision order; a
// redelivered or replayed event leaves state unchanged.
func TestSubscriberAppliesInRevisionOrderOnce(t *testing.T) {
	t.Parallel()
	rdb, prefix, js, ob := startRelay(t)

	// The consumer's own state, in another context's keys.
	mine := outbox.New(rdb, prefix, "formation")
	seenKey := prefix + ":formation:{ga}:seen:system:a"
	stateKey := prefix + ":formation:{ga}:copy:system:a"
	var (
		mu        sync.Mutex
		applied   []int64
		skipped   []int64
		failedOne bool
	)
	handler := func(ctx context.Context, ev cloudevent.Event) error {
		rev, err := revisionOf(ev)
		if err != nil {
			return err
		}
		err = mine.Tx().ApplyOnce(seenKey, rev).PutRecord(stateKey, rev, []byte(ev.ID)).Commit(ctx)
		mu.Lock()
		defer mu.Unlock()
		if outbox.AlreadyApplied(err, seenKey) {
			skipped = append(skipped, rev)
			return nil
		}
		if err != nil {
			return err
		}
		applied = append(applied, rev)
		if rev == 20 && !failedOne {
			// Fail after the commit: the redelivery must change nothing.
			failedOne = true
			return errors.New("lost the ack")
		}
		return nil
	}
	run(t, func(ctx context.Context) error {
		return subscriber.Run(ctx, js, subscriber.Config{
			Stream: cloudevent.StreamName(testContext), Durable: "order-test",
			FilterSubject: "landscape.registry.*.system.>", Delays: []time.Duration{10 * time.Millisecond},
		}, handler, testLogger(t))
	})

	var msgs []cloudevent.Message
	for rev := int64(1); rev <= 50; rev++ {
		msgs = append(msgs, commit(t, t.Context(), ob, prefix, "a", rev))
	}
	testkit.Eventually(t, 10*time.Second, "50 revisions applied", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(applied) == 50 && len(skipped) >= 1
	})
	// Replay an old event under a new message id (as a stream replay or a
	// late duplicate would arrive).
	if _, err := js.Publish(t.Context(), msgs[9].Subject, msgs[9].Body, jetstream.WithMsgID("replay-1")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "replay handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(skipped) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	for i, rev := range applied {
		if rev != int64(i+1) {
			t.Fatalf("applied %v, want revisions 1..50 in order", applied)
		}
	}
	if skipped[0] != 20 || skipped[1] != 10 {
		t.Errorf("skipped %v, want [20 10] (the redelivery, then the replay)", skipped)
	}
	rev, data, err := outbox.GetRecord(t.Context(), rdb, stateKey)
	if err != nil || rev != 50 || string(data) != msgs[49].ID {
		t.Errorf("state = %d %q %v, want revision 50 from the last event", rev, data, err)
	}
}

// Done when (4): a handler that fails 5 times sends the message to the
// dead-letter stream, where it can be read.
func TestSubscriberDeadLettersAfterMaxDeliveries(t *testing.T) {
	t.Parallel()
	_, prefix, js, ob := startRelay(t)

	bad := commit(t, t.Context(), ob, prefix, "bad", 1)
	good := commit(t, t.Context(), ob, prefix, "good", 1)
	var mu sync.Mutex
	calls := map[string]int{}
	reg := prometheus.NewRegistry()
	run(t, func(ctx context.Context) error {
		return subscriber.Run(ctx, js, subscriber.Config{
			Stream: cloudevent.StreamName(testContext), Durable: "dlq-test",
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
		}, testLogger(t))
	})
	testkit.Eventually(t, 10*time.Second, "a dead letter", func() bool {
		return streamLen(t, js, subscriber.DeadLetterStream) == 1
	})
	s, err := js.Stream(t.Context(), subscriber.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	dl, err := s.GetLastMsgForSubject(t.Context(), subscriber.DeadLetterSubject("dlq-test"))
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
	if got := counterValue(t, reg, "landscape_subscriber_dead_lettered_total"); got != 1 {
		t.Errorf("dead-lettered metric = %v, want 1", got)
	}
}

// A message whose deliveries all time out (a process that crashes on it
// every time) is not lost either: the delivery after MaxDeliver
// dead-letters it without calling the handler.
func TestSubscriberDeadLettersAfterAckTimeouts(t *testing.T) {
	t.Parallel()
	_, prefix, js, ob := startRelay(t)
	var mu sync.Mutex
	calls := 0
	cfg := subscriber.Config{
		Stream: cloudevent.StreamName(testContext), Durable: "crashy", MaxDeliver: 3,
		AckWait: 100 * time.Millisecond,
	}
	handler := func(context.Context, cloudevent.Event) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return nil
	}
	// Let the subscriber create its consumer, then stop it.
	stop := run(t, func(ctx context.Context) error { return subscriber.Run(ctx, js, cfg, handler, testLogger(t)) })
	testkit.Eventually(t, 10*time.Second, "the consumer", func() bool {
		_, err := js.Consumer(t.Context(), cfg.Stream, cfg.Durable)
		return err == nil
	})
	stop()
	ev := commit(t, t.Context(), ob, prefix, "crashy", 1)

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
	run(t, func(ctx context.Context) error { return subscriber.Run(ctx, js, cfg, handler, testLogger(t)) })
	testkit.Eventually(t, 10*time.Second, "a dead letter", func() bool {
		return streamLen(t, js, subscriber.DeadLetterStream) == 1
	})
	s, _ := js.Stream(t.Context(), subscriber.DeadLetterStream)
	dl, err := s.GetLastMsgForSubject(t.Context(), subscriber.DeadLetterSubject("crashy"))
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
	_, prefix, js, ob := startRelay(t)

	wanted := commit(t, t.Context(), ob, prefix, "a", 1)
	other, err := cloudevent.New(cloudevent.Spec{Context: testContext, Name: "system.created"}, "ga", "globalAccounts/ga/systems/b",
		wrapperspb.String("b"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Tx().Emit(other).Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	last := commit(t, t.Context(), ob, prefix, "c", 1)
	var mu sync.Mutex
	var got []string
	run(t, func(ctx context.Context) error {
		return subscriber.Run(ctx, js, subscriber.Config{
			Stream: cloudevent.StreamName(testContext), Durable: "events-test", Events: []string{testSpec.Name},
		}, func(_ context.Context, ev cloudevent.Event) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, ev.ID)
			return nil
		}, testLogger(t))
	})
	testkit.Eventually(t, 10*time.Second, "every event acked", func() bool {
		c, err := js.Consumer(t.Context(), cloudevent.StreamName(testContext), "events-test")
		if err != nil {
			return false
		}
		info, err := c.Info(t.Context())
		return err == nil && info.AckFloor.Stream == 3 && info.NumPending == 0
	})
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != wanted.ID+","+last.ID {
		t.Fatalf("handler read %v, want %s and %s (not %s)", got, wanted.ID, last.ID, other.ID)
	}
}
