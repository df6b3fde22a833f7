// Package token wires the TokenService: the domain service (package
// tokens) over its Redis store, its gRPC API and its outbox relay. This is
// the service's composition root, used by the landscape binary and by
// component tests.
package token

import (
	"context"
	"errors"

	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/servicedeps"
	"github.com/landscape-dev/landscape/pkg/workgroup"
	"github.com/landscape-dev/landscape/services/token/grpcapi"
	"github.com/landscape-dev/landscape/services/token/redisstore"
	"github.com/landscape-dev/landscape/services/token/tokens"
)

// Deps are what the service needs from its process: the token service
// needs nothing beyond what every service gets.
type Deps struct {
	servicedeps.Common
}

// Service is the TokenService.
type Service struct {
	deps  Deps
	store *redisstore.Store
	app   *tokens.Service
	api   *grpcapi.Server
}

// New builds the service. It does not touch Redis or NATS.
func New(d Deps) (*Service, error) {
	if err := d.Resolve("token"); err != nil {
		return nil, err
	}
	store := redisstore.New(d.Redis, d.KeyPrefix, d.Now)
	app := tokens.NewService(store, d.Now)
	return &Service{deps: d, store: store, app: app, api: grpcapi.New(app, d.Telemetry.Registerer())}, nil
}

// App is the domain service (for tests and tools).
func (s *Service) App() *tokens.Service { return s.app }

// Register registers TokenService on srv, every method with the Internal
// policy (service credential only), and watches Redis for its health. The
// watch runs until srv shuts down (WatchDependency stops with the server),
// so Register needs no context of its own.
func (s *Service) Register(srv *grpcserver.Server) {
	srv.Register(&tokenv1.TokenService_ServiceDesc, s.api, grpcapi.Policies)
	srv.WatchDependency(context.Background(), tokenv1.TokenService_ServiceDesc.ServiceName, s.ping)
}

func (s *Service) ping(ctx context.Context) error {
	return redisconn.Classify(s.deps.Redis.Ping(ctx).Err())
}

// Run relays the token outbox to JetStream (stream LANDSCAPE_TOKEN) until
// ctx ends (workgroup.Run, as every service runs its workers); it returns
// nil then, or the failure that stopped the relay.
func (s *Service) Run(ctx context.Context) error {
	if s.deps.JetStream == nil {
		return errors.New("token: Deps.JetStream is required to run")
	}
	relay := outbox.NewRelay(s.store.Outbox(), s.deps.JetStream, s.deps.Logger, outbox.RelayOptions{
		Replicas: s.deps.StreamReplicas, Registerer: s.deps.Telemetry.Registerer(), TracerProvider: s.deps.Telemetry.TracerProvider(),
	})
	return workgroup.Run(ctx, s.deps.Logger, workgroup.Worker{Name: "token outbox relay", Run: relay.Run})
}
