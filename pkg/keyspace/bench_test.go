package keyspace_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/keyspace"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

// BenchmarkPage reads the first page of 100 of 10,000 resources, all in
// one state: from the state's index alone (a filter with the state), and
// merged from the indexes of three states (a filter without one: the
// other two are empty), the read that replaced one of idx:all.
func BenchmarkPage(b *testing.B) {
	rdb, prefix := testkit.Redis(b)
	ctx := b.Context()
	a := keyspace.New(prefix, "bench").Account("ga")
	states := []string{"A", "B", "C"}
	t0 := time.Unix(1_700_000_000, 0)
	members := make([]redis.Z, 10_000)
	for i := range members {
		members[i] = redis.Z{Member: resource.IndexMember(t0.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("r%05d", i))}
	}
	if err := rdb.ZAdd(ctx, a.Index("A", ""), members...).Err(); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		indexes []string
	}{
		{"one index", a.Indexes(states, "A", "")},
		{"three states merged", a.Indexes(states, "", "")},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				ids, _, err := keyspace.Page(ctx, rdb, c.indexes, 100, "")
				if err != nil || len(ids) != 100 {
					b.Fatalf("%d ids, %v", len(ids), err)
				}
			}
		})
	}
}
