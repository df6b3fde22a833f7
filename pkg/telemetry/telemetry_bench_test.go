package telemetry_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"

	"github.com/landscape-dev/landscape/pkg/telemetry"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

// benchModes are the telemetry settings compared: "off" installs nothing
// (the baseline), "metrics" the Prometheus middleware, "traced-0" the
// tracing middleware with nothing sampled, "traced-1" every call traced
// (spans to a discarding exporter).
var benchModes = []struct {
	name string
	cfg  telemetry.Config
}{
	{"off", telemetry.Config{}},
	{"metrics", telemetry.Config{Service: "bench", Metrics: true}},
	{"traced-0", telemetry.Config{Service: "bench", SampleRatio: 0, Exporter: tracetest.NewNoopExporter()}},
	{"traced-1", telemetry.Config{Service: "bench", SampleRatio: 1, Exporter: tracetest.NewNoopExporter()}},
}

// The instrumentation's cost per hop, CPU-bound and in process (no
// network, no Redis), so that it can be read apart from the noise of a
// shared machine: one REST request through WrapHTTP to a handler that
// answers at once, and one unary gRPC call (health Check) over an
// in-memory connection with the client's and the server's options. "off"
// is the baseline of each. A registration through the gateway makes one
// REST request and two gRPC calls (gateway → registry → token).
//
// Besides ns/op (wall time) each reports cpu-ns/op, the process's CPU
// time per call, which the other work on a shared machine disturbs less.
//
//	go test -run '^$' -bench 'BenchmarkHop' -benchmem -count 8 ./pkg/telemetry/
func BenchmarkHopHTTP(b *testing.B) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			tel := newTelemetry(b, m.cfg)
			h := tel.WrapHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"name":"globalAccounts/ga/systems/s"}`))
			}), "gateway")
			defer reportCPU(b)()
			for b.Loop() {
				r := httptest.NewRequest("POST", "/v1/globalAccounts/ga/systems", strings.NewReader(`{"displayName":"x"}`))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("User-Agent", "bench/1")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("HTTP %d", w.Code)
				}
			}
		})
	}
}

func BenchmarkHopGRPC(b *testing.B) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			tel := newTelemetry(b, m.cfg)
			lis := bufconn.Listen(1 << 20)
			srv := grpc.NewServer(tel.ServerOptions()...)
			healthpb.RegisterHealthServer(srv, health.NewServer())
			tel.InitServer(srv)
			go func() { _ = srv.Serve(lis) }()
			b.Cleanup(srv.Stop)
			conn, err := grpc.NewClient("passthrough:///bench", append(tel.DialOptions(),
				grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))...)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = conn.Close() })
			c := healthpb.NewHealthClient(conn)
			ctx := context.Background()
			defer reportCPU(b)()
			for b.Loop() {
				if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// reportCPU reports the process's CPU time per op (user + system, every
// goroutine: the client's and the server's side) when the returned func
// runs after the loop: on a shared machine it varies far less than the
// wall time of ns/op, which includes waiting for a CPU.
func reportCPU(b *testing.B) func() {
	cpu0 := testkit.CPUTime()
	return func() {
		b.ReportMetric(float64(testkit.CPUTime()-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

func newTelemetry(b *testing.B, cfg telemetry.Config) *telemetry.Telemetry {
	tel, err := telemetry.New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}
