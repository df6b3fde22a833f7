// Package servicedeps holds what every service (registry, token,
// formation) takes from its process: the logger, the Redis client and key
// prefix, JetStream, the clock, the stream replica count and telemetry.
// Each service's Deps embeds Common and adds its own parts.
package servicedeps

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/telemetry"
)

// Common are the dependencies every service shares.
type Common struct {
	Logger    *slog.Logger // nil: discard; the composition root names the service in it
	Redis     redis.UniversalClient
	KeyPrefix string // redisconn.DefaultKeyPrefix when empty; a per-test prefix in tests
	JetStream jetstream.JetStream
	Now       func() time.Time // nil: time.Now
	// StreamReplicas is the replica count of the JetStream streams the
	// service creates or scales: its outbox stream and the dead-letter
	// stream (3 on a 3-node cluster). 0 creates them with the server's
	// default and keeps an existing stream's count.
	StreamReplicas int
	// Telemetry receives the service's metrics and makes the spans of its
	// background work (outbox relay, consumers); nil: neither.
	Telemetry *telemetry.Telemetry
}

// Resolve checks that Redis is given and fills the defaults of KeyPrefix
// and Logger. service names the service in the error.
func (c *Common) Resolve(service string) error {
	if c.Redis == nil {
		return fmt.Errorf("%s: Deps.Redis is required", service)
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = redisconn.DefaultKeyPrefix
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
