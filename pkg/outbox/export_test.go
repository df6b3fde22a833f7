package outbox

import "time"

// CrashAfterPublish makes r's Run return after a round's publish acks and
// before it deletes the entries, as a process killed at that moment would.
func CrashAfterPublish(r *Relay) { r.crashAfterPublish = true }

// SetLease shortens r's lease for tests.
func SetLease(r *Relay, ttl, renewAfter time.Duration) {
	r.leaseTTL, r.renewAfter = ttl, renewAfter
	r.block = min(r.block, renewAfter)
}
