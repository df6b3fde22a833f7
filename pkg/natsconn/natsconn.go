// Package natsconn opens the NATS connection and JetStream context every
// Landscape service uses: it never fails because the server is down at
// start, reconnects forever, does not buffer publishes while disconnected
// (callers such as the outbox relay keep their own durable backlog), and
// logs a disconnect and a reconnect once each.
package natsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Settings used by Connect.
const (
	ReconnectWait       = 250 * time.Millisecond // between reconnect attempts, plus jitter
	ReconnectJitter     = 250 * time.Millisecond
	PublishAsyncTimeout = 5 * time.Second // an async publish without ack by then fails
	PublishAsyncMax     = 4096            // async publishes in flight per connection
)

// Connect dials url (a comma-separated list is allowed) as the client name.
// When no server answers yet it returns a connection that keeps trying in
// the background; publishes fail fast until it is connected.
func Connect(url, name string, logger *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	return ConnectAs(url, name, Auth{}, logger)
}

// ConnectAs is Connect with credentials (see Auth); a zero Auth connects
// without any, as `landscape dev` does with its embedded server.
func ConnectAs(url, name string, auth Auth, logger *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	authOpts, err := auth.options()
	if err != nil {
		return nil, nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "nats", "client", name)
	var down atomic.Bool
	nc, err := nats.Connect(url, append([]nats.Option{
		nats.Name(name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(ReconnectWait),
		nats.ReconnectJitter(ReconnectJitter, ReconnectJitter),
		nats.ReconnectBufSize(-1),
		nats.ConnectHandler(func(c *nats.Conn) {
			if down.Swap(false) {
				logger.Info("nats connected", "server", c.ConnectedUrlRedacted())
			}
		}),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if c.IsClosed() {
				return // closed on purpose
			}
			if !down.Swap(true) {
				logger.Warn("nats disconnected; reconnecting in the background", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			if down.Swap(false) {
				logger.Info("nats reconnected", "server", c.ConnectedUrlRedacted())
			}
		}),
		nats.ClosedHandler(func(*nats.Conn) { logger.Debug("nats connection closed") }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			// A permissions violation names the subject, never a secret.
			logger.Warn("nats error", "error", err.Error())
		}),
	}, authOpts...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("natsconn: connect: %w", err)
	}
	if !nc.IsConnected() {
		down.Store(true)
		logger.Warn("nats not reachable yet; connecting in the background")
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncTimeout(PublishAsyncTimeout),
		jetstream.WithPublishAsyncMaxPending(PublishAsyncMax),
	)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("natsconn: jetstream: %w", err)
	}
	return nc, js, nil
}

// EnsureStream creates the stream want describes, or brings an existing
// one in line with it: its subjects, max age and duplicate window, and its
// replica count when want.Replicas is set. Zero want.Replicas creates the
// stream with the server's default (one) and keeps an existing stream's
// count, as an operator may have set it. Several processes may call it at
// once; it works with NATS servers from 2.9 on.
func EnsureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) error {
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return nil // another process created it meanwhile
		}
		return err
	}
	if err != nil {
		return err
	}
	cur := s.CachedInfo().Config
	replicas := cur.Replicas
	if want.Replicas > 0 {
		replicas = want.Replicas
	}
	if slices.Equal(cur.Subjects, want.Subjects) && cur.MaxAge == want.MaxAge &&
		cur.Duplicates == want.Duplicates && cur.Replicas == replicas {
		return nil
	}
	cur.Subjects, cur.MaxAge, cur.Duplicates, cur.Replicas = want.Subjects, want.MaxAge, want.Duplicates, replicas
	_, err = js.UpdateStream(ctx, cur)
	return err
}
