package retry_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/apperr"
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
	select {
	case <-done:
	case <-time.After(10 * time.Second): // a failure, not a hang
		t.Fatal("Sleep did not end with its context")
	}
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

var errConflict = errors.New("conflict")

func TestOnConflictRetriesOnlyConflicts(t *testing.T) {
	t.Parallel()
	calls := 0
	v, err := retry.OnConflict(t.Context(), errConflict, func() (int, error) {
		calls++
		if calls < 3 {
			return 0, fmt.Errorf("commit: %w", errConflict) // wrapped: still a conflict
		}
		return 7, nil
	})
	if v != 7 || err != nil || calls != 3 {
		t.Fatalf("OnConflict = %d, %v after %d calls; want 7, nil after 3", v, err, calls)
	}
	other := errors.New("name taken")
	calls = 0
	if _, err := retry.OnConflict(t.Context(), errConflict, func() (int, error) { calls++; return 0, other }); err != other || calls != 1 {
		t.Fatalf("another error: %v after %d calls; want it returned at once", err, calls)
	}
}

func TestOnConflictGivesUpUnavailable(t *testing.T) {
	t.Parallel()
	calls := 0
	_, err := retry.OnConflict(t.Context(), errConflict, func() (struct{}, error) { calls++; return struct{}{}, errConflict })
	var ae *apperr.Error
	if calls != retry.MaxConflicts || !errors.As(err, &ae) || ae.Reason != apperr.Unavailable || !errors.Is(err, retry.ErrTooMuchContention) {
		t.Fatalf("after %d calls: %v; want UNAVAILABLE after %d", calls, err, retry.MaxConflicts)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls = 0
	if _, err := retry.OnConflict(ctx, errConflict, func() (int, error) { calls++; return 0, errConflict }); !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("ended context: %v after %d calls; want context.Canceled after 1", err, calls)
	}
}
