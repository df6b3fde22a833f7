package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/testkit"
)

// TestWatchLimitAcrossReplicas: gateways sharing a Redis admit at most
// MaxWatchesPerAccount watches of an account together; a release frees a
// slot for any of them; other accounts count apart.
func TestWatchLimitAcrossReplicas(t *testing.T) {
	t.Parallel()
	rdb, prefix := testkit.Redis(t)
	a, b := newWatchLimit(rdb, prefix, testkit.Logger(t)), newWatchLimit(rdb, prefix, testkit.Logger(t))
	t.Cleanup(a.close)
	t.Cleanup(b.close)
	ctx := t.Context()
	var releases []func()
	for i := range MaxWatchesPerAccount {
		l := a
		if i%3 == 0 {
			l = b
		}
		rel, ok := l.acquire(ctx, "acme")
		if !ok {
			t.Fatalf("watch %d refused", i+1)
		}
		releases = append(releases, rel)
	}
	for name, l := range map[string]*watchLimit{"a": a, "b": b} {
		if _, ok := l.acquire(ctx, "acme"); ok {
			t.Fatalf("watch %d admitted by %s", MaxWatchesPerAccount+1, name)
		}
	}
	if rel, ok := b.acquire(ctx, "other"); !ok {
		t.Fatal("another account's watch refused")
	} else {
		rel()
	}
	releases[1]() // held by a
	rel, ok := b.acquire(ctx, "acme")
	if !ok {
		t.Fatal("a released slot is not free for another gateway")
	}
	rel()
	releases[1] = func() {}
	for _, r := range releases {
		r()
	}
	if n := rdb.ZCard(ctx, a.key("acme")).Val(); n != 0 {
		t.Fatalf("%d leases left after every release", n)
	}
}

// TestWatchLimitLeases: a refresh extends a gateway's leases; the leases
// of a gateway that stops refreshing (it died) expire, and their slots
// are free again.
func TestWatchLimitLeases(t *testing.T) {
	t.Parallel()
	rdb, prefix := testkit.Redis(t)
	dead := newWatchLimit(rdb, prefix, testkit.Logger(t))
	dead.ttl, dead.every = 5*time.Second, time.Hour // refreshed only by hand
	ctx := t.Context()
	for range MaxWatchesPerAccount {
		if _, ok := dead.acquire(ctx, "acme"); !ok {
			t.Fatal("refused")
		}
	}
	key := dead.key("acme")
	first := rdb.ZRangeWithScores(ctx, key, 0, 0).Val()
	testkit.Eventually(t, 10*time.Second, "a refresh extends the leases", func() bool {
		dead.refresh()
		s, err := rdb.ZScore(ctx, key, first[0].Member.(string)).Result()
		return err == nil && s > first[0].Score
	})
	dead.refresh()
	dead.close() // the process is gone: no more refreshes, no releases
	live := newWatchLimit(rdb, prefix, testkit.Logger(t))
	t.Cleanup(live.close)
	if _, ok := live.acquire(ctx, "acme"); ok { // within the TTL of the last refresh
		t.Fatal("admitted while the dead gateway's leases live")
	}
	testkit.Eventually(t, 30*time.Second, "the dead gateway's leases expire", func() bool {
		rel, ok := live.acquire(ctx, "acme")
		if ok {
			rel()
		}
		return ok
	})
}

// TestWatchLimitWithoutRedis: when Redis does not answer, each gateway
// still bounds its own watches.
func TestWatchLimitWithoutRedis(t *testing.T) {
	t.Parallel()
	port, err := testkit.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	l := newWatchLimit(rdb, "x", testkit.Logger(t))
	t.Cleanup(l.close)
	ctx := context.Background()
	var rels []func()
	for range MaxWatchesPerAccount {
		rel, ok := l.acquire(ctx, "acme")
		if !ok {
			t.Fatal("refused while Redis is down: the limit must fail open to the per-process count")
		}
		rels = append(rels, rel)
	}
	if _, ok := l.acquire(ctx, "acme"); ok {
		t.Fatal("the per-process bound does not hold while Redis is down")
	}
	for _, r := range rels {
		r()
	}
	if _, ok := l.acquire(ctx, "acme"); !ok {
		t.Fatal("released slots are not free")
	}
}
