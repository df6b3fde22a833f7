// Package registry wires the RegistryService: its Redis store, its gRPC API,
// its outbox relay and its consumer of formation assignment events. This is
// the service's composition root, used by the landscape binary and by
// component tests.
package registry

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/subscriber"
	"github.com/landscape-dev/landscape/services/registry/catalog"
	"github.com/landscape-dev/landscape/services/registry/formations"
	"github.com/landscape-dev/landscape/services/registry/grpcapi"
	"github.com/landscape-dev/landscape/services/registry/redisstore"
	"github.com/landscape-dev/landscape/services/registry/system"
	"github.com/landscape-dev/landscape/services/registry/tokens"
)

// Deps are what the service needs from its process.
type Deps struct {
	Logger    *slog.Logger
	Redis     redis.UniversalClient
	KeyPrefix string // "ls" in production
	JetStream jetstream.JetStream
	Now       func() time.Time // nil: time.Now
	// Tokens is the TokenService client, dialled with the service
	// credential. Calls without a deadline of their own get 5 s.
	Tokens tokenv1.TokenServiceClient
	// TokenTTL overrides the catalog's token TTL when positive (tests).
	TokenTTL time.Duration
	// StreamReplicas is the replica count of the JetStream streams the
	// service creates or scales: its outbox stream and the dead-letter
	// stream (3 on a 3-node cluster). 0 creates them with the server's
	// default and keeps an existing stream's count.
	StreamReplicas int
}

// Service is a running RegistryService.
type Service struct {
	deps  Deps
	store *redisstore.Store
	app   *system.Service
	api   *grpcapi.Server
}

// New builds the service.
func New(d Deps) (*Service, error) {
	if d.Redis == nil {
		return nil, errors.New("registry: Deps.Redis is required")
	}
	if d.Tokens == nil {
		return nil, errors.New("registry: Deps.Tokens is required")
	}
	if d.KeyPrefix == "" {
		d.KeyPrefix = "ls"
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	cat, err := catalog.Load()
	if err != nil {
		return nil, err
	}
	store := redisstore.New(d.Redis, d.KeyPrefix)
	app := system.NewService(store, tokens.New(d.Tokens), cat, system.Options{
		TokenTTL: d.TokenTTL, Now: d.Now, Logger: d.Logger,
	})
	return &Service{deps: d, store: store, app: app, api: grpcapi.New(app)}, nil
}

// App is the application service (for tests and tools).
func (s *Service) App() *system.Service { return s.app }

// Register registers the gRPC service on srv with its method policies, and
// watches Redis for the service's health (until srv shuts down).
func (s *Service) Register(srv *grpcserver.Server) {
	srv.Register(&registryv1.RegistryService_ServiceDesc, s.api, grpcapi.Policies)
	srv.WatchDependency(context.Background(), registryv1.RegistryService_ServiceDesc.ServiceName, s.store.Ping)
}

// Run runs the outbox relay and the consumer of formation assignment
// events until ctx ends. It returns nil after ctx ends, or the first error
// that stopped one of them.
func (s *Service) Run(ctx context.Context) error {
	if s.deps.JetStream == nil {
		return errors.New("registry: Deps.JetStream is required to run")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := f(ctx)
			if err != nil && ctx.Err() == nil {
				s.deps.Logger.Error("registry background work stopped", "worker", name, "error", err.Error())
				once.Do(func() { first = err })
				cancel()
			}
		}()
	}
	run("outbox-relay", outbox.NewRelay(s.store.Outbox(), s.deps.JetStream, s.deps.Logger, outbox.RelayOptions{Replicas: s.deps.StreamReplicas}).Run)
	run("formation-consumer", func(ctx context.Context) error {
		cfg := formations.Config
		cfg.DeadLetterReplicas = s.deps.StreamReplicas
		return subscriber.Run(ctx, s.deps.JetStream, cfg, formations.Handler(s.app, s.deps.Logger), s.deps.Logger)
	})
	wg.Wait()
	return first
}
