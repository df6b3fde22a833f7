package workgroup_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/workgroup"
)

// untilStopped is a worker that runs until its context ends and records
// that it stopped.
func untilStopped(name string, mu *sync.Mutex, stopped *[]string) workgroup.Worker {
	return workgroup.Worker{Name: name, Run: func(ctx context.Context) error {
		<-ctx.Done()
		mu.Lock()
		*stopped = append(*stopped, name)
		mu.Unlock()
		return ctx.Err() // what a worker returns once told to stop is no failure
	}}
}

// within fails the test instead of hanging when f does not return in time.
func within(t *testing.T, d time.Duration, f func() error) error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	select {
	case err := <-ch:
		return err
	case <-time.After(d):
		t.Fatalf("did not return within %v", d)
		return nil
	}
}

func TestRunReturnsNilWhenTheContextEnds(t *testing.T) {
	var mu sync.Mutex
	var stopped []string
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	err := within(t, 5*time.Second, func() error {
		return workgroup.Run(ctx, nil, untilStopped("a", &mu, &stopped), untilStopped("b", &mu, &stopped))
	})
	if err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if !slices.Equal(stopped, []string{"a", "b"}) {
		t.Fatalf("stopped %v, want a then b", stopped)
	}
}

func TestRunStopsAllOnTheFirstError(t *testing.T) {
	var mu sync.Mutex
	var stopped []string
	boom := errors.New("boom")
	err := within(t, 5*time.Second, func() error {
		return workgroup.Run(context.Background(), nil,
			untilStopped("relay", &mu, &stopped),
			workgroup.Worker{Name: "consumer", Run: func(context.Context) error { return boom }})
	})
	if !errors.Is(err, boom) || err.Error() != "consumer: boom" {
		t.Fatalf("Run = %v, want consumer: boom", err)
	}
	if !slices.Equal(stopped, []string{"relay"}) {
		t.Fatalf("stopped %v, want the relay stopped", stopped)
	}
}

func TestRunTreatsAnEarlyNilAsAFailure(t *testing.T) {
	var mu sync.Mutex
	var stopped []string
	err := within(t, 5*time.Second, func() error {
		return workgroup.Run(context.Background(), nil,
			workgroup.Worker{Name: "consumer", Run: func(context.Context) error { return nil }},
			untilStopped("relay", &mu, &stopped))
	})
	if !errors.Is(err, workgroup.ErrStoppedEarly) || err.Error() != "consumer: stopped unexpectedly" {
		t.Fatalf("Run = %v, want consumer: stopped unexpectedly", err)
	}
	if !slices.Equal(stopped, []string{"relay"}) {
		t.Fatalf("stopped %v, want the relay stopped", stopped)
	}
}

func TestStopWaitsForEachWorkerInOrder(t *testing.T) {
	g := workgroup.New(nil)
	var mu sync.Mutex
	var events []string
	slow := func(name string) workgroup.Worker {
		return workgroup.Worker{Name: name, Run: func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(10 * time.Millisecond) // a drain: the next worker must wait for it
			mu.Lock()
			events = append(events, name)
			mu.Unlock()
			return nil
		}}
	}
	g.Go(slow("gateway"))
	g.Go(slow("grpc"))
	g.Go(slow("relay"))
	if err := within(t, 5*time.Second, g.Stop); err != nil {
		t.Fatalf("Stop = %v, want nil", err)
	}
	if !slices.Equal(events, []string{"gateway", "grpc", "relay"}) {
		t.Fatalf("stopped in order %v", events)
	}
	if err := g.Stop(); err != nil { // again: no-op
		t.Fatalf("second Stop = %v", err)
	}
	select {
	case <-g.Failed():
		t.Fatal("Failed closed without a failure")
	default:
	}
}
