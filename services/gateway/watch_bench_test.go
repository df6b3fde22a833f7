package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/gateway"
)

// Benchmarks of GET …/events:watch against a real gateway, an embedded
// JetStream and the machine's Redis (docs/API.md, "Watch"):
//
//	go test -run '^$' -bench Watch -benchtime 5000x ./services/gateway/
//
// BenchmarkWatchLatency: events committed to the registry's outbox at
// 1,000/s, relayed to JetStream, delivered to 100 SSE watchers; the
// baseline (same run, same events) is one plain JetStream consumer, so
// the difference is the gateway's share. BenchmarkWatchIdleMemory: the
// gateway's memory per idle watcher. BenchmarkWatchSlowReader: memory
// while a reader that never reads has 1,000 events pending.

const watchBenchSecret = "watch-bench-hs256-secret-0123456789abcdef"

type watchBenchEnv struct {
	url    string
	js     jetstream.JetStream
	outbox *outbox.Outbox
	relay  *outbox.Relay
}

// startWatchBench starts the streams (as the services' relays create
// them) and a gateway that serves the watch.
func startWatchBench(b *testing.B) watchBenchEnv {
	b.Helper()
	rdb, prefix := testkit.Redis(b)
	ns := testkit.NATS(b)
	quiet := slog.New(slog.DiscardHandler)
	nc, js, err := natsconn.Connect(ns.URL(), "bench", quiet)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	var env watchBenchEnv
	for _, c := range []string{"registry", "token", "formation"} {
		ob := outbox.New(rdb, prefix, c)
		relay := outbox.NewRelay(ob, js, quiet, outbox.RelayOptions{})
		if _, err := js.CreateOrUpdateStream(b.Context(), relay.StreamConfig()); err != nil {
			b.Fatal(err)
		}
		if c == "registry" {
			env.outbox, env.relay = ob, relay
		}
	}
	auth, err := authn.New(authn.Config{HS256Secret: watchBenchSecret})
	if err != nil {
		b.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{RegistryAddr: "127.0.0.1:1", TokenAddr: "127.0.0.1:1", FormationAddr: "127.0.0.1:1",
		JetStream: js, Auth: auth, Redis: rdb, KeyPrefix: prefix, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = gw.Close() })
	hs := httptest.NewServer(gw)
	b.Cleanup(hs.Close)
	env.url, env.js = hs.URL, js
	return env
}

func benchJWT(b *testing.B, ga string) string {
	jwt, err := authn.MintHS256(watchBenchSecret, "bench", ga, []string{string(authn.RoleSystemLandscapeViewer)}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	return jwt
}

// dialWatch opens a watch on a raw TCP connection and reads up to the
// first comment (": watching"), so the watch is set up when it returns.
// The client side costs a socket and a small reader, no HTTP client.
func dialWatch(b *testing.B, base, ga, jwt string) (net.Conn, *bufio.Reader) {
	b.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(c, "GET /v1/globalAccounts/%s/events:watch HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nAuthorization: Bearer %s\r\n\r\n", ga, jwt)
	r := bufio.NewReaderSize(c, 512)
	status, err := r.ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		b.Fatalf("watch %s: %q %v", ga, status, err)
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		if strings.HasPrefix(line, ": watching") {
			return c, r
		}
	}
}

func benchPayload(i int) *structpb.Struct {
	s, _ := structpb.NewStruct(map[string]any{"revision": fmt.Sprint(i), "name": fmt.Sprintf("globalAccounts/ga/systems/s%d", i%100), "state": "REGISTERED"})
	return s
}

func benchEvent(b *testing.B, i int) cloudevent.Message {
	m, err := cloudevent.New(cloudevent.Spec{Context: "registry", Name: "system.updated"}, "ga",
		fmt.Sprintf("globalAccounts/ga/systems/s%d", i%100), benchPayload(i), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// latencies collects commit → delivery times by event id.
type latencies struct {
	mu   sync.Mutex
	sent map[string]time.Time
	got  []time.Duration
}

func (l *latencies) send(id string) {
	l.mu.Lock()
	l.sent[id] = time.Now()
	l.mu.Unlock()
}

func (l *latencies) recv(id string) {
	now := time.Now()
	l.mu.Lock()
	if t0, ok := l.sent[id]; ok {
		l.got = append(l.got, now.Sub(t0))
	}
	l.mu.Unlock()
}

func (l *latencies) count() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.got) }

func (l *latencies) pct(p float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	slices.Sort(l.got)
	return float64(l.got[min(len(l.got)-1, int(p*float64(len(l.got))))].Microseconds()) / 1000
}

// idOf returns the CloudEvent id in an SSE data line.
func idOf(line []byte) string {
	_, rest, ok := bytes.Cut(line, []byte(`"id":"`))
	if !ok {
		return ""
	}
	id, _, _ := bytes.Cut(rest, []byte(`"`))
	return string(id)
}

func BenchmarkWatchLatency(b *testing.B) {
	const watchers = 100
	env := startWatchBench(b)
	ctx, cancel := context.WithCancel(b.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = env.relay.Run(ctx) })

	watch := &latencies{sent: map[string]time.Time{}}
	plain := &latencies{sent: map[string]time.Time{}}
	send := func(id string) { watch.send(id); plain.send(id) }
	jwt := benchJWT(b, "ga")
	var conns []net.Conn
	defer func() { // before wg.Wait: the readers end when their sockets close
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range watchers {
		c, r := dialWatch(b, env.url, "ga", jwt)
		r = bufio.NewReaderSize(r, 64<<10) // whole data lines
		conns = append(conns, c)
		wg.Go(func() {
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				if bytes.HasPrefix(line, []byte("data: ")) {
					watch.recv(idOf(line))
				}
			}
		})
	}
	// Baseline: one ordered consumer straight on JetStream.
	cons, err := env.js.OrderedConsumer(ctx, cloudevent.StreamName("registry"), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"landscape.registry.ga.>"}, DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		b.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { plain.recv(idOf(m.Data())) })
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Stop()

	// Warm up: one event end to end.
	warm := benchEvent(b, -1)
	send(warm.ID)
	if err := env.outbox.Tx().Emit(warm).Commit(ctx); err != nil {
		b.Fatal(err)
	}
	testkit.Eventually(b, 30*time.Second, "warm-up event", func() bool { return watch.count() == watchers && plain.count() == 1 })
	watch.got, plain.got = watch.got[:0], plain.got[:0]

	msgs := make([]cloudevent.Message, b.N)
	for i := range msgs {
		msgs[i] = benchEvent(b, i)
	}
	b.ResetTimer()
	start := time.Now()
	for i, m := range msgs {
		if d := time.Until(start.Add(time.Duration(i) * time.Millisecond)); d > 0 {
			time.Sleep(d) // pacing at 1,000 events/s
		}
		send(m.ID)
		if err := env.outbox.Tx().Emit(m).Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
	rate := float64(b.N) / time.Since(start).Seconds()
	testkit.Eventually(b, 2*time.Minute, "every event delivered to every watcher", func() bool {
		return watch.count() == b.N*watchers && plain.count() == b.N
	})
	b.StopTimer()
	b.ReportMetric(watch.pct(0.50), "watch-p50-ms")
	b.ReportMetric(watch.pct(0.99), "watch-p99-ms")
	b.ReportMetric(plain.pct(0.50), "nats-p50-ms")
	b.ReportMetric(plain.pct(0.99), "nats-p99-ms")
	b.ReportMetric(rate, "events/s")
	b.Logf("%d watchers, %d events at %.0f/s: commit → SSE p50 %.1f ms p99 %.1f ms; commit → JetStream consumer (baseline) p50 %.1f ms p99 %.1f ms",
		watchers, b.N, rate, watch.pct(0.5), watch.pct(0.99), plain.pct(0.5), plain.pct(0.99))
}

// memNow is the heap in use plus the goroutine stacks, after a GC.
func memNow() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// BenchmarkWatchIdleMemory opens 1,000 idle watches (10 accounts of 100)
// and reports the memory per watch (heap in use and goroutine stacks,
// after GC): the gateway's and the embedded NATS server's, as both run in
// this process (the server holds 3 consumers per account and gateway,
// not per watch). The baseline, same run: 1,000 connections held open by
// a bare handler that answers text/event-stream and waits, no gateway.
// The client side is a bare socket per connection in both. One op is one
// round of 1,000.
func BenchmarkWatchIdleMemory(b *testing.B) {
	const accounts, perAccount = 10, gateway.MaxWatchesPerAccount
	const n = accounts * perAccount
	env := startWatchBench(b)
	jwts := make([]string, accounts)
	for i := range jwts {
		jwts[i] = benchJWT(b, fmt.Sprintf("idle%d", i))
	}
	c, _ := dialWatch(b, env.url, "warm", benchJWT(b, "warm")) // the gateway's first watch
	_ = c.Close()
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(": watching bare\n\n"))
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}))
	b.Cleanup(bare.Close)
	open := func(url string) []net.Conn {
		conns := make([]net.Conn, 0, n)
		b.Cleanup(func() {
			for _, c := range conns {
				_ = c.Close()
			}
		})
		for i := range n {
			c, _ := dialWatch(b, url, fmt.Sprintf("idle%d", i/perAccount), jwts[i/perAccount])
			conns = append(conns, c)
		}
		return conns
	}
	var watch, base float64
	b.ResetTimer()
	for range b.N {
		before := memNow()
		conns := open(env.url)
		watch = float64(memNow()-before) / n
		for _, c := range conns {
			_ = c.Close()
		}
		before = memNow()
		conns = open(bare.URL)
		base = float64(memNow()-before) / n
		for _, c := range conns {
			_ = c.Close()
		}
	}
	b.StopTimer()
	b.ReportMetric(watch/1024, "KiB/watch")
	b.ReportMetric(base/1024, "KiB/bare-sse-conn")
	b.Logf("%d idle watches: %.1f KiB each (gateway and NATS server); a bare SSE connection (baseline): %.1f KiB", n, watch/1024, base/1024)
}

// BenchmarkWatchSlowReader: a watcher that never reads while 1,000 events
// of 2 KiB are published for its account. The gateway cuts it off once
// WatchBuffer events wait for it; reported are the peak memory while the
// events pile up and the memory after the cut-off, beside the same 1,000
// events read by a watcher that keeps up (baseline, same run).
func BenchmarkWatchSlowReader(b *testing.B) {
	const events = 1000
	env := startWatchBench(b)
	pad := strings.Repeat("x", 2000)
	publish := func(ga string) {
		for i := range events {
			body := fmt.Sprintf(`{"specversion":"1.0","id":"%s-%d","source":"/landscape/registry","type":"t","subject":"s","globalaccount":%q,"data":{"pad":%q}}`, ga, i, ga, pad)
			if _, err := env.js.PublishAsync("landscape.registry."+ga+".system.updated", []byte(body)); err != nil {
				b.Error(err)
				return
			}
		}
		<-env.js.PublishAsyncComplete()
	}
	// peakWhile samples the memory until done closes.
	peakWhile := func(done <-chan struct{}) uint64 {
		var peak uint64
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse+m.StackInuse)
			select {
			case <-done:
				return peak
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	var slowPeak, slowAfter, fastPeak float64
	cut := 0
	b.ResetTimer()
	for round := range b.N {
		// Baseline: a reader that keeps up.
		ga := fmt.Sprintf("fast%d", round)
		c, r := dialWatch(b, env.url, ga, benchJWT(b, ga))
		before := memNow()
		done := make(chan struct{})
		go func() {
			defer close(done)
			n := 0
			for n < events {
				line, err := r.ReadSlice('\n')
				if err != nil && err != bufio.ErrBufferFull {
					return
				}
				if bytes.HasPrefix(line, []byte("id: ")) {
					n++
				}
			}
		}()
		go publish(ga)
		fastPeak = float64(peakWhile(done) - before)
		_ = c.Close()

		// The reader that never reads: a small receive buffer, so the
		// socket fills soon.
		ga = fmt.Sprintf("slow%d", round)
		c, _ = dialWatch(b, env.url, ga, benchJWT(b, ga))
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		before = memNow()
		done = make(chan struct{})
		go func() { publish(ga); close(done) }()
		slowPeak = float64(peakWhile(done) - before)
		// Cut off: the gateway closes; reading now ends in EOF before
		// all events.
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		all, _ := readAll(c)
		if n := bytes.Count(all, []byte("\nid: ")); n < events {
			cut++
		}
		slowAfter = float64(memNow()) - float64(before)
		_ = c.Close()
	}
	b.StopTimer()
	b.ReportMetric(slowPeak/1024, "KiB-peak-slow")
	b.ReportMetric(slowAfter/1024, "KiB-after-cutoff")
	b.ReportMetric(fastPeak/1024, "KiB-peak-fast")
	b.ReportMetric(float64(cut)/float64(b.N), "cut-off-ratio")
	b.Logf("1,000 events of 2 KiB pending for a reader that never reads: peak +%.0f KiB, +%.0f KiB after the cut-off (%d of %d rounds cut off); a reader that keeps up: peak +%.0f KiB",
		slowPeak/1024, slowAfter/1024, cut, b.N, fastPeak/1024)
}

func readAll(c net.Conn) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(c)
	return buf.Bytes(), err
}
