package token_test

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/durationpb"

	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
)

// Run: go test -run '^$' -bench GRPC -benchtime 3s ./services/token/
// 64 concurrent callers (SetParallelism × GOMAXPROCS) on one connection
// with the service credential; BenchmarkGRPCHealthCheck is the baseline
// through the same server and client in the same run.

const callers = 64

// latencies collects per-call durations and reports ops/s, p50 and p99.
type latencies struct {
	mu    sync.Mutex
	all   []time.Duration
	start time.Time
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d...)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	elapsed := time.Since(l.start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	if len(l.all) == 0 {
		return
	}
	slices.Sort(l.all)
	b.ReportMetric(float64(l.all[len(l.all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(l.all[len(l.all)*99/100].Microseconds())/1000, "p99-ms")
}

func parallel(b *testing.B, call func(i int64) error) {
	var n atomic.Int64
	l := &latencies{}
	b.SetParallelism(max(1, callers/runtimeProcs()))
	b.ResetTimer()
	l.start = time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			t0 := time.Now()
			if err := call(n.Add(1) - 1); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		l.add(mine)
	})
	b.StopTimer()
	l.report(b)
}

func BenchmarkGRPCHealthCheck(b *testing.B) {
	h := start(b, false)
	hc := healthpb.NewHealthClient(h.conn)
	parallel(b, func(int64) error {
		_, err := hc.Check(b.Context(), &healthpb.HealthCheckRequest{})
		return err
	})
}

func BenchmarkGRPCIssueToken(b *testing.B) {
	h := start(b, false)
	parallel(b, func(i int64) error {
		_, err := h.client.IssueToken(b.Context(), &tokenv1.IssueTokenRequest{
			Subject: benchSubject(i), SystemType: "sap-s4hana-cloud", Ttl: durationpb.New(time.Hour),
		})
		return err
	})
}

func BenchmarkGRPCConsumeToken(b *testing.B) {
	h := start(b, false)
	secrets := make([]string, b.N)
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < b.N; i += 16 {
				res, err := h.client.IssueToken(b.Context(), &tokenv1.IssueTokenRequest{
					Subject: benchSubject(int64(i)), SystemType: "sap-s4hana-cloud", Ttl: durationpb.New(time.Hour),
				})
				if err != nil {
					failed.Store(err)
					return
				}
				secrets[i] = res.GetSecret()
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	parallel(b, func(i int64) error {
		_, err := h.client.ConsumeToken(b.Context(), &tokenv1.ConsumeTokenRequest{Secret: secrets[i]})
		return err
	})
}

// benchSubject spreads tokens over global accounts (500 each, below the
// quota) and systems (one each).
func benchSubject(n int64) string {
	return fmt.Sprintf("globalAccounts/g%d/systems/s%d", n/500, n)
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
