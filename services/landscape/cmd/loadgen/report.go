package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// judge fills the target and verdict of each result from issue 7's table.
func judge(results []Result) {
	healthGRPC := map[int]float64{}
	for _, r := range results {
		if r.Baseline && r.Transport == "gRPC" {
			healthGRPC[r.Clients] = r.Throughput
		}
	}
	verdict := func(ok bool) string {
		if ok {
			return "holds"
		}
		return "misses"
	}
	for i := range results {
		r := &results[i]
		switch {
		case r.Scenario == "RegisterSystem" && r.Transport == "gRPC" && r.Clients == 64:
			base := healthGRPC[64]
			r.Target = "≥5000/s, p99≤20ms, ≥0.3×health"
			ok := r.Throughput >= 5000 && r.P99ms <= 20 && r.Errors == 0
			if base > 0 {
				r.Target = fmt.Sprintf("≥5000/s, p99≤20ms, ≥0.3×health (%.0f/s, here %.2f×)", 0.3*base, r.Throughput/base)
				ok = ok && r.Throughput >= 0.3*base
			}
			r.Verdict = verdict(ok)
		case r.Scenario == "RegisterSystem" && r.Transport == "REST" && r.Clients == 64:
			r.Target = "≥3000/s, p99≤25ms"
			r.Verdict = verdict(r.Throughput >= 3000 && r.P99ms <= 25 && r.Errors == 0)
		case r.Scenario == "PairSystem" && r.Transport == "REST" && r.Clients == 64:
			r.Target = "≥4000/s"
			r.Verdict = verdict(r.Throughput >= 4000 && r.Errors == 0)
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
	fmt.Fprintln(tw, "scenario\ttransport\tclients\tops\tops/s\tp50 ms\tp95 ms\tp99 ms\terrors\tcores\tCPU ms/op\tRedis ms/op\ttarget\tverdict\t")
	row := func(r Result) {
		if r.Unit != "" {
			fmt.Fprintf(tw, "%s\t%s\t\t\t%.0f %s\t\t\t\t%d\t\t\t\t%s\t%s\t\n", r.Scenario, r.Transport, r.Value, r.Unit, r.Errors, r.Target, r.Verdict)
			return
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%d\t%.2f\t%.3f\t%.3f\t%s\t%s\t\n",
			r.Scenario, r.Transport, r.Clients, r.Ops, r.Throughput, r.P50ms, r.P95ms, r.P99ms, r.Errors,
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
			fmt.Fprintf(w, "  %s %s/%d:", r.Scenario, r.Transport, r.Clients)
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
