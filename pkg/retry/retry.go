// Package retry holds the waiting that background loops do between
// attempts: jittered delays that end early when the context ends.
package retry

import (
	"context"
	mathrand "math/rand/v2"
	"time"
)

// Jitter returns a duration in [d/2, d), so that many waiters spread out.
func Jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + time.Duration(mathrand.Int64N(int64(d/2)))
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
