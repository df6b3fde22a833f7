// Package retry holds the waiting that background loops do between
// attempts (jittered delays that end early when the context ends, and an
// exponential backoff built on them) and the one retry of optimistic
// commands on a concurrent change (OnConflict).
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

// Backoff waits between failed attempts: the first Wait sleeps about Min,
// each next one twice as long up to Max (every delay jittered), until
// Reset starts again from Min. A Backoff is not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration

	cur time.Duration // the next delay; 0 means Min
}

// Wait sleeps the next delay, jittered, or until ctx ends.
func (b *Backoff) Wait(ctx context.Context) {
	if b.cur == 0 {
		b.cur = b.Min
	}
	Sleep(ctx, Jitter(b.cur))
	b.cur = min(b.cur*2, b.Max)
}

// Reset makes the next Wait sleep about Min again.
func (b *Backoff) Reset() { b.cur = 0 }
