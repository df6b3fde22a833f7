package pbtime

import (
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	if Proto(time.Time{}) != nil {
		t.Error("zero time is not nil")
	}
	if !Time(nil).IsZero() {
		t.Error("nil is not the zero time")
	}
	for _, tm := range []time.Time{
		time.Date(2026, 11, 26, 20, 0, 0, 123456789, time.UTC),
		time.Unix(0, 0),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
	} {
		if got := Time(Proto(tm)); !got.Equal(tm) {
			t.Errorf("Time(Proto(%v)) = %v", tm, got)
		}
	}
}
