// Package metrics registers Landscape's Prometheus collectors.
package metrics

import (
	"errors"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c, or returns the collector already registered under
// the same name and labels (a second relay or subscriber of one name in a
// process). With a nil reg it registers nothing and returns c.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

// Counter is a count of one component (for its logs and stats) that also
// adds to a Prometheus counter. The Prometheus counter may be shared with
// other components of the same name; Load reads only this one's count.
type Counter struct {
	n    atomic.Int64
	prom prometheus.Counter
}

// NewCounter returns a Counter whose Prometheus counter, made from opts, is
// registered with reg (see Register; nil registers none).
func NewCounter(reg prometheus.Registerer, opts prometheus.CounterOpts) *Counter {
	return &Counter{prom: Register(reg, prometheus.NewCounter(opts))}
}

// Add adds n to the count.
func (c *Counter) Add(n int64) {
	c.n.Add(n)
	c.prom.Add(float64(n))
}

// Inc adds one to the count.
func (c *Counter) Inc() { c.Add(1) }

// Load returns this Counter's count.
func (c *Counter) Load() int64 { return c.n.Load() }

// Set makes the collectors of one component: each registered with reg (see
// Register; nil registers none) and carrying the same constant labels.
type Set struct {
	reg    prometheus.Registerer
	labels prometheus.Labels
}

// NewSet returns the Set of reg with the constant labels (nil: none).
func NewSet(reg prometheus.Registerer, labels prometheus.Labels) Set {
	return Set{reg: reg, labels: labels}
}

// Counter is a Counter named name.
func (s Set) Counter(name, help string) *Counter {
	return NewCounter(s.reg, prometheus.CounterOpts{Name: name, Help: help, ConstLabels: s.labels})
}

// PromCounter is a Prometheus counter named name, for a count the
// component does not read itself.
func (s Set) PromCounter(name, help string) prometheus.Counter {
	return Register(s.reg, prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: s.labels}))
}

// Gauge is a Prometheus gauge named name.
func (s Set) Gauge(name, help string) prometheus.Gauge {
	return Register(s.reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: s.labels}))
}
