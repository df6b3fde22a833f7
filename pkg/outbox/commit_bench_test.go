package outbox_test

import (
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

// registrationTx builds a step shaped like a system registration: two
// expectations, a record, an index, a sorted-set member and an event.
func registrationTx(ob *outbox.Outbox, prefix string, i int, msg cloudevent.Message) *outbox.Tx {
	id := strconv.Itoa(i)
	rec := prefix + ":registry:{ga}:system:" + id
	return ob.Tx().ExpectRevision(rec, 0).ExpectAbsentOr(prefix+":registry:{ga}:name:"+id, id).
		PutRecord(rec, 1, []byte(`{"name":"globalAccounts/ga/systems/`+id+`","displayName":"bench"}`)).
		Set(prefix+":registry:{ga}:name:"+id, id, 0).
		ZAdd(prefix+":registry:{ga}:systems", float64(i), id).
		Emit(msg)
}

// BenchmarkCommit commits registration-shaped steps on the real Redis,
// sequentially (one round trip each); the baseline in the same run is a
// go-redis PING round trip, reported as ping-us.
//
//	go test -run '^$' -bench Commit -benchmem -count 3 ./pkg/outbox/
func BenchmarkCommit(b *testing.B) {
	rdb, prefix := testkit.Redis(b)
	ctx := b.Context()
	ob := outbox.New(rdb, prefix, "registry")
	msg := benchMessage(b, "registry", 0)
	if err := registrationTx(ob, prefix, -1, msg).Commit(ctx); err != nil {
		b.Fatal(err)
	}
	const pings = 2000
	start := time.Now()
	for range pings {
		if err := rdb.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
	ping := time.Since(start)
	b.ResetTimer()
	for i := range b.N {
		if err := registrationTx(ob, prefix, i, msg).Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(ping.Microseconds())/pings, "ping-us")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/(float64(ping.Microseconds())/pings), "x-ping")
}

// BenchmarkTxBuild builds (does not commit) registration-shaped steps:
// the client-side cost and allocations of a Tx.
func BenchmarkTxBuild(b *testing.B) {
	ob := outbox.New(nil, "bench", "registry")
	msg := benchMessage(b, "registry", 0)
	b.ReportAllocs()
	for i := range b.N {
		_ = registrationTx(ob, "bench", i, msg)
	}
}

// BenchmarkCommitWaitReplicas commits registration-shaped steps on a
// redis-server primary with one replica (processes of the benchmark, on
// loopback, without persistence), with the client waiting for 0 and for 1
// replica (redisconn.Durability), by 1 caller and by 64 concurrent callers
// whose steps share pipelines and their WAIT. Compare the sub-benchmarks
// of one run: the machine may be shared.
//
//	go test -run '^$' -bench CommitWaitReplicas -count 3 ./pkg/outbox/
func BenchmarkCommitWaitReplicas(b *testing.B) {
	rr := testkit.StartReplicatedRedis(b, 1, 5*time.Second)
	for _, callers := range []int{1, 64} {
		for _, n := range []int{0, 1} {
			b.Run(fmt.Sprintf("callers=%d/replicas=%d", callers, n), func(b *testing.B) {
				rdb, err := redisconn.OpenDurable(rr.Primary.URL(), redisconn.Durability{Replicas: n, Timeout: time.Second})
				if err != nil {
					b.Fatal(err)
				}
				defer rdb.Close()
				prefix := "b" + testkit.RandomID(4)
				ob := outbox.New(rdb, prefix, "registry")
				msg := benchMessage(b, "registry", 0)
				var seq atomic.Int64
				b.SetParallelism(max(callers/runtime.GOMAXPROCS(0), 1))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := registrationTx(ob, prefix, int(seq.Add(1)), msg).Commit(b.Context()); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
