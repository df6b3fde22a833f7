package outbox_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

// TestRelayLosesANATSNode: a 3-node JetStream cluster with the stream on
// three replicas loses the stream's leader while entries are committed at
// a steady rate and a durable consumer (three replicas too) reads them.
// Every entry reaches the consumer, the stream holds each entry once, and
// the relay goes on publishing by itself.
func TestRelayLosesANATSNode(t *testing.T) {
	t.Parallel()
	url, servers := testkit.NATSClusterServers(t, 3)
	ob, rdb, prefix := newOutbox(t)
	relay := outbox.NewRelay(ob, testkit.JetStream(t, url), testkit.Logger(t), outbox.RelayOptions{Replicas: 3})
	testkit.Go(t, relay.Run)
	stream := relay.StreamConfig().Name

	// The consumer, on a connection of its own.
	js := testkit.JetStream(t, url)
	ctx := t.Context()
	var cons jetstream.Consumer
	testkit.Eventually(t, 30*time.Second, "a durable consumer on the R3 stream", func() bool {
		var err error
		cons, err = js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
			Durable: "cluster-test", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 5 * time.Second,
		})
		return err == nil
	})
	// An R3 consumer elects its own leader after it is created; a pull
	// sent before that is lost, and the client would wait out its expiry
	// (30s by default) before pulling again.
	testkit.Eventually(t, 30*time.Second, "the consumer has a leader", func() bool {
		ci, err := cons.Info(ctx)
		return err == nil && ci.Cluster != nil && ci.Cluster.Leader != ""
	})
	var (
		mu        sync.Mutex
		delivered = map[string]int{} // CloudEvent id → deliveries
		ackFailed atomic.Int64
	)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		ev, err := cloudevent.Decode(m.Data())
		if err != nil {
			t.Errorf("undecodable message: %v", err)
		}
		mu.Lock()
		delivered[ev.ID]++
		mu.Unlock()
		// An ack lost in the leader change would bring the event again:
		// retry it, each try short, well within AckWait, until the server
		// confirms it (as a consumer that wants no duplicates does).
		for try := 0; try < 8; try++ {
			actx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			err := m.DoubleAck(actx)
			cancel()
			if err == nil || ctx.Err() != nil {
				break
			}
			ackFailed.Add(1)
		}
	}, jetstream.PullExpiry(2*time.Second), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		t.Logf("consumer: %v", err)
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()
	received := func(ids []string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, id := range ids {
			if delivered[id] > 0 {
				n++
			}
		}
		return n
	}

	// Steady commits.
	var (
		cmu       sync.Mutex
		committed []string
	)
	loadCtx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for i := int64(1); loadCtx.Err() == nil; i++ {
			msg := commit(t, context.Background(), ob, prefix, fmt.Sprintf("c%d", i), 1)
			cmu.Lock()
			committed = append(committed, msg.ID)
			cmu.Unlock()
			select {
			case <-loadCtx.Done():
			case <-tk.C:
			}
		}
	})
	defer func() { stopLoad(); wg.Wait() }()
	snapshot := func() []string {
		cmu.Lock()
		defer cmu.Unlock()
		return append([]string(nil), committed...)
	}
	testkit.Eventually(t, 30*time.Second, "100 entries delivered", func() bool { return received(snapshot()) >= 100 })

	// Shut the stream's leader down.
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream info: %+v, %v: want a leader and 2 replicas", info, err)
	}
	leader := info.Cluster.Leader
	for _, srv := range servers {
		if srv.Name() == leader {
			srv.Shutdown()
		}
	}
	killed := time.Now()
	before := len(snapshot())
	testkit.Eventually(t, 60*time.Second, "entries committed after the node died are delivered", func() bool {
		after := snapshot()[before:]
		return len(after) >= 100 && received(after) >= 100
	})
	resumed := time.Since(killed)
	stopLoad()
	wg.Wait()

	all := snapshot()
	testkit.Eventually(t, 60*time.Second, "every committed entry delivered", func() bool { return received(all) == len(all) })
	mu.Lock()
	redelivered := 0
	for _, n := range delivered {
		if n > 1 {
			redelivered++
		}
	}
	total := len(delivered)
	mu.Unlock()
	if total != len(all) {
		t.Errorf("%d entries committed, %d distinct events delivered", len(all), total)
	}
	// The relay's promise is one message on the stream per entry: the
	// stream's deduplication keeps a republished entry out. A consumer may
	// still see a message again when its ack is lost in the leader change
	// (JetStream delivers at least once; consumers are idempotent), so
	// redeliveries are reported, not failed.
	if st, err := s.Info(ctx); err != nil {
		t.Errorf("stream info after the test: %v", err)
	} else if st.State.Msgs != uint64(len(all)) {
		t.Errorf("%d entries committed, %d messages on the stream: an entry was published twice or lost", len(all), st.State.Msgs)
	}
	if n, _ := rdb.XLen(ctx, ob.Key()).Result(); n > 0 {
		testkit.Eventually(t, 30*time.Second, "outbox drained", func() bool {
			n, _ := rdb.XLen(ctx, ob.Key()).Result()
			return n == 0
		})
	}
	t.Logf("stream leader %s shut down: %d entries committed, each once on the stream, 0 lost; the first 100 entries committed after it were delivered within %s; %d acks failed meanwhile, %d events redelivered to the consumer",
		leader, len(all), resumed.Round(time.Millisecond), ackFailed.Load(), redelivered)
}
