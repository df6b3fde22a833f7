// Package subscriber consumes Landscape events from JetStream with a durable
// pull consumer: explicit ack, bounded redelivery with backoff, and a
// dead-letter stream for events that keep failing.
//
// API FROZEN for parallel work; TODO(events) bodies are filled in by the
// events kit (issue 3).
package subscriber

import (
	"context"
	"errors"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
)

// Handler applies one event. Returning nil acks it; an error redelivers it
// with backoff, up to MaxDeliver times, then dead-letters it. Handlers must
// be idempotent: use the event payload's revision (outbox Tx.ApplyOnce).
type Handler func(ctx context.Context, ev cloudevent.Event) error

// Config names the consumer.
type Config struct {
	Stream        string // e.g. LANDSCAPE_REGISTRY
	Durable       string // e.g. formation-reactions
	FilterSubject string // e.g. landscape.registry.*.system.>
	MaxDeliver    int    // default 5
}

// Run consumes until ctx ends, retrying while NATS or the stream is not
// there yet.
func Run(ctx context.Context, js jetstream.JetStream, cfg Config, h Handler, logger *slog.Logger) error {
	// TODO(events)
	return errors.New("subscriber: not built yet")
}
