package stack

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/gateway"
)

// memRedis starts the embedded store and returns a client through the
// same redisconn.Open the stack uses.
func memRedis(t *testing.T) *redis.Client {
	t.Helper()
	m, err := startMemoryRedis()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	rdb, err := redisconn.Open("redis://" + m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// TestMemoryRedisRunsOutboxTx checks that the embedded store runs the
// outbox's commit script (EVALSHA Lua with HGET/HSET/GET/SET PX/DEL/ZADD/
// ZREM/ZCOUNT/ZREMRANGEBYSCORE/PEXPIREAT/XADD) and the reads the services
// and the relay rely on (HMGET records, ZRANGE BYLEX, XRANGE, XREAD BLOCK,
// XDEL, SET NX PX, lease scripts).
func TestMemoryRedisRunsOutboxTx(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb := memRedis(t)
	o := outbox.New(rdb, "ls", "registry")

	msg, err := cloudevent.New(cloudevent.Spec{Context: "registry", Name: "system.created"}, "acme",
		"globalAccounts/acme/systems/s1", &emptypb.Empty{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rec := "ls:registry:{acme}:system:s1"
	err = o.Tx().
		ExpectRevision(rec, 0).
		ExpectAbsentOr("ls:registry:{acme}:name:s1", "s1").
		ExpectCountBelow([]string{"ls:registry:{acme}:tokens"}, 0, 10).
		PutRecord(rec, 1, []byte("data-1")).
		Set("ls:registry:{acme}:name:s1", "s1", 0).
		Set("ls:registry:{acme}:req:r1", "s1", time.Hour).
		ZAdd("ls:registry:{acme}:idx:all", 0, "00000000000000000001/s1").
		ZAdd("ls:registry:{acme}:idx:all", 0, "00000000000000000002/s2").
		ZAdd("ls:registry:{acme}:tokens", float64(time.Now().Unix()), "t1").
		ZRemRangeByScore("ls:registry:{acme}:tokens", "-inf", "1").
		ExpireAt("ls:registry:{acme}:req:r1", time.Now().Add(time.Hour)).
		Emit(msg).
		Commit(ctx)
	if err != nil {
		t.Fatalf("commit on the in-memory store: %v", err)
	}
	// A failed expectation writes nothing.
	err = o.Tx().ExpectRevision(rec, 0).PutRecord(rec, 2, []byte("x")).Commit(ctx)
	if _, ok := outbox.IsConflict(err); !ok {
		t.Fatalf("stale revision: got %v, want a conflict", err)
	}
	if err := o.Tx().ExpectRevision(rec, 1).PutRecord(rec, 2, []byte("data-2")).ZRem("ls:registry:{acme}:idx:all", "00000000000000000002/s2").Del("ls:registry:{acme}:req:r1").Commit(ctx); err != nil {
		t.Fatalf("second commit: %v", err)
	}
	rev, data, err := outbox.GetRecord(ctx, rdb, rec)
	if err != nil || rev != 2 || string(data) != "data-2" {
		t.Fatalf("GetRecord = %d %q %v", rev, data, err)
	}
	members, err := rdb.ZRangeByLex(ctx, "ls:registry:{acme}:idx:all", &redis.ZRangeBy{Min: "(00000000000000000000/", Max: "+", Count: 10}).Result()
	if err != nil || len(members) != 1 {
		t.Fatalf("ZRANGEBYLEX = %v %v", members, err)
	}
	if err := rdb.Do(ctx, "ZRANGE", "ls:registry:{acme}:idx:all", "-", "+", "BYLEX", "LIMIT", 0, 10).Err(); err != nil {
		t.Logf("note: ZRANGE … BYLEX (Redis 6.2 form) is not supported by the in-memory store: %v; ZRANGEBYLEX is", err)
	}
	// The relay's reads.
	entries, err := rdb.XRange(ctx, o.Key(), "-", "+").Result()
	if err != nil || len(entries) != 1 || entries[0].Values["i"] != msg.ID {
		t.Fatalf("XRANGE = %v %v", entries, err)
	}
	got := make(chan []redis.XStream, 1)
	go func() {
		res, _ := rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{"ls:registry:other", "0-0"}, Count: 10, Block: 5 * time.Second}).Result()
		got <- res
	}()
	testkit.Eventually(t, 5*time.Second, "XADD while XREAD BLOCK waits", func() bool {
		return rdb.XAdd(ctx, &redis.XAddArgs{Stream: "ls:registry:other", Values: []any{"s", "x"}}).Err() == nil
	})
	if res := <-got; len(res) != 1 || len(res[0].Messages) == 0 {
		t.Fatalf("XREAD BLOCK = %v", res)
	}
	if n, err := rdb.XDel(ctx, o.Key(), entries[0].ID).Result(); err != nil || n != 1 {
		t.Fatalf("XDEL = %d %v", n, err)
	}
	if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: "ls:registry:outbox:rejected", Values: []any{"s", "x"}})
		p.XDel(ctx, "ls:registry:other", "0-1")
		return nil
	}); err != nil {
		t.Fatalf("MULTI XADD XDEL: %v", err)
	}
	if ok, err := rdb.SetNX(ctx, "ls:registry:outbox:lease", "me", time.Second).Result(); err != nil || !ok {
		t.Fatalf("SET NX PX = %v %v", ok, err)
	}
	renew := redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then redis.call("PEXPIRE", KEYS[1], ARGV[2]) return 1 end return 0`)
	if n, err := renew.Run(ctx, rdb, []string{"ls:registry:outbox:lease"}, "me", 5000).Int(); err != nil || n != 1 {
		t.Fatalf("lease renew script = %d %v", n, err)
	}
}

// TestMemoryRedisRunsRateLimit checks the gateway's GCRA script (TIME in
// Lua) on the embedded store.
func TestMemoryRedisRunsRateLimit(t *testing.T) {
	t.Parallel()
	rdb := memRedis(t)
	l := gateway.NewLimiter(rdb, "ls", 1, 2, nil)
	for i := range 2 {
		if ok, _ := l.Allow(t.Context(), "10.0.0.1"); !ok {
			t.Fatalf("request %d refused within the burst", i)
		}
	}
	if ok, retry := l.Allow(t.Context(), "10.0.0.1"); ok || retry < 1 {
		t.Fatalf("third request: allowed=%v retry=%d, want refused with a retry", ok, retry)
	}
}

// TestMemoryRedisRelaysToJetStream runs the outbox relay on the embedded
// store against an embedded NATS server.
func TestMemoryRedisRelaysToJetStream(t *testing.T) {
	t.Parallel()
	rdb := memRedis(t)
	ns := testkit.NATS(t)
	nc, js, err := connectNATS(ns.URL(), natsconn.Auth{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	o := outbox.New(rdb, "ls", "registry")
	msg, err := cloudevent.New(cloudevent.Spec{Context: "registry", Name: "system.created"}, "acme",
		"globalAccounts/acme/systems/s1", &emptypb.Empty{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Tx().Emit(msg).Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- outbox.NewRelay(o, js, nil, outbox.RelayOptions{}).Run(ctx) }()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case err := <-errc:
			t.Fatalf("relay stopped: %v", err)
		case <-deadline:
			t.Fatal("the event did not reach JetStream within 10s")
		default:
		}
		if s, err := js.Stream(ctx, cloudevent.StreamName("registry")); err == nil {
			if info, err := s.Info(ctx); err == nil && info.State.Msgs == 1 {
				if n, _ := rdb.XLen(ctx, o.Key()).Result(); n == 0 {
					return
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMemoryRedisRunsChunkedRecords checks that the embedded store keeps
// records in chunks (HSET/HDEL in the commit script, HMGET, HGETALL).
func TestMemoryRedisRunsChunkedRecords(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb := memRedis(t)
	o := outbox.New(rdb, "ls", "token")
	long := []byte(strings.Repeat("0123456789", 40))
	if err := o.Tx().PutRecord("ls:token:hash:a", 1, long).PutRecord("ls:token:hash:b", 2, []byte("short")).Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := o.Tx().PutRecord("ls:token:hash:b", 3, []byte("shorter")).Commit(ctx); err != nil {
		t.Fatal(err)
	}
	revs, datas, err := outbox.GetRecords(ctx, rdb, []string{"ls:token:hash:a", "ls:token:hash:b"})
	if err != nil || revs[0] != 1 || string(datas[0]) != string(long) || revs[1] != 3 || string(datas[1]) != "shorter" {
		t.Fatalf("GetRecords = %v %q %v", revs, datas, err)
	}
}
