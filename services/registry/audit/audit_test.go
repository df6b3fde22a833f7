package audit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// trimCounter is a Store that counts trims per account (a unit test of
// Record's trim schedule; the Redis store has its own tests).
type trimCounter struct {
	Store
	trims map[string]int
}

func (c *trimCounter) Record(context.Context, ...Entry) (int, error) { return 0, nil }

func (c *trimCounter) Trim(_ context.Context, ga string, _ time.Time, _ int) (int, error) {
	c.trims[ga]++
	return 0, nil
}

// Record trims an account at most once each trimEvery, and the accounts it
// remembers for that are bounded.
func TestRecordTrimsEachAccountOncePerInterval(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	store := &trimCounter{trims: map[string]int{}}
	svc := NewService(store, Options{Now: func() time.Time { return now }})
	record := func(ga string) {
		t.Helper()
		if err := svc.Record(t.Context(), Entry{ID: "e", GlobalAccount: ga, Time: now}); err != nil {
			t.Fatal(err)
		}
	}
	record("acme")
	record("acme")
	if n := store.trims["acme"]; n != 1 {
		t.Fatalf("%d trims after two entries at once, want 1", n)
	}
	now = now.Add(trimEvery)
	record("acme")
	if n := store.trims["acme"]; n != 2 {
		t.Fatalf("%d trims after trimEvery, want 2", n)
	}
	for i := range trimTracked {
		record(fmt.Sprintf("ga%d", i))
	}
	if n := len(svc.trimmed); n > trimTracked {
		t.Fatalf("%d accounts remembered, more than %d", n, trimTracked)
	}
	record("acme") // forgotten: trimmed once more
	if n := store.trims["acme"]; n != 3 {
		t.Fatalf("%d trims once the accounts were forgotten, want 3", n)
	}
}
