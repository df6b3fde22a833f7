package resource

import (
	"errors"
	"fmt"
)

// MaxRevisionJump is how far beyond the last revision a consumer applied
// of a resource an event's revision may be. Revisions grow by one per
// change and a consumer sees most of them, so an event far ahead is not
// one the owning service published: a forged revision near 2^63 would
// make every genuine later event look stale.
const MaxRevisionJump = 1_000_000

// ErrImplausibleRevision is an event revision that is not positive or lies
// more than MaxRevisionJump beyond the last one applied. Consumers refuse
// such an event to the dead-letter stream instead of applying it.
var ErrImplausibleRevision = errors.New("implausible revision")

// CheckRevision returns nil when rev may follow last (the last revision
// applied of the resource, 0 for none), else an error wrapping
// ErrImplausibleRevision.
func CheckRevision(rev, last int64) error {
	if rev <= 0 {
		return fmt.Errorf("%w: %d is not positive", ErrImplausibleRevision, rev)
	}
	if rev > last && rev-last > MaxRevisionJump {
		return fmt.Errorf("%w: %d is more than %d beyond %d", ErrImplausibleRevision, rev, MaxRevisionJump, last)
	}
	return nil
}
