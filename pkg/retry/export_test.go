package retry

import "time"

// BackoffNext is the delay b's next Wait sleeps, before jitter.
func BackoffNext(b *Backoff) time.Duration { return b.cur }
