package main

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Every scheduled call is made once, and a call held up by the service
// counts from its scheduled time: when every call waits until the last one
// has been sent, the first call's latency is at least the whole schedule.
func TestOpenLoopCountsFromTheSchedule(t *testing.T) {
	t.Parallel()
	const rate, total = 1000.0, 100
	var (
		calls   atomic.Int64
		allSent = make(chan struct{})
		once    sync.Once
	)
	r := openLoop(context.Background(), "fake", "none", rate, total*time.Millisecond, func(ctx context.Context, _ int) error {
		if calls.Add(1) == total {
			once.Do(func() { close(allSent) })
		}
		select {
		case <-allSent:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if r.Ops != total || r.Errors != 0 || calls.Load() != total {
		t.Fatalf("ops %d, errors %d, calls %d; want %d calls, all fine (%s)", r.Ops, r.Errors, calls.Load(), total, r.FirstError)
	}
	// Call 99 is scheduled 99 intervals after call 0, which ends after it.
	if min := 99 * time.Second / time.Duration(rate); r.MaxMs < ms(min) {
		t.Errorf("max latency %.2fms, want at least %.2fms (from the first call's scheduled time)", r.MaxMs, ms(min))
	}
	if r.Mode != "open" || r.Rate != rate || r.load() != "@1000/s" {
		t.Errorf("row: mode %q rate %v load %q", r.Mode, r.Rate, r.load())
	}
}

// Running out of prepared input stops the schedule without errors.
func TestOpenLoopExhausted(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	r := openLoop(context.Background(), "fake", "none", 1000, 200*time.Millisecond, func(context.Context, int) error {
		if calls.Add(1) > 10 {
			return errExhausted
		}
		return nil
	})
	if r.Ops != 10 || r.Errors != 0 {
		t.Errorf("ops %d errors %d, want 10 and 0", r.Ops, r.Errors)
	}
}

func TestOpenRate(t *testing.T) {
	t.Parallel()
	b := &bench{openLoad: 0.4, clients: []int{8, 64}, results: []Result{
		{Scenario: "RegisterSystem", Transport: "REST", Clients: 8, Throughput: 500},
		{Scenario: "RegisterSystem", Transport: "REST", Clients: 64, Throughput: 1000},
	}}
	if got := b.openRate(b.capacity("RegisterSystem", "REST")); got != 400 {
		t.Errorf("rate %v, want 0.4 × the 64-client capacity = 400", got)
	}
	if got := b.capacity("RegisterSystem", "gRPC"); got != 0 {
		t.Errorf("capacity of a window that did not run: %v", got)
	}
	b.openFixed = 250
	if got := b.openRate(1000); got != 250 {
		t.Errorf("--open-rate: %v, want 250", got)
	}
}

func TestSustainedCountsTheCatchUp(t *testing.T) {
	r := Result{Ops: 10000, Seconds: 5, Throughput: 2000}
	if got := r.Sustained(); got != 2000 {
		t.Errorf("without a catch-up: %v/s, want the throughput", got)
	}
	r.CatchUpSeconds = 5
	if got := r.Sustained(); got != 1000 {
		t.Errorf("with 5s of catch-up after 5s: %v/s, want 1000", got)
	}
}
