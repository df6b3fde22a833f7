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
