package testkit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the name the Sentinel of a ReplicatedRedis monitors.
const SentinelMaster = "landscape"

// ReplicatedRedis is a Redis primary, its replicas and a Sentinel that
// fails over to a replica when the primary dies, each a redis-server
// process of the test on loopback (as a deployment runs them).
type ReplicatedRedis struct {
	Primary  *RedisProc
	Replicas []*RedisProc
	Sentinel *RedisProc
	// URL reaches the current primary through the Sentinel
	// (redis://127.0.0.1:<sentinel port>?master_name=landscape).
	URL string
}

// StartReplicatedRedis starts a primary, replicas replicas (without
// persistence: the failover is what keeps data) and one Sentinel with a
// quorum of 1 that declares the primary down after downAfter, and waits
// until every replica is in sync and known to the Sentinel.
func StartReplicatedRedis(t testing.TB, replicas int, downAfter time.Duration) *ReplicatedRedis {
	t.Helper()
	r := &ReplicatedRedis{Primary: RedisProcess(t, RedisOptions{NoPersistence: true})}
	for range replicas {
		r.Replicas = append(r.Replicas, RedisProcess(t, RedisOptions{NoPersistence: true,
			Args: []string{"--replicaof", "127.0.0.1", strconv.Itoa(r.Primary.Port())}}))
	}
	primary := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(r.Primary.Port())})
	defer primary.Close()
	Eventually(t, 20*time.Second, "replicas in sync", func() bool {
		info, err := primary.Info(context.Background(), "replication").Result()
		return err == nil && strings.Count(info, "state=online") == replicas
	})
	port, err := FreePort()
	if err != nil {
		t.Fatalf("testkit: free port: %v", err)
	}
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\nsentinel monitor %s 127.0.0.1 %d 1\n"+
		"sentinel down-after-milliseconds %[2]s %[4]d\nsentinel failover-timeout %[2]s 5000\n",
		port, SentinelMaster, r.Primary.Port(), downAfter.Milliseconds())
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatalf("testkit: %v", err)
	}
	r.Sentinel = sentinelProcess(t, port, conf)
	r.URL = fmt.Sprintf("redis://127.0.0.1:%d?master_name=%s", port, SentinelMaster)
	sc := redis.NewSentinelClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
	defer sc.Close()
	Eventually(t, 20*time.Second, "the Sentinel knows the replicas", func() bool {
		rs, err := sc.Replicas(context.Background(), SentinelMaster).Result()
		return err == nil && len(rs) == replicas
	})
	return r
}

// PrimaryPort asks the Sentinel which port the primary has now.
func (r *ReplicatedRedis) PrimaryPort(ctx context.Context) (int, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(r.Sentinel.Port())})
	defer sc.Close()
	addr, err := sc.GetMasterAddrByName(ctx, SentinelMaster).Result()
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(addr[1])
}

// sentinelProcess runs redis-server in Sentinel mode with conf (which
// Sentinel rewrites) on port.
func sentinelProcess(t testing.TB, port int, conf string) *RedisProc {
	t.Helper()
	p := &RedisProc{t: t, port: port, dir: filepath.Dir(conf), logs: &Buffer{},
		opts: RedisOptions{StartTimeout: 10 * time.Second}, sentinelConf: conf}
	var err error
	if p.bin, err = redisServer(t); err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(p.Kill)
	p.Start()
	return p
}
