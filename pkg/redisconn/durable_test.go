package redisconn_test

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

// serverCalls reads how many times the server ran cmd (INFO commandstats).
func serverCalls(t *testing.T, c *redis.Client, cmd string) int {
	t.Helper()
	info, err := c.Info(t.Context(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`cmdstat_` + cmd + `:calls=(\d+)`).FindStringSubmatch(info)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestDurableWaitsForTheReplica runs a primary, a replica and a Sentinel
// (real redis-server processes) and a client through the Sentinel that
// waits for one replica: durable writes succeed while the replica keeps
// up, fail with UNAVAILABLE (never past the caller's deadline) while it is
// stopped, and concurrent durable writes share their WAITs.
func TestDurableWaitsForTheReplica(t *testing.T) {
	t.Parallel()
	rr := testkit.StartReplicatedRedis(t, 1, 5*time.Second)
	c, err := redisconn.OpenDurable(rr.URL, redisconn.Durability{Replicas: 1, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	dctx := redisconn.Durable(ctx)
	if err := c.Set(dctx, "k", "1", 0).Err(); err != nil {
		t.Fatalf("durable write with the replica up: %v", err)
	}
	if err := redisconn.Sync(ctx, c); err != nil {
		t.Fatalf("sync with the replica up: %v", err)
	}

	// Concurrent durable writes share pipelines, and their WAITs.
	waitsBefore, setsBefore := serverCalls(t, c.Client, "wait"), serverCalls(t, c.Client, "incr")
	var wg sync.WaitGroup
	errs := make(chan error, 64*20)
	for range 64 {
		wg.Go(func() {
			for range 20 {
				errs <- c.Incr(dctx, "n").Err()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent durable write: %v", err)
		}
	}
	waits := serverCalls(t, c.Client, "wait") - waitsBefore
	incrs := serverCalls(t, c.Client, "incr") - setsBefore
	t.Logf("%d concurrent durable writes took %d WAITs", incrs, waits)
	if incrs != 64*20 || waits >= incrs {
		t.Errorf("%d writes, %d WAITs: want every write once and fewer WAITs than writes", incrs, waits)
	}

	rr.Replicas[0].Pause()
	start := time.Now()
	err = c.Set(dctx, "k", "2", 0).Err()
	if apperr.ReasonOf(redisconn.Classify(err)) != apperr.Unavailable || !errors.Is(err, redisconn.ErrNotReplicated) {
		t.Fatalf("durable write with the replica stopped: %v, want UNAVAILABLE (not replicated)", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the failing durable write took %s", took)
	}
	if err := c.Set(ctx, "plain", "x", 0).Err(); err != nil {
		t.Errorf("a write that does not ask for replicas: %v", err)
	}
	if err := redisconn.Sync(ctx, c); apperr.ReasonOf(err) != apperr.Unavailable {
		t.Errorf("sync with the replica stopped: %v, want UNAVAILABLE", err)
	}
	// A caller's deadline shorter than the WAIT's timeout holds.
	short, cancel := context.WithTimeout(dctx, 100*time.Millisecond)
	start = time.Now()
	err = c.Set(short, "k", "3", 0).Err()
	cancel()
	if err == nil || time.Since(start) > time.Second {
		t.Errorf("durable write with a 100ms deadline: %v after %s", err, time.Since(start))
	}
	rr.Replicas[0].Resume()
	testkit.Eventually(t, 10*time.Second, "sync once the replica is back", func() bool {
		return redisconn.Sync(ctx, c) == nil
	})
	if err := c.Set(dctx, "k", "4", 0).Err(); err != nil {
		t.Fatalf("durable write with the replica back: %v", err)
	}
}

// TestDurableWithoutReplicasCostsNothing: with N = 0 a durable write is a
// plain write and Sync sends nothing.
func TestDurableWithoutReplicasCostsNothing(t *testing.T) {
	t.Parallel()
	_, prefix := testkit.Redis(t)
	c, err := redisconn.OpenDurable(testkit.RedisURL(t), redisconn.Durability{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(redisconn.Durable(t.Context()), prefix+":k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := redisconn.Sync(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if got := redisconn.DurabilityOf(c); got.Replicas != 0 || got.Timeout != redisconn.DefaultWaitTimeout {
		t.Errorf("DurabilityOf = %+v", got)
	}
	if _, err := redisconn.OpenDurable(testkit.RedisURL(t), redisconn.Durability{Replicas: -1}); err == nil {
		t.Error("OpenDurable accepted -1 replicas")
	}
}
