package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/landscape-dev/landscape/pkg/metrics"
)

func TestRegisterNilRegistererReturnsCollector(t *testing.T) {
	t.Parallel()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "x"})
	if got := metrics.Register(nil, c); got != c {
		t.Fatal("Register(nil, c) did not return c")
	}
}

func TestCountersOfOneNameShareTheirPrometheusCounter(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "x_total", Help: "x"}
	a, b := metrics.NewCounter(reg, opts), metrics.NewCounter(reg, opts)
	a.Add(2)
	b.Inc()
	if a.Load() != 2 || b.Load() != 1 {
		t.Fatalf("Load = %d, %d; want 2, 1", a.Load(), b.Load())
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetMetric()[0].GetCounter().GetValue() != 3 {
		t.Fatalf("registered = %v, want one counter at 3", mfs)
	}
	unregistered := metrics.NewCounter(nil, opts)
	unregistered.Inc()
	if unregistered.Load() != 1 {
		t.Fatalf("unregistered Load = %d, want 1", unregistered.Load())
	}
}
