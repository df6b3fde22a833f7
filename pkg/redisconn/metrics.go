package redisconn

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/metrics"
)

// poolCollector reads a client's connection pool statistics at each scrape.
type poolCollector struct {
	client                          interface{ PoolStats() *redis.PoolStats }
	hits, misses, timeouts, waits   *prometheus.Desc
	waitSeconds, conns, stale, pend *prometheus.Desc
}

// RegisterPoolMetrics registers the pool statistics of client with reg
// (nil: nothing): landscape_redis_pool_* — hits, misses, timeouts and
// waits for a connection, the time spent waiting, and connections by
// state (idle, in use).
func RegisterPoolMetrics(reg prometheus.Registerer, client interface{ PoolStats() *redis.PoolStats }) {
	if reg == nil || client == nil {
		return
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("landscape_redis_pool_"+name, help, labels, nil)
	}
	metrics.Register(reg, prometheus.Collector(&poolCollector{
		client:      client,
		hits:        d("hits_total", "Commands that found a free connection in the pool."),
		misses:      d("misses_total", "Commands that found no free connection and opened or waited for one."),
		timeouts:    d("timeouts_total", "Waits for a connection that timed out."),
		waits:       d("waits_total", "Commands that waited for a connection."),
		waitSeconds: d("wait_seconds_total", "Time spent waiting for a connection."),
		conns:       d("connections", "Connections of the pool by state.", "state"),
		stale:       d("stale_connections_total", "Stale connections removed from the pool."),
		pend:        d("pending_requests", "Commands waiting for a connection now."),
	}))
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.hits, c.misses, c.timeouts, c.waits, c.waitSeconds, c.conns, c.stale, c.pend} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.client.PoolStats()
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	counter(c.hits, float64(s.Hits))
	counter(c.misses, float64(s.Misses))
	counter(c.timeouts, float64(s.Timeouts))
	counter(c.waits, float64(s.WaitCount))
	counter(c.waitSeconds, float64(s.WaitDurationNs)/1e9)
	counter(c.stale, float64(s.StaleConns))
	idle := float64(s.IdleConns)
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, idle, "idle")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, max(0, float64(s.TotalConns)-idle), "in_use")
	ch <- prometheus.MustNewConstMetric(c.pend, prometheus.GaugeValue, float64(s.PendingRequests))
}
