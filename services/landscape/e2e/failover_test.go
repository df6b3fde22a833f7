package e2e

// A Redis failover under load (docs/API.md, "Durable commits across a
// Redis failover"). Redis runs as the scaled deployment runs it: a
// primary, a replica and a Sentinel, each a redis-server process of the
// test. Registrations and pairings run at a steady rate; the two replicas
// are stopped (SIGSTOP) and cut off so that they lag, the primary is
// killed (SIGKILL), the replicas resume and Sentinel promotes one. Then,
// with the services
// waiting for one replica (--redis-wait-replicas 1):
//   - every call answered OK is there: each acknowledged system at its
//     acknowledged revision;
//   - every token a pairing consumed stays consumed (pairing again is
//     refused);
//   - every event on the streams describes a change that is there;
//   - calls during the switch fail with UNAVAILABLE, before their deadline,
//     and the services reach the new primary by themselves.
// Without waiting (0) the same run shows what a failover loses, so the
// checks are seen to fail.

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/landscape/stack"
)

// failoverWaitTimeout is the services' --redis-wait-timeout in the test:
// short, so that calls fail quickly while the replica is stopped.
const failoverWaitTimeout = 300 * time.Millisecond

// failoverResult is what a failover run lost and kept.
type failoverResult struct {
	acked, lost         int // systems acknowledged; of them missing or behind
	consumed, revived   int // tokens consumed by an acknowledged pairing; of them no longer refused as used
	events, phantom     int // events on the streams; of them describing no committed change
	okDuringLag         int64
	failures            []string
	maxFail, reconnect  time.Duration
	promoted, firstOKAt time.Duration // after the kill
}

func (r failoverResult) String() string {
	return fmt.Sprintf("%d systems acknowledged, %d kept, %d lost; %d tokens consumed, %d no longer refused as used; "+
		"%d events, %d for a change that is not there; %d calls OK while the replica lagged; "+
		"primary killed → replica promoted %s, first call OK %s; failures %v (slowest %s, deadline %s)",
		r.acked, r.acked-r.lost, r.lost, r.consumed, r.revived, r.events, r.phantom, r.okDuringLag,
		r.promoted.Round(time.Millisecond), r.firstOKAt.Round(time.Millisecond), r.failures,
		r.maxFail.Round(time.Millisecond), faultCallDeadline)
}

// runFailover runs the scenario with the services waiting for replicas
// replicas and returns what was lost.
func runFailover(t *testing.T, replicas int) failoverResult {
	t.Helper()
	lb := newLogbook(t)
	jwt := faultJWT(t)
	lb.keep(jwt)
	// As deploy/ runs it: a primary and two replicas, so that after the
	// failover the new primary has a replica to wait for.
	rr := testkit.StartReplicatedRedis(t, 2, 500*time.Millisecond)
	ns := testkit.NATS(t)
	st, err := stack.Start(context.Background(), stack.Config{
		RedisURL: rr.URL, NATSURL: ns.URL(), JWTHS256Secret: faultSecret, Logger: lb.Logger(),
		RedisWait: redisconn.Durability{Replicas: replicas, Timeout: failoverWaitTimeout},
	})
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	reg := registryv1.NewRegistryServiceClient(dialGRPC(t, st.GRPCAddr))
	l := newFaultLoad(lb)
	stopLoad := sync.OnceFunc(l.run(reg, jwt, 4, 40*time.Millisecond))
	defer stopLoad()
	testkit.Eventually(t, 20*time.Second, "load running", func() bool { return l.okCalls.Load() > 20 })

	// The replicas lag: with 0 replicas to wait for, calls go on being
	// acknowledged; with 1 they fail until one is back.
	var res failoverResult
	bad0 := l.badCalls.Load()
	for _, r := range rr.Replicas {
		r.Pause()
	}
	// A stopped replica still receives what the primary sends into its
	// socket; cutting the link makes it lag for real (as a slow network
	// would): what the primary acknowledges from now on, it lacks.
	primary := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(rr.Primary.Port())})
	defer primary.Close()
	if err := primary.ClientKillByFilter(context.Background(), "TYPE", "replica").Err(); err != nil {
		t.Fatalf("cut the replication links: %v", err)
	}
	// Calls whose replicas answered before the cut may still be on their
	// way back: count from a moment later.
	time.Sleep(failoverWaitTimeout)
	ok0 := l.okCalls.Load()
	if replicas == 0 {
		testkit.Eventually(t, 20*time.Second, "calls acknowledged while the replica lags", func() bool { return l.okCalls.Load() >= ok0+10 })
	} else {
		testkit.Eventually(t, 20*time.Second, "calls failing while the replica lags", func() bool { return l.badCalls.Load() >= bad0+4 })
	}
	res.okDuringLag = l.okCalls.Load() - ok0
	rr.Primary.Kill()
	killed := time.Now()
	for _, r := range rr.Replicas {
		r.Resume()
	}
	okAtKill := l.okCalls.Load()
	testkit.Eventually(t, 30*time.Second, "Sentinel promotes a replica", func() bool {
		p, err := rr.PrimaryPort(context.Background())
		return err == nil && p != rr.Primary.Port()
	})
	res.promoted = time.Since(killed)
	testkit.Eventually(t, 30*time.Second, "calls acknowledged after the failover", func() bool { return l.okCalls.Load() > okAtKill })
	res.firstOKAt = time.Since(killed)
	testkit.Eventually(t, 30*time.Second, "steady load after the failover", func() bool { return l.okCalls.Load() > okAtKill+20 })
	stopLoad()

	acked, failed, maxFail := l.snapshot()
	l.mu.Lock()
	consumed := l.paired
	l.mu.Unlock()
	for k, n := range failed {
		res.failures = append(res.failures, fmt.Sprintf("%s x%d", k, n))
	}
	res.maxFail = maxFail
	sort.Strings(res.failures)

	// Every acknowledged system, at its acknowledged revision.
	committed := committedSystems(t, reg, jwt)
	res.acked = len(acked)
	for sys, rev := range acked {
		if committed[sys] < rev {
			res.lost++
		}
	}
	// Every consumed token stays consumed.
	res.consumed = len(consumed)
	for tok, typ := range consumed {
		cctx, cancel := context.WithTimeout(context.Background(), faultCallDeadline)
		_, err := reg.PairSystem(cctx, &registryv1.PairSystemRequest{
			IntegrationToken: tok, SystemType: typ, BaseUrl: "https://again.example.com", ExternalId: "again",
		})
		cancel()
		if code, reason := reasonOf(err); err == nil || code != codes.Unauthenticated || reason != "TOKEN_ALREADY_USED" {
			res.revived++
		}
	}
	// Every event describes a committed change: its resource is there at
	// (at least) the event's revision. The relay drains the outboxes first.
	defer func() {
		if t.Failed() {
			for _, line := range strings.Split(lb.text(), "\n") {
				if strings.Contains(line, "outbox") || strings.Contains(line, "WARN") || strings.Contains(line, "ERROR") {
					t.Log(line)
				}
			}
		}
	}()
	testkit.Eventually(t, 30*time.Second, "outboxes drained", func() bool {
		for _, c := range []string{"registry", "token", "formation"} {
			if n, err := st.Redis.XLen(context.Background(), st.KeyPrefix+":"+c+":outbox").Result(); err != nil || n > 0 {
				return false
			}
		}
		return true
	})
	tokens := tokenRevisions(t, st.Redis, st.KeyPrefix)
	for _, e := range readStreams(t, st.JetStream, lb) {
		res.events++
		have := committed[e.Event.Subject]
		if e.Stream == "LANDSCAPE_TOKEN" {
			have = tokens[e.Event.Subject]
		}
		if have < e.Revision {
			res.phantom++
		}
	}
	return res
}

// tokenRevisions reads every token record in Redis: token name → revision.
func tokenRevisions(t *testing.T, rdb *redis.Client, prefix string) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	out := map[string]int64{}
	iter := rdb.Scan(ctx, 0, prefix+":token:hash:*", 1000).Iterator()
	for iter.Next(ctx) {
		rev, data, err := outbox.GetRecord(ctx, rdb, iter.Val())
		if err != nil {
			t.Fatalf("token record %s: %v", iter.Val(), err)
		}
		var tok tokenv1.Token
		if err := proto.Unmarshal(data, &tok); err != nil {
			t.Fatalf("token record %s: %v", iter.Val(), err)
		}
		out[tok.GetName()] = rev
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("scan tokens: %v", err)
	}
	return out
}

// TestFailoverRedisPrimary: see the top of this file.
func TestFailoverRedisPrimary(t *testing.T) {
	t.Parallel()
	t.Run("wait for 1 replica", func(t *testing.T) {
		t.Parallel()
		r := runFailover(t, 1)
		t.Logf("--redis-wait-replicas 1: %s", r)
		if r.lost > 0 || r.revived > 0 || r.phantom > 0 {
			t.Errorf("a failover lost acknowledged changes: %d systems, %d consumed tokens no longer refused as used, %d events of changes that are not there",
				r.lost, r.revived, r.phantom)
		}
		if r.okDuringLag > 0 {
			t.Errorf("%d calls were acknowledged while the replicas were stopped", r.okDuringLag)
		}
		for _, f := range r.failures {
			if !strings.Contains(f, " Unavailable UNAVAILABLE ") {
				t.Errorf("a call failed otherwise than UNAVAILABLE during the failover: %s", f)
			}
		}
		if r.maxFail >= faultCallDeadline {
			t.Errorf("the slowest failed call took %s, not less than its deadline %s", r.maxFail, faultCallDeadline)
		}
		if r.acked == 0 || r.consumed == 0 {
			t.Errorf("the load acknowledged %d systems and %d pairings: nothing to check", r.acked, r.consumed)
		}
	})
	t.Run("wait for no replica", func(t *testing.T) {
		t.Parallel()
		r := runFailover(t, 0)
		t.Logf("--redis-wait-replicas 0: %s", r)
		// Calls were acknowledged while the replica was stopped and the
		// primary then died: they are gone, so the checks above fail here.
		if r.lost+r.revived+r.phantom == 0 {
			t.Errorf("without waiting for a replica nothing was lost (%d acknowledged while the replicas lagged): the scenario does not test the failover", r.okDuringLag)
		}
	})
}
