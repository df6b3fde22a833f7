package main

import (
	"os"
	"testing"
	"time"
)

func TestHistBuckets(t *testing.T) {
	t.Parallel()
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 123456789, 1 << 62} {
		i := bucketOf(v)
		lo := lowOf(i)
		if lo > v {
			t.Errorf("bucket %d of %d starts at %d", i, v, lo)
		}
		if i+1 < len(hist{}.counts) && lowOf(i+1) <= v {
			t.Errorf("bucket %d of %d ends before it: next starts at %d", i, v, lowOf(i+1))
		}
	}
}

func TestHistQuantiles(t *testing.T) {
	t.Parallel()
	var h hist
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, 1000 * time.Microsecond}} {
		got := h.quantile(c.q)
		if d := float64(got-c.want) / float64(c.want); d > 0.02 || d < -0.02 {
			t.Errorf("q%.2f = %s, want %s ± 2%%", c.q, got, c.want)
		}
	}
}

func TestLastGCHeap(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/stderr"
	log := "gc 1 @0.01s 1%: 0.1+1+0.1 ms clock, 0.2+0/1/0+0.2 ms cpu, 3->4->2 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P\n" +
		"{\"level\":\"INFO\"}\n" +
		"gc 2 @1.5s 2%: 0.1+1+0.1 ms clock, 0.2+0/1/0+0.2 ms cpu, 40->41->17 MB, 42 MB goal, 0 MB stacks, 0 MB globals, 2 P\n"
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := lastGCHeap(path); got != "17 MB" {
		t.Errorf("lastGCHeap = %q, want 17 MB", got)
	}
}
