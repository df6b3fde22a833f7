// Package token wires the TokenService: its Redis store, its gRPC API, its outbox
// relay and its event consumers. This is the service's composition root,
// used by the landscape binary and by component tests.
//
// SKELETON: the wiring contract of docs/ARCHITECTURE.md. The engineer who
// owns this service replaces the body; keep Deps/New/Register/Run.
package token

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
)

// Deps are what the service needs from its process.
type Deps struct {
	Logger    *slog.Logger
	Redis     redis.UniversalClient
	KeyPrefix string // "ls" in production
	JetStream jetstream.JetStream
	Now       func() time.Time // nil: time.Now
}

// Service is a running TokenService.
type Service struct {
	deps Deps
}

// New builds the service.
func New(d Deps) (*Service, error) {
	return &Service{deps: d}, nil
}

// Register registers the gRPC service on srv.
func (s *Service) Register(srv *grpcserver.Server) {
	srv.Register(&tokenv1.TokenService_ServiceDesc, tokenv1.UnimplementedTokenServiceServer{}, nil)
}

// Run runs the background work (outbox relay, consumers) until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
