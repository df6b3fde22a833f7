package testkit

import (
	"errors"
	"sync"
	"testing"
)

func TestRaceCountsWinnersLosersAndOthers(t *testing.T) {
	t.Parallel()
	errLost, errOdd := errors.New("lost"), errors.New("odd")
	var mu sync.Mutex
	calls := 0
	ok, lost, other := Race(10, func(int) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		switch calls {
		case 1:
			return nil
		case 2:
			return errOdd
		}
		return errLost
	}, func(err error) bool { return errors.Is(err, errLost) })
	if ok != 1 || lost != 8 || !errors.Is(other, errOdd) {
		t.Fatalf("Race = %d, %d, %v; want 1, 8, odd", ok, lost, other)
	}
}

func TestOneWinsPassesWhenExactlyOneWins(t *testing.T) {
	t.Parallel()
	errLost := errors.New("lost")
	var mu sync.Mutex
	won := false
	OneWins(t, "race", 5, func(int) error {
		mu.Lock()
		defer mu.Unlock()
		if won {
			return errLost
		}
		won = true
		return nil
	}, func(err error) bool { return errors.Is(err, errLost) })
}
