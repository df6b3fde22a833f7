package main

import (
	"math/bits"
	"time"
)

// hist is a small HDR-style latency histogram: exact below 128 ns, then 64
// linear sub-buckets per power of two (relative error under 1.6%), in a
// fixed array, so recording is O(1) and memory does not grow with the run.
type hist struct {
	counts [128 + 58*64]uint64
	n      uint64
	max    time.Duration
}

func bucketOf(v uint64) int {
	if v < 128 {
		return int(v)
	}
	e := bits.Len64(v) - 7 // v>>e is in [64, 128)
	return 128 + (e-1)*64 + int(v>>e) - 64
}

// lowOf is the smallest value of bucket i; midOf its middle.
func lowOf(i int) uint64 {
	if i < 128 {
		return uint64(i)
	}
	e := (i-128)/64 + 1
	return uint64((i-128)%64+64) << e
}

func midOf(i int) uint64 {
	if i < 128 {
		return uint64(i)
	}
	e := (i-128)/64 + 1
	return lowOf(i) + (uint64(1)<<e)/2
}

func (h *hist) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the latency at quantile q (0..1): the middle of the
// bucket holding the ceil(q*n)-th value, at most the largest value seen.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999)
	rank = max(1, min(rank, h.n))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(midOf(i)), h.max)
		}
	}
	return h.max
}
