package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/eventctx"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/subscriber"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

const testContext = "registry"

var testSpec = cloudevent.Spec{Context: testContext, Name: "system.updated"}

// newOutbox is a fresh outbox of testContext in Redis, with its Redis
// client and key prefix.
func newOutbox(t testing.TB) (*outbox.Outbox, *redis.Client, string) {
	t.Helper()
	rdb, prefix := testkit.Redis(t)
	return outbox.New(rdb, prefix, testContext), rdb, prefix
}

// commit writes revision rev of a resource and its event in one step.
func commit(t testing.TB, ctx context.Context, ob *outbox.Outbox, prefix, resource string, rev int64) cloudevent.Message {
	t.Helper()
	msg := testkit.RevisionEvent(t, testSpec, resource, rev)
	key := prefix + ":" + testContext + ":{ga}:system:" + resource
	ctx = eventctx.WithActor(ctx, eventctx.ServicePrefix+testContext)
	err := ob.Tx().ExpectRevision(key, rev-1).PutRecord(key, rev, []byte(strconv.FormatInt(rev, 10))).Emit(msg).Commit(ctx)
	if err != nil {
		t.Fatalf("commit %s rev %d: %v", resource, rev, err)
	}
	return msg.WithAttrs(eventctx.From(ctx)) // as committed
}

// startRelay starts a NATS server and a relay to it of a fresh outbox in
// Redis; it returns the Redis client and key prefix, a connection to NATS
// and the outbox.
func startRelay(t testing.TB) (*redis.Client, string, jetstream.JetStream, *outbox.Outbox) {
	t.Helper()
	ob, rdb, prefix := newOutbox(t)
	ns := testkit.NATS(t)
	js := testkit.JetStream(t, ns.URL())
	testkit.Go(t, outbox.NewRelay(ob, js, testkit.Logger(t), outbox.RelayOptions{}).Run)
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
	js := testkit.JetStream(t, ns.URL())
	ob := outbox.New(rdb, prefix, testContext)
	reg := prometheus.NewRegistry()
	relay := outbox.NewRelay(ob, js, testkit.Logger(t), outbox.RelayOptions{Registerer: reg})
	testkit.Go(t, relay.Run) // must not block nor fail while NATS is down

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
		return testkit.CounterValue(t, reg, "landscape_outbox_retried_total") > 0
	})
	if n := outboxLen(t, rdb, ob); n != 500 {
		t.Fatalf("outbox holds %d entries while NATS is down again, want 500", n)
	}
	ns.Start()
	testkit.Eventually(t, 20*time.Second, "outbox drained", func() bool { return outboxLen(t, rdb, ob) == 0 })
	assertExactlyOnceInOrder(t, js, want)
	if got := testkit.CounterValue(t, reg, "landscape_outbox_published_total"); got != 1000 {
		t.Errorf("published metric = %v, want 1000", got)
	}
	st, err := relay.Stats(t.Context())
	if err != nil || st.Length != 0 || st.Published != 1000 {
		t.Errorf("stats = %+v %v", st, err)
	}
}

// Done when (2): a relay killed after publishing and before deleting leaves
// each event in the stream once after a restart.
func TestRelayCrashAfterPublishIsDeduplicated(t *testing.T) {
	t.Parallel()
	ob, rdb, prefix := newOutbox(t)
	ns := testkit.NATS(t)
	js := testkit.JetStream(t, ns.URL())
	var want []cloudevent.Message
	for i := range 300 {
		want = append(want, commit(t, t.Context(), ob, prefix, "a", int64(i+1)))
	}
	crashing := outbox.NewRelay(ob, js, testkit.Logger(t), outbox.RelayOptions{BatchSize: 200})
	outbox.CrashAfterPublish(crashing)
	if err := crashing.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := outboxLen(t, rdb, ob); n != 300 {
		t.Fatalf("after the crash the outbox holds %d, want all 300", n)
	}
	// The first round (200) was acked; the next may have been sent too.
	if n := testkit.StreamLen(t, js, cloudevent.StreamName(testContext)); n < 200 {
		t.Fatalf("after the crash the stream holds %d, want at least the 200 acked", n)
	}
	testkit.Go(t, outbox.NewRelay(ob, testkit.JetStream(t, ns.URL()), testkit.Logger(t), outbox.RelayOptions{}).Run)
	testkit.Eventually(t, 10*time.Second, "outbox drained", func() bool { return outboxLen(t, rdb, ob) == 0 })
	assertExactlyOnceInOrder(t, js, want)
}

// Done when (5): two relays on one outbox publish every event once, in
// order, also when the lease holder stops midway.
func TestTwoRelaysPublishOnceInOrder(t *testing.T) {
	t.Parallel()
	ob, rdb, prefix := newOutbox(t)
	ns := testkit.NATS(t)
	relays := make([]*outbox.Relay, 2)
	stops := make([]func(), 2)
	for i := range relays {
		relays[i] = outbox.NewRelay(ob, testkit.JetStream(t, ns.URL()), testkit.Logger(t), outbox.RelayOptions{BatchSize: 16})
		outbox.SetLease(relays[i], time.Second, 200*time.Millisecond)
		stops[i] = testkit.Go(t, relays[i].Run)
	}
	js := testkit.JetStream(t, ns.URL())
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
	testkit.Go(t, func(ctx context.Context) error {
		return subscriber.Run(ctx, js, subscriber.Config{
			Service: "registry", Stream: cloudevent.StreamName(testContext), Durable: "order-test",
			FilterSubject: "landscape.registry.*.system.>", Delays: []time.Duration{10 * time.Millisecond},
		}, handler, testkit.Logger(t))
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
