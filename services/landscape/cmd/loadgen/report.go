package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// judge fills the target and verdict of each result from the performance
// targets written below (throughput, p99, ratio to the health baseline).
// With unjudged settings (a topology or runtime the deployed services do
// not use) every verdict is "not judged" and names them.
func judge(results []Result, unjudged []string) {
	healthGRPC := map[int]float64{}
	for _, r := range results {
		if r.Baseline && r.Transport == "gRPC" {
			healthGRPC[r.Clients] = r.Throughput
		}
	}
	verdict := func(ok bool) string {
		if len(unjudged) > 0 {
			return "not judged (" + strings.Join(unjudged, ", ") + ")"
		}
		if ok {
			return "holds"
		}
		return "misses"
	}
	// The REST baseline through the same gateway and registry:
	// GET /v1/systemTypes, answered from memory.
	systemTypes := map[int]float64{}
	var idleGet float64
	for _, r := range results {
		if r.Scenario == systemTypesBaseline {
			systemTypes[r.Clients] = r.Throughput
		}
		if r.Scenario == idleGetScenario {
			idleGet = r.P50ms
		}
	}
	// ratioOf is the target "≥ f× GET /v1/systemTypes" of a REST row.
	ratioOf := func(r *Result, f float64) bool {
		base := systemTypes[r.Clients]
		if base <= 0 {
			r.Target = fmt.Sprintf("≥%.2f×GET /v1/systemTypes (no baseline)", f)
			return false
		}
		r.Target = fmt.Sprintf("≥%.2f×GET /v1/systemTypes (%.0f/s, here %.2f×), 0 errors", f, f*base, r.Sustained()/base)
		return r.Sustained() >= f*base && r.Errors == 0
	}
	for i := range results {
		r := &results[i]
		switch {
		case r.Mode == "open" && r.Scenario == "RegisterSystem" && r.Transport == "REST":
			r.Target = "p99≤10ms"
			r.Verdict = verdict(r.P99ms <= 10 && r.Errors == 0 && r.Ops > 0)
		case r.Mode == "open" && r.Scenario == "PairSystem" && r.Transport == "REST":
			r.Target = "p99≤12ms"
			r.Verdict = verdict(r.P99ms <= 12 && r.Errors == 0 && r.Ops > 0)
		case r.Scenario == idleRegisterScenario && idleGet > 0:
			r.Target = fmt.Sprintf("p50≤2×GET /v1/systemTypes (%.2fms, here %.2f×)", 2*idleGet, r.P50ms/idleGet)
			r.Verdict = verdict(r.P50ms <= 2*idleGet && r.Errors == 0 && r.Ops > 0)
		case r.Mode == "open":
		case r.Scenario == "RegisterSystem" && r.Transport == "gRPC" && r.Clients == 64:
			base := healthGRPC[64]
			r.Target = "≥5000/s, ≥0.3×health"
			ok := r.Sustained() >= 5000 && r.Errors == 0
			if base > 0 {
				r.Target = fmt.Sprintf("≥5000/s, ≥0.3×health (%.0f/s, here %.2f×)", 0.3*base, r.Sustained()/base)
				ok = ok && r.Sustained() >= 0.3*base
			}
			r.Verdict = verdict(ok)
		case r.Scenario == "RegisterSystem" && r.Transport == "REST" && r.Clients == 64:
			r.Verdict = verdict(ratioOf(r, 0.35))
		case r.Scenario == "GenerateIntegrationToken" && r.Transport == "REST" && r.Clients == 64:
			r.Verdict = verdict(ratioOf(r, 0.45))
		case r.Scenario == "PairSystem" && r.Transport == "REST" && r.Clients == 64:
			r.Target = "≥4000/s"
			r.Verdict = verdict(r.Sustained() >= 4000 && r.Errors == 0)
		case r.Scenario == redisPendingScenario:
			r.Target = "≤2048 B"
			r.Verdict = verdict(r.Value <= 2048 && r.Errors == 0)
		case r.Scenario == redisRegisteredScenario:
			r.Target = "≤1024 B"
			r.Verdict = verdict(r.Value <= 1024 && r.Errors == 0)
		case strings.HasPrefix(r.Scenario, "ListSystems") && r.Ops > 0:
			r.Target = "p99≤10ms, independent of the total"
			r.Verdict = verdict(r.P99ms <= 10 && r.Errors == 0)
			if small := findList(results, "ListSystems p1 of 1000", r.Clients); small != nil && small != r && small.P50ms > 0 {
				r.Note = fmt.Sprintf("p50 %.2f× and CPU/op %.2f× those of page 1 in the 1000-system account", r.P50ms/small.P50ms, r.CPUmsPerOp/max(small.CPUmsPerOp, 1e-9))
			}
		case strings.HasPrefix(r.Scenario, "event commit"):
			r.Target = "p99≤20ms"
			r.Verdict = verdict(r.P99ms <= 20 && r.Errors == 0 && r.Ops > 0)
		case strings.HasPrefix(r.Scenario, "RSS after"):
			r.Target = "≤150MB"
			r.Verdict = verdict(r.Value <= 150 && r.Errors == 0)
		}
	}
}

// printTable writes the one table: baselines first, then the scenarios,
// then the notes.
func printTable(w io.Writer, results []Result, header string) {
	fmt.Fprintln(w, header)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\ttransport\tclients/rate\tops\tops/s\tp50 ms\tp95 ms\tp99 ms\terrors\tcores\tCPU ms/op\tRedis ms/op\ttarget\tverdict\t")
	row := func(r Result) {
		if r.Unit != "" {
			fmt.Fprintf(tw, "%s\t%s\t\t\t%.0f %s\t\t\t\t%d\t\t\t\t%s\t%s\t\n", r.Scenario, r.Transport, r.Value, r.Unit, r.Errors, r.Target, r.Verdict)
			return
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%d\t%.2f\t%.3f\t%.3f\t%s\t%s\t\n",
			r.Scenario, r.Transport, r.load(), r.Ops, r.Throughput, r.P50ms, r.P95ms, r.P99ms, r.Errors,
			r.CPUCores, r.CPUmsPerOp, r.RedisCPUmsPerOp, r.Target, r.Verdict)
	}
	for _, r := range results {
		if r.Baseline {
			row(r)
		}
	}
	for _, r := range results {
		if !r.Baseline {
			row(r)
		}
	}
	_ = tw.Flush()
	for _, r := range results {
		if r.Note != "" || r.FirstError != "" {
			fmt.Fprintf(w, "  %s %s/%s:", r.Scenario, r.Transport, r.load())
			if r.Note != "" {
				fmt.Fprintf(w, " %s.", r.Note)
			}
			if r.FirstError != "" {
				fmt.Fprintf(w, " first error: %s", r.FirstError)
			}
			fmt.Fprintln(w)
		}
	}
}

// report is the JSON document.
type report struct {
	Started    time.Time `json:"started"`
	Command    string    `json:"command"`
	Mode       string    `json:"mode"`
	Topology   string    `json:"topology"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	NumCPU     int       `json:"num_cpu"`
	LoadAvg    string    `json:"load_average,omitempty"`
	Duration   string    `json:"duration_per_scenario"`
	Results    []Result  `json:"results"`
}

func writeJSON(path string, rep report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// loadAvg is /proc/loadavg's first three fields.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func findList(results []Result, scenario string, clients int) *Result {
	for i := range results {
		if results[i].Scenario == scenario && results[i].Clients == clients {
			return &results[i]
		}
	}
	return nil
}

// load is the clients column: the clients of a closed loop, or "@<rate>/s"
// of an open loop.
func (r Result) load() string {
	if r.Mode == "open" {
		return fmt.Sprintf("@%.0f/s", r.Rate)
	}
	return strconv.Itoa(r.Clients)
}
