package retry_test

import (
	"context"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/retry"
)

func TestJitterStaysInRange(t *testing.T) {
	t.Parallel()
	for range 1000 {
		if d := retry.Jitter(time.Second); d < 500*time.Millisecond || d >= time.Second {
			t.Fatalf("Jitter(1s) = %v", d)
		}
	}
	if d := retry.Jitter(1); d != 1 {
		t.Fatalf("Jitter(1) = %v", d)
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	done := make(chan struct{})
	go func() { retry.Sleep(ctx, time.Hour); close(done) }()
	<-done
}

func TestBackoffDoublesUpToMaxAndResets(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // Wait returns at once; only the delays are checked
	b := retry.Backoff{Min: time.Millisecond, Max: 4 * time.Millisecond}
	next := func() time.Duration {
		start := time.Now()
		b.Wait(ctx)
		if time.Since(start) > time.Second {
			t.Fatal("Wait did not end with its context")
		}
		return retry.BackoffNext(&b)
	}
	for i, want := range []time.Duration{2, 4, 4} {
		if got := next(); got != want*time.Millisecond {
			t.Fatalf("delay after wait %d = %v, want %v", i+1, got, want*time.Millisecond)
		}
	}
	b.Reset()
	if got := next(); got != 2*time.Millisecond {
		t.Fatalf("delay after Reset and a wait = %v, want 2ms", got)
	}
}
