package outbox_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/subscriber"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

// BenchmarkPublish compares the relay (entries committed to the outbox,
// drained to JetStream: events/s from the relay's start to the last
// delete) with raw JetStream PublishAsync of the same bodies with a
// Nats-Msg-Id (events/s until the last ack), against the same embedded
// server. The two alternate for three rounds of b.N events each, so a
// noisy machine hurts both alike; the medians and their ratio are reported.
//
//	go test -run '^$' -bench Publish -benchtime 20000x ./pkg/outbox/
func BenchmarkPublish(b *testing.B) {
	rdb, prefix := testkit.Redis(b)
	js := testkit.JetStream(b, testkit.NATS(b).URL())
	quiet := slog.New(slog.DiscardHandler)
	ctx := b.Context()
	cfg := outbox.NewRelay(outbox.New(rdb, prefix, "raw"), js, quiet, outbox.RelayOptions{}).StreamConfig()
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	raw := func() float64 {
		msgs := make([]cloudevent.Message, b.N)
		for i := range msgs {
			msgs[i] = benchMessage(b, "raw", i)
		}
		start := time.Now()
		for _, m := range msgs {
			msg := &nats.Msg{Subject: m.Subject, Data: m.Body, Header: nats.Header{}}
			msg.Header.Set("Content-Type", cloudevent.ContentType)
			if _, err := js.PublishMsgAsync(msg, jetstream.WithMsgID(m.ID), jetstream.WithStallWait(10*time.Second)); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(time.Minute):
			b.Fatal("acks did not arrive within a minute")
		}
		return float64(b.N) / time.Since(start).Seconds()
	}
	ob := outbox.New(rdb, prefix, "registry")
	relayed := func() float64 {
		// Commit first (not timed: that is the services' cost).
		commitPipelined(b, ob, b.N)
		relay := outbox.NewRelay(ob, js, quiet, outbox.RelayOptions{})
		start := time.Now()
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = relay.Run(rctx) }()
		testkit.Eventually(b, 2*time.Minute, "outbox drained", func() bool { return rdb.XLen(ctx, ob.Key()).Val() == 0 })
		elapsed := time.Since(start)
		cancel()
		<-done
		return float64(b.N) / elapsed.Seconds()
	}
	var raws, relays []float64
	b.ResetTimer()
	for range 3 {
		raws = append(raws, raw())
		relays = append(relays, relayed())
	}
	b.StopTimer()
	slices.Sort(raws)
	slices.Sort(relays)
	b.ReportMetric(raws[1], "raw-events/s")
	b.ReportMetric(relays[1], "relay-events/s")
	b.ReportMetric(relays[1]/raws[1]*100, "relay-%-of-raw")
	b.Logf("raw events/s %v; relay events/s %v", raws, relays)
}

// BenchmarkLatency measures commit → subscriber handler latency with Tx
// commits paced at 1,000 events/s, each event through the relay, JetStream
// and a durable pull consumer (subscriber.Run). One op is one event.
//
//	go test -run '^$' -bench Latency -benchtime 5000x ./pkg/outbox/
func BenchmarkLatency(b *testing.B) {
	rdb, prefix := testkit.Redis(b)
	js := testkit.JetStream(b, testkit.NATS(b).URL())
	quiet := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	ob := outbox.New(rdb, prefix, "registry")
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = outbox.NewRelay(ob, js, quiet, outbox.RelayOptions{}).Run(ctx) })

	var mu sync.Mutex
	sent := make(map[string]time.Time, b.N)
	lat := make([]time.Duration, 0, b.N)
	wg.Go(func() {
		_ = subscriber.Run(ctx, js, subscriber.Config{
			Service: "registry", Stream: cloudevent.StreamName("registry"), Durable: "latency",
		}, func(_ context.Context, ev cloudevent.Event) error {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if t0, ok := sent[ev.ID]; ok {
				lat = append(lat, now.Sub(t0))
				delete(sent, ev.ID)
			}
			return nil
		}, quiet)
	})
	// Warm up: the stream, the consumer and one event end to end.
	warm := benchMessage(b, "registry", -1)
	mu.Lock()
	sent[warm.ID] = time.Now()
	mu.Unlock()
	if err := ob.Tx().Emit(warm).Commit(ctx); err != nil {
		b.Fatal(err)
	}
	testkit.Eventually(b, 30*time.Second, "warm-up event", func() bool { mu.Lock(); defer mu.Unlock(); return len(lat) == 1 })
	mu.Lock()
	lat = lat[:0]
	mu.Unlock()

	msgs := make([]cloudevent.Message, b.N)
	for i := range msgs {
		msgs[i] = benchMessage(b, "registry", i)
	}
	b.ResetTimer()
	start := time.Now()
	for i, m := range msgs {
		if d := time.Until(start.Add(time.Duration(i) * time.Millisecond)); d > 0 {
			time.Sleep(d) // pacing at 1,000 events/s
		}
		mu.Lock()
		sent[m.ID] = time.Now()
		mu.Unlock()
		if err := ob.Tx().Emit(m).Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
	testkit.Eventually(b, time.Minute, "every event handled", func() bool { mu.Lock(); defer mu.Unlock(); return len(lat) == b.N })
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

func benchMessage(b testing.TB, context string, i int) cloudevent.Message {
	payload := fmt.Sprintf(`{"revision":"%d","name":"globalAccounts/ga/systems/s%d","state":"REGISTERED"}`, i, i%100)
	m, err := cloudevent.New(cloudevent.Spec{Context: context, Name: "system.updated"}, "ga",
		fmt.Sprintf("globalAccounts/ga/systems/s%d", i%100), rawJSON(payload), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// commitPipelined commits n one-event steps, 500 per round trip.
func commitPipelined(b *testing.B, ob *outbox.Outbox, n int) {
	ctx := b.Context()
	for i := 0; i < n; i += 500 {
		var wg sync.WaitGroup
		for j := i; j < min(n, i+500); j++ {
			m := benchMessage(b, "registry", j)
			wg.Go(func() {
				if err := ob.Tx().Emit(m).Commit(ctx); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
}

func rawJSON(s string) *structpb.Struct {
	var p structpb.Struct
	if err := protojson.Unmarshal([]byte(s), &p); err != nil {
		panic(err)
	}
	return &p
}
