package testkit

import (
	"sync"
	"sync/atomic"
	"testing"
)

// Race runs call n times at once, with i from 0 to n-1 (every call waits
// until all have started), and counts the outcomes: ok the calls that returned nil, lost
// those whose error lost reports (the expected refusal of the losers).
// other is one of the errors that are neither, nil when there are none.
func Race(n int, call func(i int) error, lost func(error) bool) (ok, losers int, other error) {
	var okN, lostN atomic.Int64
	var otherErr atomic.Value
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			switch err := call(i); {
			case err == nil:
				okN.Add(1)
			case lost(err):
				lostN.Add(1)
			default:
				otherErr.Store(err)
			}
		})
	}
	close(start)
	wg.Wait()
	other, _ = otherErr.Load().(error)
	return int(okN.Load()), int(lostN.Load()), other
}

// OneWins runs the Race of n calls and fails the test (what names the
// race) unless exactly one call succeeds and every other one loses.
func OneWins(t testing.TB, what string, n int, call func(i int) error, lost func(error) bool) {
	t.Helper()
	ok, losers, other := Race(n, call, lost)
	if other != nil {
		t.Fatalf("%s: unexpected error %v", what, other)
	}
	if ok != 1 || losers != n-1 {
		t.Fatalf("%s: %d of %d calls succeeded and %d lost; want 1 and %d", what, ok, n, losers, n-1)
	}
}
