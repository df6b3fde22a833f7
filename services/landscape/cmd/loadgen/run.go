package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// errExhausted ends a worker early: the scenario ran out of prepared input
// (tokens, systems); it is not an error.
var errExhausted = errors.New("prepared input exhausted")

// callTimeout bounds every single call of a scenario.
const callTimeout = 10 * time.Second

// maxOpsPerRun bounds every closed loop in count as well as in time.
const maxOpsPerRun = 5_000_000

// Result is one row of the table.
type Result struct {
	Scenario   string  `json:"scenario"`
	Transport  string  `json:"transport"`
	Clients    int     `json:"clients"`
	Ops        uint64  `json:"ops"`
	Errors     uint64  `json:"errors"`
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"throughput_per_s"`
	P50ms      float64 `json:"p50_ms"`
	P95ms      float64 `json:"p95_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	// CPUCores is this process's CPU use in the window (cores); in
	// in-process mode it holds the services, the embedded NATS and the
	// load clients. CPUmsPerOp is that CPU per operation and
	// RedisCPUmsPerOp redis-server's (INFO cpu; an upper bound when the
	// Redis is shared).
	CPUCores        float64 `json:"cpu_cores"`
	CPUmsPerOp      float64 `json:"cpu_ms_per_op,omitempty"`
	RedisCPUmsPerOp float64 `json:"redis_cpu_ms_per_op,omitempty"`
	Baseline        bool    `json:"baseline,omitempty"`
	Target          string  `json:"target,omitempty"`
	Verdict         string  `json:"verdict,omitempty"` // holds, misses, or empty
	Note            string  `json:"note,omitempty"`
	FirstError      string  `json:"first_error,omitempty"`
	// Value is a scenario's single number when it has no latency (memory, MB).
	Value float64 `json:"value,omitempty"`
	Unit  string  `json:"unit,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// fill sets the latency fields from h.
func (r *Result) fill(h *hist) {
	r.P50ms, r.P95ms, r.P99ms, r.MaxMs = ms(h.quantile(0.50)), ms(h.quantile(0.95)), ms(h.quantile(0.99)), ms(h.max)
}

// closedLoop runs op on clients workers back to back for dur (or until
// maxOpsPerRun calls, or every worker's input is exhausted) and measures
// every call. op gets the worker's index and a per-call deadline.
func closedLoop(ctx context.Context, scenario, transport string, clients int, dur time.Duration, op func(ctx context.Context, client int) error) Result {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		total    hist
		errs     atomic.Uint64
		ops      atomic.Int64
		firstErr firstError
		start    = make(chan struct{})
	)
	runCtx, cancel := context.WithTimeout(ctx, dur+callTimeout+5*time.Second)
	defer cancel()
	var deadline time.Time
	for c := range clients {
		wg.Go(func() {
			var h hist
			<-start
			for time.Now().Before(deadline) && runCtx.Err() == nil {
				if ops.Add(1) > maxOpsPerRun {
					break
				}
				callCtx, callCancel := context.WithTimeout(runCtx, callTimeout)
				t0 := time.Now()
				err := op(callCtx, c)
				d := time.Since(t0)
				callCancel()
				if errors.Is(err, errExhausted) {
					ops.Add(-1)
					break
				}
				if err != nil {
					errs.Add(1)
					firstErr.set(err)
					continue
				}
				h.record(d)
			}
			mu.Lock()
			total.merge(&h)
			mu.Unlock()
		})
	}
	stop := startProfiles(profileLabel(scenario, transport, clients))
	cpu := startCPU()
	t0 := time.Now()
	deadline = t0.Add(dur)
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	stop()
	r := Result{Scenario: scenario, Transport: transport, Clients: clients, Ops: total.n, Errors: errs.Load(), Seconds: elapsed.Seconds()}
	r.Throughput = float64(total.n) / elapsed.Seconds()
	r.fill(&total)
	cpu.stop(&r)
	if err := firstErr.get(); err != nil {
		r.FirstError = err.Error()
	}
	if elapsed < dur*9/10 {
		r.Note = fmt.Sprintf("prepared input ran out after %.1fs", elapsed.Seconds())
	}
	return r
}

// parallel runs f(i) for i in [0, n) on workers goroutines and returns the
// first error (the others still run to the end).
func parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		first firstError
	)
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				callCtx, cancel := context.WithTimeout(ctx, callTimeout)
				err := f(callCtx, i)
				cancel()
				if err != nil {
					first.set(err)
				}
			}
		})
	}
	wg.Wait()
	if err := first.get(); err != nil {
		return err
	}
	return ctx.Err()
}

// firstError keeps the first error set.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
