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
	Scenario  string `json:"scenario"`
	Transport string `json:"transport"`
	Clients   int    `json:"clients"`
	// Mode is "open" for an open-loop row (a fixed arrival rate, Rate;
	// Clients is then its workers); empty for a closed loop.
	Mode       string  `json:"mode,omitempty"`
	Rate       float64 `json:"rate_per_s,omitempty"`
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
	// CatchUpSeconds is how long after the window the relays and the
	// durable consumers took to handle its events (0: they kept up).
	CatchUpSeconds float64 `json:"catch_up_s,omitempty"`
	Target         string  `json:"target,omitempty"`
	Verdict        string  `json:"verdict,omitempty"` // holds, misses, or empty
	Note           string  `json:"note,omitempty"`
	FirstError     string  `json:"first_error,omitempty"`
	// Value is a scenario's single number when it has no latency (memory, MB).
	Value float64 `json:"value,omitempty"`
	Unit  string  `json:"unit,omitempty"`
}

// Sustained is the throughput counting the window's catch-up: the rate
// the landscape keeps up with, events handled. Throughput targets and the
// open loop's capacity use it.
func (r Result) Sustained() float64 {
	if r.CatchUpSeconds <= 0 || r.Seconds <= 0 {
		return r.Throughput
	}
	return r.Throughput * r.Seconds / (r.Seconds + r.CatchUpSeconds)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// fill sets the latency fields from h.
func (r *Result) fill(h *hist) {
	r.P50ms, r.P95ms, r.P99ms, r.MaxMs = ms(h.quantile(0.50)), ms(h.quantile(0.95)), ms(h.quantile(0.99)), ms(h.max)
}

// window collects one measured window across its workers: the calls'
// latencies, the failed calls and the first failure.
type window struct {
	mu       sync.Mutex
	all      hist
	errs     atomic.Uint64
	firstErr firstError
}

// call runs op for worker with a per-call deadline and records its
// latency, counted from since (in a closed loop when the call starts, in
// an open loop its scheduled time), in h. It reports whether op ran out
// of prepared input (errExhausted: not a failure, nothing recorded).
func (w *window) call(ctx context.Context, op func(ctx context.Context, worker int) error, worker int, since time.Time, h *hist) (exhausted bool) {
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	err := op(callCtx, worker)
	d := time.Since(since)
	cancel()
	switch {
	case errors.Is(err, errExhausted):
		return true
	case err != nil:
		w.errs.Add(1)
		w.firstErr.set(err)
	default:
		h.record(d)
	}
	return false
}

// workers runs work on n goroutines, each with latencies of its own that
// join the window's as it returns; wait waits for every one.
func (w *window) workers(n int, work func(worker int, h *hist)) (wait func()) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var h hist
			work(i, &h)
			w.mu.Lock()
			w.all.merge(&h)
			w.mu.Unlock()
		})
	}
	return wg.Wait
}

// finish fills r from the window, which took elapsed, then stops the CPU
// meter and the profiles, in that order: --memprofile's forced GC is no
// part of the window.
func (w *window) finish(r *Result, elapsed time.Duration, cpu cpuMeter, stopProfiles func()) {
	r.Ops, r.Errors, r.Seconds = w.all.n, w.errs.Load(), elapsed.Seconds()
	r.Throughput = float64(w.all.n) / elapsed.Seconds()
	r.fill(&w.all)
	cpu.stop(r)
	stopProfiles()
	if err := w.firstErr.get(); err != nil {
		r.FirstError = err.Error()
	}
}

// closedLoop runs op on clients workers back to back for dur (or until
// maxOpsPerRun calls, or every worker's input is exhausted) and measures
// every call. op gets the worker's index and a per-call deadline.
func closedLoop(ctx context.Context, scenario, transport string, clients int, dur time.Duration, op func(ctx context.Context, client int) error) Result {
	var (
		win   window
		ops   atomic.Int64
		start = make(chan struct{})
	)
	runCtx, cancel := context.WithTimeout(ctx, dur+callTimeout+5*time.Second)
	defer cancel()
	var deadline time.Time
	wait := win.workers(clients, func(c int, h *hist) {
		<-start
		for time.Now().Before(deadline) && runCtx.Err() == nil {
			if ops.Add(1) > maxOpsPerRun {
				break
			}
			if win.call(runCtx, op, c, time.Now(), h) {
				ops.Add(-1)
				break
			}
		}
	})
	stop := startProfiles(profileLabel(scenario, transport, clients))
	cpu := startCPU()
	t0 := time.Now()
	deadline = t0.Add(dur)
	close(start)
	wait()
	elapsed := time.Since(t0)
	r := Result{Scenario: scenario, Transport: transport, Clients: clients}
	win.finish(&r, elapsed, cpu, stop)
	if elapsed < dur*9/10 {
		r.Note = fmt.Sprintf("prepared input ran out after %.1fs", elapsed.Seconds())
	}
	return r
}

// openWorkers is how many calls an open-loop window may have in flight. A
// call scheduled while every worker is busy waits in the queue, and that
// wait counts in its latency: the schedule never waits for the service.
const openWorkers = 256

// openLoop sends op at a fixed arrival rate for dur: call i is scheduled at
// start + i/rate, whatever the earlier calls did, and its latency is
// counted from that scheduled time, not from when it was actually sent
// (no coordinated omission: a stall delays every call scheduled during it,
// and they all count the stall, as wrk2 and vegeta measure). The row's
// clients field holds the workers; Rate the arrival rate asked for, and
// Throughput what was achieved.
func openLoop(ctx context.Context, scenario, transport string, rate float64, dur time.Duration, op func(ctx context.Context, worker int) error) Result {
	r := Result{Scenario: scenario, Transport: transport, Mode: "open", Rate: rate, Clients: openWorkers}
	total := int(rate * dur.Seconds())
	if rate <= 0 || total < 1 {
		r.Note = "no rate (the closed-loop window it derives from did not run)"
		return r
	}
	interval := time.Duration(float64(time.Second) / rate)
	var (
		win      window
		inFlight atomic.Int64
		peak     atomic.Int64
		exhaust  atomic.Bool
		queue    = make(chan int, total)
	)
	runCtx, cancel := context.WithTimeout(ctx, dur+callTimeout+5*time.Second)
	defer cancel()
	var t0 time.Time
	wait := win.workers(openWorkers, func(w int, h *hist) {
		for i := range queue {
			if exhaust.Load() || runCtx.Err() != nil {
				continue // drain
			}
			scheduled := t0.Add(time.Duration(i) * interval)
			n := inFlight.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			if win.call(runCtx, op, w, scheduled, h) {
				exhaust.Store(true)
			}
			inFlight.Add(-1)
		}
	})
	stop := startProfiles(profileLabel(scenario+" open", transport, int(rate)))
	cpu := startCPU()
	t0 = time.Now()
	late := 0 // sends the dispatcher made more than a millisecond after their time
	for i := 0; i < total && runCtx.Err() == nil && !exhaust.Load(); i++ {
		at := t0.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		} else if d < -time.Millisecond {
			late++
		}
		queue <- i
	}
	close(queue)
	wait()
	win.finish(&r, time.Since(t0), cpu, stop)
	r.Note = fmt.Sprintf("open loop at %.0f/s (latency from each call's scheduled time); at most %d calls in flight; %d of %d sends more than 1ms behind schedule (counted in their latency)",
		rate, peak.Load(), late, total)
	if exhaust.Load() {
		r.Note += "; prepared input ran out"
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
