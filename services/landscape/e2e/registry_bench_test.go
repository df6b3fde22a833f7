package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/telemetry"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// Load of the registry: 64 concurrent gRPC clients (one connection each)
// run a gRPC health Check (the baseline: the same server, interceptors,
// connection and client, no Redis), then RegisterSystem, then PairSystem
// with the tokens just issued. It prints a table; it asserts nothing about
// time (the machine is shared).
//
//	go test -run '^$' -bench BenchmarkRegistryLoad -benchtime 50x ./services/landscape/e2e/
//
// -benchtime Nx sets the calls per client for register and pair (health
// Check runs 8 times as many).
//
// Targets: RegisterSystem >= 0.3 x the baseline's throughput,
// p99 <= 20 ms.

const loadClients = 64

type loadResult struct {
	name  string
	calls int
	dur   time.Duration
	lat   []time.Duration
}

func (r loadResult) rate() float64 { return float64(r.calls) / r.dur.Seconds() }

func (r loadResult) pct(p float64) time.Duration { return percentile(r.lat, p) }

// runLoad runs call perClient times on each of clients concurrently.
func runLoad(t testing.TB, name string, clients, perClient int, call func(client, i int) error) loadResult {
	t.Helper()
	lats := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	startGate := make(chan struct{})
	for c := range clients {
		wg.Go(func() {
			<-startGate
			l := make([]time.Duration, 0, perClient)
			for i := range perClient {
				t0 := time.Now()
				if err := call(c, i); err != nil {
					errs <- fmt.Errorf("%s client %d call %d: %w", name, c, i, err)
					return
				}
				l = append(l, time.Since(t0))
			}
			lats[c] = l
		})
	}
	t0 := time.Now()
	close(startGate)
	wg.Wait()
	dur := time.Since(t0)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	r := loadResult{name: name, dur: dur}
	for _, l := range lats {
		r.lat = append(r.lat, l...)
	}
	r.calls = len(r.lat)
	slices.Sort(r.lat)
	return r
}

type loadClient struct {
	reg    registryv1.RegistryServiceClient
	health healthpb.HealthClient
	ctx    context.Context
	ga     string
}

func loadSetup(t testing.TB) (*stacktest.Stack, []loadClient) {
	t.Helper()
	st := stacktest.Start(t, stacktest.Options{Telemetry: benchTelemetry(t)})
	clients := make([]loadClient, loadClients)
	for i := range clients {
		conn := dialGRPC(t, st.GRPCAddr)
		// A global account per client keeps each under the token quota.
		ga := fmt.Sprintf("load-%02d", i)
		clients[i] = loadClient{
			reg: registryv1.NewRegistryServiceClient(conn), health: healthpb.NewHealthClient(conn),
			ctx: stacktest.Ctx(context.Background(), st.AdminJWT(ga)), ga: ga,
		}
	}
	return st, clients
}

// benchTelemetry is the telemetry of a load run, by LANDSCAPE_BENCH_TELEMETRY:
// empty: none (no interceptor; what --metrics-addr "" without
// --otlp-endpoint runs); "metrics": the Prometheus collectors; "tracing":
// metrics and every call traced (sample ratio 1, spans to a discarding
// exporter). The overhead comparison runs them alternately:
//
//	for i in 1 2 3; do for m in '' metrics tracing; do
//	  LANDSCAPE_BENCH_TELEMETRY=$m go test -run '^$' -bench BenchmarkRegistryLoad -benchtime 50x ./services/landscape/e2e/
//	done; done
func benchTelemetry(t testing.TB) *telemetry.Telemetry {
	t.Helper()
	var cfg telemetry.Config
	switch mode := os.Getenv("LANDSCAPE_BENCH_TELEMETRY"); mode {
	case "":
		return nil
	case "metrics":
		cfg = telemetry.Config{Service: "landscape", Metrics: true}
	case "tracing":
		cfg = telemetry.Config{Service: "landscape", Metrics: true, SampleRatio: 1, Exporter: tracetest.NewNoopExporter()}
	default:
		t.Fatalf("LANDSCAPE_BENCH_TELEMETRY=%q: want empty, metrics or tracing", mode)
	}
	tel, err := telemetry.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tel
}

// registryLoad runs the three phases and returns their results.
func registryLoad(t testing.TB, perClient int) []loadResult {
	_, clients := loadSetup(t)
	// Warm up connections, JWT caches and Redis scripts.
	for _, c := range clients {
		if _, err := c.health.Check(c.ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.reg.ListSystemTypes(c.ctx, &registryv1.ListSystemTypesRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	health := runLoad(t, "health Check (baseline)", loadClients, perClient*8, func(c, _ int) error {
		_, err := clients[c].health.Check(clients[c].ctx, &healthpb.HealthCheckRequest{})
		return err
	})
	tokens := make([][]string, loadClients)
	for c := range tokens {
		tokens[c] = make([]string, perClient)
	}
	register := runLoad(t, "RegisterSystem", loadClients, perClient, func(c, i int) error {
		cl := clients[c]
		res, err := cl.reg.RegisterSystem(cl.ctx, &registryv1.RegisterSystemRequest{
			Parent: "globalAccounts/" + cl.ga,
			System: &registryv1.System{DisplayName: "Load " + strconv.Itoa(i), Type: systemTypes[i%len(systemTypes)]},
		})
		if err != nil {
			return err
		}
		tokens[c][i] = res.GetIntegrationToken().GetToken()
		return nil
	})
	pair := runLoad(t, "PairSystem", loadClients, perClient, func(c, i int) error {
		_, err := clients[c].reg.PairSystem(context.Background(), &registryv1.PairSystemRequest{
			IntegrationToken: tokens[c][i], SystemType: systemTypes[i%len(systemTypes)], BaseUrl: "https://load.example.com",
		})
		return err
	})
	return []loadResult{health, register, pair}
}

// BenchmarkRegistryLoad is the registry load run as a benchmark: b.N calls per
// client and phase, with calls/s and p50/p99 (µs) per phase as metrics.
//
//	go test -run '^$' -bench BenchmarkRegistryLoad -benchtime 50x ./services/landscape/e2e/
func BenchmarkRegistryLoad(b *testing.B) {
	res := registryLoad(b, b.N)
	for _, r := range res {
		b.ReportMetric(r.rate(), shortName(r.name)+"-calls/s")
		b.ReportMetric(float64(r.pct(0.50).Microseconds()), shortName(r.name)+"-p50-µs")
		b.ReportMetric(float64(r.pct(0.99).Microseconds()), shortName(r.name)+"-p99-µs")
	}
}

func shortName(s string) string {
	switch s {
	case "RegisterSystem":
		return "register"
	case "PairSystem":
		return "pair"
	}
	return "health"
}
