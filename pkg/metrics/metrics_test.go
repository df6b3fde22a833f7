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

func TestSetRegistersWithItsLabels(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s := metrics.NewSet(reg, prometheus.Labels{"context": "c"})
	s.Counter("a_total", "a").Inc()
	s.PromCounter("b_total", "b").Add(2)
	s.Gauge("c", "c").Set(3)
	// A second Set of the same names and labels shares the collectors.
	metrics.NewSet(reg, prometheus.Labels{"context": "c"}).Gauge("c", "c").Add(1)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"a_total": 1, "b_total": 2, "c": 4}
	if len(mfs) != len(want) {
		t.Fatalf("registered %d families, want %d", len(mfs), len(want))
	}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
		if v != want[mf.GetName()] {
			t.Errorf("%s = %v, want %v", mf.GetName(), v, want[mf.GetName()])
		}
		if l := m.GetLabel(); len(l) != 1 || l[0].GetName() != "context" || l[0].GetValue() != "c" {
			t.Errorf("%s labels = %v, want context=c", mf.GetName(), l)
		}
	}
}
