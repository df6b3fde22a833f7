package e2e

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/landscape/stack"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// BenchmarkRegisterWaitReplicas measures what waiting for a replica costs
// (docs/API.md, "Durable commits across a Redis failover"): RegisterSystem
// through gRPC with --redis-wait-replicas 0 and 1, in the same run, against
// one redis-server primary with one replica on loopback (both without
// persistence), at 1 client (latency) and 64 clients (throughput, where
// concurrent commits share a WAIT). Each of three rounds runs every
// setting once, in turn, so that all see the same machine. It prints a table and
// reports the metrics; it asserts nothing about time.
//
//	go test -run '^$' -bench BenchmarkRegisterWaitReplicas -benchtime 100x ./services/landscape/e2e/
func BenchmarkRegisterWaitReplicas(b *testing.B) {
	rr := testkit.StartReplicatedRedis(b, 1, 5*time.Second)
	type setting struct {
		replicas, clients int
	}
	settings := []setting{{0, 1}, {1, 1}, {0, 64}, {1, 64}}
	stacks := map[int][]loadClient{}
	for _, n := range []int{0, 1} {
		st, err := stack.Start(context.Background(), stack.Config{
			RedisURL: rr.Primary.URL(), KeyPrefix: "bench" + strconv.Itoa(n), JWTHS256Secret: stacktest.Secret,
			NATSURL: testkit.NATS(b).URL(), RedisWait: redisconn.Durability{Replicas: n, Timeout: time.Second},
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = st.Close() })
		for i := range loadClients {
			ga := fmt.Sprintf("bench-%02d", i)
			jwt, err := authn.MintHS256(stacktest.Secret, "bench", ga, []string{string(authn.RoleGlobalAccountAdmin)}, time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			stacks[n] = append(stacks[n], loadClient{
				reg: registryv1.NewRegistryServiceClient(dialGRPC(b, st.GRPCAddr)),
				ctx: stacktest.Ctx(context.Background(), jwt), ga: ga,
			})
		}
	}
	seq := 0
	register := func(n, clients, perClient int) loadResult {
		cls := stacks[n]
		seq++
		round := seq
		return runLoad(b, fmt.Sprintf("N=%d, %d clients", n, clients), clients, perClient, func(c, i int) error {
			_, err := cls[c].reg.RegisterSystem(cls[c].ctx, &registryv1.RegisterSystemRequest{
				Parent: "globalAccounts/" + cls[c].ga,
				System: &registryv1.System{DisplayName: fmt.Sprintf("bench %d %d", round, i), Type: systemTypes[i%len(systemTypes)]},
			})
			return err
		})
	}
	// Warm up both stacks (connections, scripts, JWT caches).
	for _, n := range []int{0, 1} {
		register(n, loadClients, 2)
	}
	// Three rounds, each running every setting once in turn; a setting's
	// result pools its rounds.
	results := make([]loadResult, len(settings))
	for range 3 {
		for i, s := range settings {
			r := register(s.replicas, s.clients, max(b.N/max(s.clients/8, 1), 10))
			results[i].name = r.name
			results[i].calls += r.calls
			results[i].dur += r.dur
			results[i].lat = append(results[i].lat, r.lat...)
		}
	}
	for i, s := range settings {
		r := &results[i]
		slices.Sort(r.lat)
		b.ReportMetric(r.rate(), fmt.Sprintf("n%d-c%d-calls/s", s.replicas, s.clients))
		b.ReportMetric(float64(r.pct(0.50).Microseconds()), fmt.Sprintf("n%d-c%d-p50-µs", s.replicas, s.clients))
		b.ReportMetric(float64(r.pct(0.99).Microseconds()), fmt.Sprintf("n%d-c%d-p99-µs", s.replicas, s.clients))
	}
	b.Logf("RegisterSystem over gRPC, GOMAXPROCS=%d, primary + 1 replica on loopback (shared machine: compare the columns, not the absolute numbers)", runtime.GOMAXPROCS(0))
	b.Logf("%-22s %8s %10s %10s %10s", "setting", "calls", "calls/s", "p50", "p99")
	for _, r := range results {
		b.Logf("%-22s %8d %10.0f %10s %10s", r.name, r.calls, r.rate(),
			r.pct(0.50).Round(10*time.Microsecond), r.pct(0.99).Round(10*time.Microsecond))
	}
}
