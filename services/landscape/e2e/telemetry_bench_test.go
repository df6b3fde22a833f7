package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/telemetry"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// The cost of observability: system registrations per second through the
// REST gateway (gateway → registry → token, both commits, and the event
// pipeline behind them) on four stacks in this process, one per telemetry
// mode, run in alternating rounds (off, metrics, traced-0, traced-1, off,
// ...) so that the shared machine's drift hits every mode alike. Between
// rounds each stack's pipeline drains (outboxes empty, consumers caught
// up), so no round pays for another's events.
//
// Two measures per round: registrations per second (wall clock: what a
// user sees, but on a shared machine it follows the CPU share this
// process gets), and the process's CPU time per registration from the
// round's start until its pipeline drained (user + system: the gateway,
// the services, the relays, the consumers, the embedded NATS server and
// the load's own HTTP client; not Redis), which the other processes on
// the machine disturb far less. It prints each round, each mode's medians
// and its median ratio to the "off" round beside it, and the load
// average; it asserts nothing about time.
//
//	go test -run '^$' -bench BenchmarkTelemetryOverhead -benchtime 1x ./services/landscape/e2e/
//
// LANDSCAPE_BENCH_CALLS: registrations per client per round (16 clients;
// default 60); LANDSCAPE_BENCH_ROUNDS: rounds per mode (default 9);
// LANDSCAPE_BENCH_MODES: the modes to run, e.g. "traced-0" for a CPU
// profile of one (the first one given is the baseline of the ratios).
//
// Modes: "off" is what runs without --metrics-addr and --otlp-endpoint
// (no collector, interceptor, middleware or span); "metrics" the
// Prometheus collectors and the gRPC and HTTP metrics middleware;
// "traced-0" metrics and the tracing middleware with a sample ratio of 0
// (every hop instrumented, nothing recorded); "traced-1" metrics and every
// request traced (ratio 1, spans to a discarding exporter).
func BenchmarkTelemetryOverhead(b *testing.B) {
	const clients = 16
	rounds, calls := envInt(b, "LANDSCAPE_BENCH_ROUNDS", 9), envInt(b, "LANDSCAPE_BENCH_CALLS", 60)
	modes := []struct {
		name string
		cfg  *telemetry.Config
	}{
		{"off", nil},
		{"metrics", &telemetry.Config{Service: "landscape", Metrics: true}},
		{"traced-0", &telemetry.Config{Service: "landscape", Metrics: true, SampleRatio: 0, Exporter: tracetest.NewNoopExporter()}},
		{"traced-1", &telemetry.Config{Service: "landscape", Metrics: true, SampleRatio: 1, Exporter: tracetest.NewNoopExporter()}},
	}
	if only := os.Getenv("LANDSCAPE_BENCH_MODES"); only != "" {
		modes = slices.DeleteFunc(modes, func(m struct {
			name string
			cfg  *telemetry.Config
		}) bool {
			return !slices.Contains(strings.Split(only, ","), m.name)
		})
	}
	stacks := make([]*stacktest.Stack, len(modes))
	for i, m := range modes {
		var tel *telemetry.Telemetry
		if m.cfg != nil {
			var err error
			if tel, err = telemetry.New(context.Background(), *m.cfg); err != nil {
				b.Fatal(err)
			}
		}
		stacks[i] = stacktest.Start(b, stacktest.Options{Telemetry: tel})
		stacks[i].WaitHealthy()
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	register := func(s *stacktest.Stack, tag string, perClient int) loadResult {
		jwts := make([]string, clients)
		for c := range jwts {
			// A global account per client and round keeps each under the quotas.
			jwts[c] = s.AdminJWT(fmt.Sprintf("%s-c%02d", tag, c))
		}
		return runLoad(b, tag, clients, perClient, func(c, i int) error {
			ga := fmt.Sprintf("%s-c%02d", tag, c)
			req, err := http.NewRequest("POST", s.BaseURL+"/v1/globalAccounts/"+ga+"/systems",
				strings.NewReader(`{"displayName": "Load `+strconv.Itoa(i)+`", "type": "`+systemTypes[i%len(systemTypes)]+`"}`))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+jwts[c])
			res, err := hc.Do(req)
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("HTTP %d: %s", res.StatusCode, body)
			}
			return nil
		})
	}
	// Warm up: connections, JWT caches, Lua scripts, streams, consumers.
	for i, s := range stacks {
		register(s, fmt.Sprintf("warm-%d", i), 5)
		settle(b, s)
	}

	load0 := loadavg()
	rates := make([][]float64, len(modes)) // registrations/s, by mode, by round
	cpus := make([][]float64, len(modes))  // CPU µs per registration
	b.ResetTimer()
	for r := range rounds {
		for i, s := range stacks {
			cpu0 := testkit.CPUTime()
			res := register(s, fmt.Sprintf("m%d-r%d", i, r), calls)
			settle(b, s)
			cpu := float64((testkit.CPUTime() - cpu0).Microseconds()) / float64(res.calls)
			rates[i] = append(rates[i], res.rate())
			cpus[i] = append(cpus[i], cpu)
			b.Logf("round %d %-8s %6.0f registrations/s  p50 %6.2f ms  p99 %6.2f ms  %5.0f µs CPU/registration", r, modes[i].name, res.rate(),
				float64(res.pct(0.5).Microseconds())/1000, float64(res.pct(0.99).Microseconds())/1000, cpu)
		}
	}
	b.StopTimer()
	load1 := loadavg()

	var out strings.Builder
	fmt.Fprintf(&out, "telemetry overhead: %d rounds x %d modes, %d clients x %d REST registrations per round; load average %s before, %s after\n",
		rounds, len(modes), clients, calls, load0, load1)
	fmt.Fprintf(&out, "%-9s %10s %14s %20s %12s %14s %20s\n", "mode", "reg/s", "throughput", "(paired min..max)", "CPU µs/reg", "CPU", "(paired min..max)")
	for i, m := range modes {
		// Paired: each round's value over the same round's "off" value.
		tp, cp := pairedRatios(rates[i], rates[0]), pairedRatios(cpus[i], cpus[0])
		fmt.Fprintf(&out, "%-9s %10.0f %+13.1f%% %8.1f%% .. %+.1f%% %12.0f %+13.1f%% %8.1f%% .. %+.1f%%\n", m.name,
			median(rates[i]), 100*(median(tp)-1), 100*(slices.Min(tp)-1), 100*(slices.Max(tp)-1),
			median(cpus[i]), 100*(median(cp)-1), 100*(slices.Min(cp)-1), 100*(slices.Max(cp)-1))
	}
	fmt.Fprintf(&out, "spread of \"off\" alone around its median: throughput %.1f%% .. %+.1f%%, CPU %.1f%% .. %+.1f%%\n",
		100*(slices.Min(rates[0])/median(rates[0])-1), 100*(slices.Max(rates[0])/median(rates[0])-1),
		100*(slices.Min(cpus[0])/median(cpus[0])-1), 100*(slices.Max(cpus[0])/median(cpus[0])-1))
	fmt.Print(out.String())
	for i, m := range modes {
		b.ReportMetric(median(rates[i]), m.name+"-reg/s")
		b.ReportMetric(median(cpus[i]), m.name+"-cpu-µs/reg")
	}
}

// pairedRatios are xs[r]/base[r].
func pairedRatios(xs, base []float64) []float64 {
	out := make([]float64, len(xs))
	for r := range xs {
		out[r] = xs[r] / base[r]
	}
	return out
}

func envInt(t testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// settle waits until the stack's outboxes are empty and its consumers
// have handled everything.
func settle(t testing.TB, s *stacktest.Stack) {
	t.Helper()
	testkit.Eventually(t, 2*time.Minute, "the event pipeline drains", func() bool {
		ctx := context.Background()
		for _, c := range []string{"registry", "token", "formation"} {
			if n, err := s.Redis.XLen(ctx, s.KeyPrefix+":"+c+":outbox").Result(); err != nil || n > 0 {
				return false
			}
			st, err := s.JetStream.Stream(ctx, cloudevent.StreamName(c))
			if err != nil {
				return false
			}
			for ci := range st.ListConsumers(ctx).Info() {
				if ci.NumPending > 0 || ci.NumAckPending > 0 {
					return false
				}
			}
		}
		return true
	})
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// loadavg is the machine's 1-, 5- and 15-minute load average ("?" when
// unknown).
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
