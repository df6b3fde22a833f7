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
	"time"

	"google.golang.org/protobuf/proto"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/egress"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/pkg/servicedeps"
	"github.com/landscape-dev/landscape/pkg/subscriber"
	"github.com/landscape-dev/landscape/pkg/workgroup"
	"github.com/landscape-dev/landscape/services/formation/delivery"
	"github.com/landscape-dev/landscape/services/formation/formations"
	"github.com/landscape-dev/landscape/services/formation/grpcapi"
	"github.com/landscape-dev/landscape/services/formation/redisstore"
	"github.com/landscape-dev/landscape/services/formation/registryclient"
)

// The durable consumer of registry events.
const ReactionsDurable = natsconn.FormationReactionsDurable

var (
	ReactionsStream = cloudevent.StreamName("registry")
	ReactionsFilter = cloudevent.EntitySubjects("registry", "system")
)

// The registry events formation reacts to, by event type.
var (
	systemRegisteredType            = cloudevent.TypeOf(&registryv1.SystemRegistered{})
	systemRegistrationFailedType    = cloudevent.TypeOf(&registryv1.SystemRegistrationFailed{})
	systemRegistrationRestartedType = cloudevent.TypeOf(&registryv1.SystemRegistrationRestarted{})
	systemDeregisteredType          = cloudevent.TypeOf(&registryv1.SystemDeregistered{})
)

// Deps are what the service needs from its process.
type Deps struct {
	servicedeps.Common

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
	// MaxFormations is the quota of formations per global account; 0 is
	// formations.DefaultMaxFormations.
	MaxFormations int64
	// Integration tunes webhook notifications (retry window, callback
	// deadline); Delivery the engine that sends them; Egress checks every
	// connection it makes (nil: the strict guard, https and public
	// addresses only).
	Integration formations.Integration
	Delivery    delivery.Options
	Egress      *egress.Guard
}

// Service is a running FormationService.
type Service struct {
	deps  Deps
	log   *slog.Logger
	store *redisstore.Store
	app   *formations.Service
	api   *grpcapi.Server
	eng   *delivery.Engine
}

// New builds the service.
func New(d Deps) (*Service, error) {
	if err := d.Resolve("formation"); err != nil {
		return nil, err
	}
	log := d.Logger
	cat := formations.DefaultCatalog()
	store := redisstore.New(d.Redis, d.KeyPrefix)
	dir := registryclient.New(d.Registry, d.RegistryTimeout, d.SystemTypesTTL)
	app := formations.NewService(store, dir, cat, d.Now)
	app.SetMaxFormations(d.MaxFormations)
	guard := d.Egress
	if guard == nil {
		guard = &egress.Guard{}
	}
	dopts := d.Delivery
	dopts.Registerer, dopts.TracerProvider = d.Telemetry.Registerer(), d.Telemetry.TracerProvider()
	eng := delivery.New(app, store, dir, guard, log, dopts)
	integ := d.Integration
	integ.Scheduled = eng.Wake
	app.Integrate(integ)
	return &Service{deps: d, log: log, store: store, app: app, api: grpcapi.New(app), eng: eng}, nil
}

// Register registers the gRPC service on srv, all methods with the User
// policy, and watches the service's Redis for health.
func (s *Service) Register(srv *grpcserver.Server) {
	srv.Register(&formationv1.FormationService_ServiceDesc, s.api, grpcapi.Policies)
	srv.WatchDependency(context.Background(), formationv1.FormationService_ServiceDesc.ServiceName, s.store.Ping)
}

// Run runs the outbox relay, the reactions to registry events, the webhook
// deliveries and the one-time removal of retired list indexes until ctx
// ends (workgroup.Run: if one stops, all stop, so the process does not go
// on without one of them). It returns nil after ctx ends, or the first
// failure.
func (s *Service) Run(ctx context.Context) error {
	if s.deps.JetStream == nil {
		return errors.New("formation: Deps.JetStream is required to run")
	}
	relayOpts := s.deps.Relay
	relayOpts.Replicas = s.deps.StreamReplicas
	relayOpts.Registerer, relayOpts.TracerProvider = s.deps.Telemetry.Registerer(), s.deps.Telemetry.TracerProvider()
	relay := outbox.NewRelay(s.store.Outbox(), s.deps.JetStream, s.log, relayOpts)
	cfg := subscriber.Config{
		Service: "formation", Stream: ReactionsStream, Durable: ReactionsDurable, FilterSubject: ReactionsFilter,
		Events: []string{
			string(formations.SystemRegisteredEvent), string(formations.SystemRegistrationFailedEvent),
			string(formations.SystemRegistrationRestartedEvent), string(formations.SystemDeregisteredEvent),
		},
		// The events of one system in order, those of different systems
		// side by side (a formation two of them share is a conflict that
		// ApplySystemEvent retries).
		Parallel:           8,
		Key:                func(ev cloudevent.Event) string { return ev.Subject },
		AckWait:            s.deps.ReactionsAckWait,
		DeadLetterReplicas: s.deps.StreamReplicas,
		Registerer:         s.deps.Telemetry.Registerer(),
		TracerProvider:     s.deps.Telemetry.TracerProvider(),
	}
	return workgroup.Run(ctx, s.log,
		workgroup.Worker{Name: "formation outbox relay", Run: relay.Run},
		workgroup.Worker{Name: "formation reactions", Run: func(ctx context.Context) error {
			return subscriber.Run(ctx, s.deps.JetStream, cfg, s.HandleRegistryEvent, s.log)
		}},
		workgroup.Worker{Name: "formation webhook deliveries", Run: s.eng.Run},
		workgroup.Worker{Name: "formation retired index removal", Run: s.store.RemoveRetiredIndexes(s.log)},
	)
}

// HandleRegistryEvent applies one registry event (the subscriber handler).
// The subscriber acks events that change no assignment (system.created,
// system.updated) unread; this also ignores them.
func (s *Service) HandleRegistryEvent(ctx context.Context, ev cloudevent.Event) error {
	sev, ok, err := DecodeRegistryEvent(ev)
	if err != nil {
		// Never readable: to the dead-letter stream, not applied.
		return subscriber.Reject(err)
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
	case systemRegisteredType:
		p, kind = &registryv1.SystemRegistered{}, formations.SystemRegisteredEvent
	case systemRegistrationFailedType:
		p, kind = &registryv1.SystemRegistrationFailed{}, formations.SystemRegistrationFailedEvent
	case systemRegistrationRestartedType:
		p, kind = &registryv1.SystemRegistrationRestarted{}, formations.SystemRegistrationRestartedEvent
	case systemDeregisteredType:
		p, kind = &registryv1.SystemDeregistered{}, formations.SystemDeregisteredEvent
	default:
		return formations.SystemEvent{}, false, nil
	}
	if err := ev.UnmarshalData(p); err != nil {
		return formations.SystemEvent{}, false, err
	}
	name := ev.Subject
	if pn := p.GetSystem().GetName(); pn != "" && pn != name {
		return formations.SystemEvent{}, false, fmt.Errorf("payload system %q does not match the event subject %q", pn, name)
	}
	ga, id, err := resource.ParseSystemName("system", name)
	if err != nil {
		return formations.SystemEvent{}, false, fmt.Errorf("system name %q: %w", name, err)
	}
	if p.GetRevision() <= 0 {
		return formations.SystemEvent{}, false, fmt.Errorf("event %s without a revision", ev.ID)
	}
	return formations.SystemEvent{Kind: kind, GlobalAccount: ga, SystemID: id, Revision: p.GetRevision(),
		Webhook: p.GetSystem().GetWebhook().GetUrl() != ""}, true, nil
}
