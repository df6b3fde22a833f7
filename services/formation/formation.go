// Package formation wires the FormationService: its Redis store, its gRPC
// API, its outbox relay and its reactions to registry events. This is the
// service's composition root, used by the landscape binary and by
// component tests.
package formation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/pkg/subscriber"
	"github.com/landscape-dev/landscape/services/formation/formations"
	"github.com/landscape-dev/landscape/services/formation/grpcapi"
	"github.com/landscape-dev/landscape/services/formation/redisstore"
	"github.com/landscape-dev/landscape/services/formation/registryclient"
)

// The durable consumer of registry events.
const (
	ReactionsStream  = "LANDSCAPE_REGISTRY"
	ReactionsDurable = "formation-reactions"
	ReactionsFilter  = "landscape.registry.*.system.>"
)

// Deps are what the service needs from its process.
type Deps struct {
	Logger    *slog.Logger
	Redis     redis.UniversalClient
	KeyPrefix string // "ls" in production
	JetStream jetstream.JetStream
	Now       func() time.Time // nil: time.Now

	// Registry is the RegistryService client, dialled by the composition
	// root with the service credential. AssignSystem reads systems and the
	// system type catalog through it.
	Registry registryv1.RegistryServiceClient
	// RegistryTimeout is the deadline of one registry call; 0: 5 s.
	RegistryTimeout time.Duration
	// SystemTypesTTL is how long the system type catalog is cached; 0: 1 min.
	SystemTypesTTL time.Duration
	// Relay tunes the outbox relay; StreamReplicas sets its Replicas.
	Relay outbox.RelayOptions
	// ReactionsAckWait is how long an event the reactions consumer took
	// may stay unacked before JetStream redelivers it (after a crash, the
	// events it held come back after this); 0: the subscriber's default.
	ReactionsAckWait time.Duration
	// StreamReplicas is the replica count of the JetStream streams the
	// service creates or scales: its outbox stream and the dead-letter
	// stream (3 on a 3-node cluster). 0 creates them with the server's
	// default and keeps an existing stream's count.
	StreamReplicas int
}

// Service is a running FormationService.
type Service struct {
	deps  Deps
	log   *slog.Logger
	store *redisstore.Store
	app   *formations.Service
	api   *grpcapi.Server
}

// New builds the service.
func New(d Deps) (*Service, error) {
	if d.Redis == nil {
		return nil, errors.New("formation: Deps.Redis is required")
	}
	if d.KeyPrefix == "" {
		d.KeyPrefix = "ls"
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	// The composition root names the service in d.Logger.
	log := d.Logger
	cat := formations.DefaultCatalog()
	store := redisstore.New(d.Redis, d.KeyPrefix, cat)
	dir := registryclient.New(d.Registry, d.RegistryTimeout, d.SystemTypesTTL)
	app := formations.NewService(store, dir, cat, d.Now)
	return &Service{deps: d, log: log, store: store, app: app, api: grpcapi.New(app)}, nil
}

// Register registers the gRPC service on srv, all methods with the User
// policy, and watches the service's Redis for health.
func (s *Service) Register(srv *grpcserver.Server) {
	srv.Register(&formationv1.FormationService_ServiceDesc, s.api, nil)
	srv.WatchDependency(context.Background(), formationv1.FormationService_ServiceDesc.ServiceName, s.store.Ping)
}

// Run runs the outbox relay and the reactions to registry events until ctx
// ends.
func (s *Service) Run(ctx context.Context) error {
	if s.deps.JetStream == nil {
		<-ctx.Done()
		return nil
	}
	// Both run until ctx ends; if one stops early (a configuration error),
	// the other is stopped too and Run reports it, so the process does not
	// go on without its relay or its reactions.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	run := func(i int, name string, f func(context.Context) error) {
		defer wg.Done()
		err := f(rctx)
		if ctx.Err() == nil {
			if err == nil {
				err = errors.New("stopped unexpectedly")
			}
			errs[i] = fmt.Errorf("formation %s: %w", name, err)
			cancel()
		}
	}
	wg.Add(2)
	relay := s.deps.Relay
	relay.Replicas = s.deps.StreamReplicas
	go run(0, "outbox relay", outbox.NewRelay(s.store.Outbox(), s.deps.JetStream, s.log, relay).Run)
	go run(1, "reactions", func(ctx context.Context) error {
		return subscriber.Run(ctx, s.deps.JetStream, subscriber.Config{
			Stream: ReactionsStream, Durable: ReactionsDurable, FilterSubject: ReactionsFilter,
			Events: []string{
				string(formations.SystemRegisteredEvent), string(formations.SystemRegistrationFailedEvent),
				string(formations.SystemRegistrationRestartedEvent), string(formations.SystemDeregisteredEvent),
			},
			AckWait:            s.deps.ReactionsAckWait,
			DeadLetterReplicas: s.deps.StreamReplicas,
		}, s.HandleRegistryEvent, s.log)
	})
	wg.Wait()
	return errors.Join(errs...)
}

// HandleRegistryEvent applies one registry event (the subscriber handler).
// The subscriber acks events that change no assignment (system.created,
// system.updated) unread; this also ignores them.
func (s *Service) HandleRegistryEvent(ctx context.Context, ev cloudevent.Event) error {
	sev, ok, err := DecodeRegistryEvent(ev)
	if err != nil {
		s.log.Error("registry event cannot be read; dropped", "id", ev.ID, "type", ev.Type, "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	return s.app.ApplySystemEvent(ctx, sev)
}

// DecodeRegistryEvent reads the registry events the service reacts to.
func DecodeRegistryEvent(ev cloudevent.Event) (formations.SystemEvent, bool, error) {
	type payload interface {
		proto.Message
		GetRevision() int64
		GetSystem() *registryv1.System
	}
	var (
		p    payload
		kind formations.SystemEventKind
	)
	switch ev.Type {
	case "landscape.registry.v1.SystemRegistered":
		p, kind = &registryv1.SystemRegistered{}, formations.SystemRegisteredEvent
	case "landscape.registry.v1.SystemRegistrationFailed":
		p, kind = &registryv1.SystemRegistrationFailed{}, formations.SystemRegistrationFailedEvent
	case "landscape.registry.v1.SystemRegistrationRestarted":
		p, kind = &registryv1.SystemRegistrationRestarted{}, formations.SystemRegistrationRestartedEvent
	case "landscape.registry.v1.SystemDeregistered":
		p, kind = &registryv1.SystemDeregistered{}, formations.SystemDeregisteredEvent
	default:
		return formations.SystemEvent{}, false, nil
	}
	if err := ev.UnmarshalData(p); err != nil {
		return formations.SystemEvent{}, false, err
	}
	name := p.GetSystem().GetName()
	if name == "" {
		name = ev.Subject
	}
	ga, id, err := resource.ParseSystemName("system", name)
	if err != nil {
		return formations.SystemEvent{}, false, fmt.Errorf("system name %q: %w", name, err)
	}
	if p.GetRevision() <= 0 {
		return formations.SystemEvent{}, false, fmt.Errorf("event %s without a revision", ev.ID)
	}
	return formations.SystemEvent{Kind: kind, GlobalAccount: ga, SystemID: id, Revision: p.GetRevision()}, true, nil
}
