// Package registry wires the RegistryService: its Redis store, its gRPC API,
// its outbox relay and its consumer of formation assignment events. This is
// the service's composition root, used by the landscape binary and by
// component tests.
package registry

import (
	"context"
	"errors"
	"time"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/ratelimit"
	"github.com/landscape-dev/landscape/pkg/servicedeps"
	"github.com/landscape-dev/landscape/pkg/subscriber"
	"github.com/landscape-dev/landscape/pkg/workgroup"
	"github.com/landscape-dev/landscape/services/registry/assignmentconsumer"
	"github.com/landscape-dev/landscape/services/registry/audit"
	"github.com/landscape-dev/landscape/services/registry/auditconsumer"
	"github.com/landscape-dev/landscape/services/registry/auditstore"
	"github.com/landscape-dev/landscape/services/registry/catalog"
	"github.com/landscape-dev/landscape/services/registry/grpcapi"
	"github.com/landscape-dev/landscape/services/registry/redisstore"
	"github.com/landscape-dev/landscape/services/registry/system"
	"github.com/landscape-dev/landscape/services/registry/tokenclient"
)

// Deps are what the service needs from its process.
type Deps struct {
	servicedeps.Common

	// Tokens is the TokenService client, dialled with the service
	// credential. Calls without a deadline of their own get 5 s.
	Tokens tokenv1.TokenServiceClient
	// TokenTTL overrides the catalog's token TTL when positive (tests).
	TokenTTL time.Duration
	// MaxSystems is the quota of systems per global account; 0 is
	// system.DefaultMaxSystems.
	MaxSystems int64
	// Webhooks enables webhooks at pairing: the sealer of their secrets
	// (--secrets-key-file) and the egress guard that checks their URLs.
	// Without a sealer, a pairing that registers a webhook is refused.
	Webhooks system.WebhookOptions
	// AuditRetention is how long the audit trail keeps entries
	// (--audit-retention); 0: audit.DefaultRetention.
	AuditRetention time.Duration
	// AuditSweepEvery is how often expired audit entries of every global
	// account are removed (recording an event also removes a few of its
	// account's); 0: DefaultAuditSweepEvery.
	AuditSweepEvery time.Duration
	// PairRateLimit is the pairing limit per client (requests/s on
	// PairSystem and ReportPairingFailure together), kept in Redis under
	// <KeyPrefix>:registry:pairlimit:<client> and so shared by every
	// replica; PairRateBurst its burst. The client is the address the
	// gateway vouches for (authn.ClientFrom), else the TCP peer. 0: off.
	PairRateLimit float64
	PairRateBurst int
}

// DefaultAuditSweepEvery is the default Deps.AuditSweepEvery.
const DefaultAuditSweepEvery = time.Hour

// Service is a running RegistryService.
type Service struct {
	deps  Deps
	store *redisstore.Store
	app   *system.Service
	api   *grpcapi.Server
	audit *audit.Service
}

// New builds the service.
func New(d Deps) (*Service, error) {
	if err := d.Resolve("registry"); err != nil {
		return nil, err
	}
	if d.Tokens == nil {
		return nil, errors.New("registry: Deps.Tokens is required")
	}
	cat, err := catalog.Load()
	if err != nil {
		return nil, err
	}
	store := redisstore.New(d.Redis, d.KeyPrefix)
	app := system.NewService(store, tokenclient.New(d.Tokens), cat, system.Options{
		TokenTTL: d.TokenTTL, MaxSystems: d.MaxSystems, Now: d.Now, Logger: d.Logger, Webhooks: d.Webhooks,
	})
	api := grpcapi.New(app)
	if d.PairRateLimit > 0 {
		api.LimitPairing(ratelimit.New(d.Redis, d.KeyPrefix+":registry:pairlimit:", d.PairRateLimit, d.PairRateBurst, d.Logger))
	}
	trail := audit.NewService(auditstore.New(d.Redis, d.KeyPrefix), audit.Options{
		Retention: d.AuditRetention, Now: d.Now, Logger: d.Logger,
	})
	return &Service{deps: d, store: store, app: app, api: api, audit: trail}, nil
}

// App is the application service (for tests and tools).
func (s *Service) App() *system.Service { return s.app }

// Audit is the audit trail (for tests and tools).
func (s *Service) Audit() *audit.Service { return s.audit }

// Register registers the gRPC service on srv with its method policies, and
// watches Redis for the service's health (until srv shuts down).
func (s *Service) Register(srv *grpcserver.Server) {
	srv.Register(&registryv1.RegistryService_ServiceDesc, s.api, grpcapi.Policies)
	srv.WatchDependency(context.Background(), registryv1.RegistryService_ServiceDesc.ServiceName, s.store.Ping)
	// GET /v1/me needs nothing but the credential: always SERVING.
	srv.Register(&registryv1.CallerService_ServiceDesc, grpcapi.CallerServer{}, nil)
	srv.SetServing(registryv1.CallerService_ServiceDesc.ServiceName, true)
	srv.Register(&registryv1.AuditService_ServiceDesc, grpcapi.NewAuditServer(s.audit), nil)
	srv.WatchDependency(context.Background(), registryv1.AuditService_ServiceDesc.ServiceName, s.store.Ping)
}

// Run runs the registry's background work until ctx ends: the outbox
// relay, the consumer of formation assignment events, the audit trail's
// consumers and sweeper, and the one-time removal of retired list indexes
// (workgroup.Run: if one stops, all stop). It returns nil after ctx ends,
// or the first failure.
func (s *Service) Run(ctx context.Context) error {
	if s.deps.JetStream == nil {
		return errors.New("registry: Deps.JetStream is required to run")
	}
	relay := outbox.NewRelay(s.store.Outbox(), s.deps.JetStream, s.deps.Logger, outbox.RelayOptions{
		Replicas: s.deps.StreamReplicas, Registerer: s.deps.Telemetry.Registerer(), TracerProvider: s.deps.Telemetry.TracerProvider(),
	})
	cfg := assignmentconsumer.Config
	cfg.DeadLetterReplicas = s.deps.StreamReplicas
	cfg.Registerer, cfg.TracerProvider = s.deps.Telemetry.Registerer(), s.deps.Telemetry.TracerProvider()
	handler := assignmentconsumer.Handler(s.app, s.deps.Logger)
	workers := []workgroup.Worker{
		{Name: "registry outbox relay", Run: relay.Run},
		{Name: "registry assignment consumer", Run: func(ctx context.Context) error {
			return subscriber.Run(ctx, s.deps.JetStream, cfg, handler, s.deps.Logger)
		}},
		{Name: "registry audit sweeper", Run: s.sweepAudit},
		{Name: "registry retired index removal", Run: s.store.RemoveRetiredIndexes(s.deps.Logger)},
	}
	auditHandler := auditconsumer.Handler(s.audit)
	for _, c := range auditconsumer.Contexts {
		acfg := auditconsumer.Config(c)
		acfg.DeadLetterReplicas = s.deps.StreamReplicas
		acfg.Registerer, acfg.TracerProvider = s.deps.Telemetry.Registerer(), s.deps.Telemetry.TracerProvider()
		workers = append(workers, workgroup.Worker{Name: "registry audit consumer of " + c, Run: func(ctx context.Context) error {
			return subscriber.RunBatch(ctx, s.deps.JetStream, acfg, auditHandler, s.deps.Logger)
		}})
	}
	return workgroup.Run(ctx, s.deps.Logger, workers...)
}

// sweepAudit removes expired audit entries at start and every
// AuditSweepEvery until ctx ends. A failed sweep is logged and tried again
// at the next tick (the entries stay hidden from reads meanwhile).
func (s *Service) sweepAudit(ctx context.Context) error {
	every := s.deps.AuditSweepEvery
	if every <= 0 {
		every = DefaultAuditSweepEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.audit.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.deps.Logger.Warn("audit sweep failed; retrying at the next tick", "error", err)
		} else if n > 0 {
			s.deps.Logger.Info("audit sweep removed expired entries", "entries", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
