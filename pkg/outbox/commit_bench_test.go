package outbox_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/outbox"
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
