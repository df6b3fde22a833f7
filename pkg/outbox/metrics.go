package outbox

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/landscape-dev/landscape/pkg/metrics"
)

// RelayStats are a relay's counts since it started and the state of its
// outbox.
type RelayStats struct {
	Length    int64         // entries waiting in the outbox
	OldestAge time.Duration // age of the oldest waiting entry; 0 when empty
	Published int64         // entries published and deleted
	Retried   int64         // entry publishes that failed and will be retried
}

type relayMetrics struct {
	length, age        prometheus.Gauge
	published, retried *metrics.Counter
	publishErrors      prometheus.Counter
}

func newRelayMetrics(context string, reg prometheus.Registerer) *relayMetrics {
	m := metrics.NewSet(reg, prometheus.Labels{"context": context})
	return &relayMetrics{
		length:        m.Gauge("landscape_outbox_length", "Entries waiting in the outbox."),
		age:           m.Gauge("landscape_outbox_oldest_age_seconds", "Age of the oldest entry waiting in the outbox."),
		published:     m.Counter("landscape_outbox_published_total", "Outbox entries published to JetStream and deleted."),
		retried:       m.Counter("landscape_outbox_retried_total", "Outbox entry publishes that failed and are retried."),
		publishErrors: m.PromCounter("landscape_outbox_publish_errors_total", "Relay rounds whose publish to JetStream failed (NATS down, no ack in time)."),
	}
}

// Stats reads the outbox's length and the age of its oldest entry, and the
// relay's counts.
func (r *Relay) Stats(ctx context.Context) (RelayStats, error) {
	s := RelayStats{Published: r.m.published.Load(), Retried: r.m.retried.Load()}
	n, err := r.o.rdb.XLen(ctx, r.o.key).Result()
	if err != nil {
		return s, err
	}
	s.Length = n
	if n > 0 {
		head, err := r.o.rdb.XRangeN(ctx, r.o.key, "-", "+", 1).Result()
		if err != nil {
			return s, err
		}
		if len(head) > 0 {
			if ms, err := strconv.ParseInt(strings.SplitN(head[0].ID, "-", 2)[0], 10, 64); err == nil {
				s.OldestAge = max(0, time.Since(time.UnixMilli(ms)))
			}
		}
	}
	return s, nil
}

// statsLoop refreshes the gauges and logs the counts every logEvery when
// there is something to say.
func (r *Relay) statsLoop(ctx context.Context) {
	t := time.NewTicker(r.statsEvery)
	defer t.Stop()
	var last RelayStats
	lastLog := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s, err := r.Stats(ctx)
		if err != nil {
			continue
		}
		r.m.length.Set(float64(s.Length))
		r.m.age.Set(s.OldestAge.Seconds())
		if time.Since(lastLog) < r.logEvery {
			continue
		}
		lastLog = time.Now()
		if s.Length == 0 && s.Published == last.Published && s.Retried == last.Retried {
			continue
		}
		r.logger.Info("outbox relay stats", "length", s.Length, "oldestAge", s.OldestAge.Round(time.Millisecond),
			"published", s.Published, "retried", s.Retried)
		last = s
	}
}
