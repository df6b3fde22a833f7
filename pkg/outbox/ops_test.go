package outbox_test

import (
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

func TestExpireAtLeastAndHIncrBy(t *testing.T) {
	t.Parallel()
	rdb, prefix := testkit.Redis(t)
	ctx := t.Context()
	ob := outbox.New(rdb, prefix, "registry")
	k, h := prefix+":z", prefix+":h"
	now := time.Now()
	// A key without expiry gets one; a missing key stays missing.
	err := ob.Tx().ZAdd(k, 1, "a").ExpireAtLeast(k, now.Add(time.Hour)).
		ExpireAtLeast(prefix+":missing", now.Add(time.Hour)).HIncrBy(h, "rev", 1).HIncrBy(h, "rev", 2).Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(ctx, k).Val(); ttl < 59*time.Minute || ttl > time.Hour {
		t.Fatalf("TTL %v, want about an hour", ttl)
	}
	if rdb.Exists(ctx, prefix+":missing").Val() != 0 {
		t.Fatal("ExpireAtLeast created a key")
	}
	if v := rdb.HGet(ctx, h, "rev").Val(); v != "3" {
		t.Fatalf("rev %s, want 3", v)
	}
	// Sooner never shortens; later extends.
	if err := ob.Tx().ExpireAtLeast(k, now.Add(time.Minute)).Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(ctx, k).Val(); ttl < 59*time.Minute {
		t.Fatalf("TTL shortened to %v", ttl)
	}
	if err := ob.Tx().ExpireAtLeast(k, now.Add(2*time.Hour)).Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(ctx, k).Val(); ttl < 119*time.Minute {
		t.Fatalf("TTL %v, want about two hours", ttl)
	}
}
