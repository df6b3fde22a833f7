package redisstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/services/token/tokens"
)

// Run: go test -run '^$' -bench . -benchtime 3s ./services/token/redisstore/
// BenchmarkRedisPing is the baseline: one round trip on the same client.

// parallelism × GOMAXPROCS goroutines run each benchmark (32 on 2 cores).
const parallelism = 16

func opsPerSecond(b *testing.B, start time.Time) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

// benchSubject spreads tokens over global accounts (500 each, below the
// quota) and systems (one each, so no two steps contend).
func benchSubject(n int64) string {
	return fmt.Sprintf("globalAccounts/g%d/systems/s%d", n/500, n)
}

func BenchmarkRedisPing(b *testing.B) {
	e := newEnv(b)
	b.SetParallelism(parallelism)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := e.rdb.Ping(b.Context()).Err(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	opsPerSecond(b, start)
}

func BenchmarkStoreIssue(b *testing.B) {
	e := newEnv(b)
	var n atomic.Int64
	b.SetParallelism(parallelism)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, err := e.svc.Issue(b.Context(), tokens.IssueRequest{
				Subject: benchSubject(n.Add(1)), SystemType: "sap-s4hana-cloud", TTL: time.Hour,
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	opsPerSecond(b, start)
}

func BenchmarkStoreConsume(b *testing.B) {
	e := newEnv(b)
	secrets := make([]string, b.N)
	for i := range secrets {
		is, err := e.svc.Issue(b.Context(), tokens.IssueRequest{
			Subject: benchSubject(int64(i)), SystemType: "sap-s4hana-cloud", TTL: time.Hour,
		})
		if err != nil {
			b.Fatal(err)
		}
		secrets[i] = is.Secret
	}
	var n atomic.Int64
	b.ResetTimer()
	b.SetParallelism(parallelism)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.svc.Consume(b.Context(), secrets[n.Add(1)-1]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	opsPerSecond(b, start)
}
