package retry

import (
	"context"
	"errors"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

// MaxConflicts bounds the attempts of one optimistic command: a step that
// lost a race to a concurrent change of the same resource is read and
// decided again at most this many times in all.
const MaxConflicts = 32

// ErrTooMuchContention is the cause of the UNAVAILABLE error OnConflict
// returns once every attempt lost its race.
var ErrTooMuchContention = errors.New("the resource changed too often")

// OnConflict runs an optimistic step — read, decide, commit if nothing
// changed meanwhile — again while it fails with conflict (errors.Is), at
// most MaxConflicts times. Any other result is returned as is. When every
// attempt conflicted it returns UNAVAILABLE (the caller may retry later);
// when ctx ends between attempts, ctx's error.
func OnConflict[T any](ctx context.Context, conflict error, step func() (T, error)) (T, error) {
	var zero T
	for range MaxConflicts {
		v, err := step()
		if !errors.Is(err, conflict) {
			return v, err
		}
		if ctx.Err() != nil {
			return zero, ctx.Err()
		}
	}
	return zero, apperr.UnavailableErr("the store", ErrTooMuchContention)
}
