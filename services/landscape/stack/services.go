package stack

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/egress"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/pkg/seal"
	"github.com/landscape-dev/landscape/pkg/servicedeps"
	"github.com/landscape-dev/landscape/pkg/telemetry"
	"github.com/landscape-dev/landscape/services/formation"
	"github.com/landscape-dev/landscape/services/formation/delivery"
	"github.com/landscape-dev/landscape/services/formation/formations"
	"github.com/landscape-dev/landscape/services/registry"
	"github.com/landscape-dev/landscape/services/registry/system"
	"github.com/landscape-dev/landscape/services/token"
)

// serviceNames are the services, in the order the stack builds and runs
// them.
var serviceNames = []string{"token", "registry", "formation"}

// Base is what the Deps of every service share (docs/ARCHITECTURE.md,
// wiring contract).
type Base struct {
	Logger    *slog.Logger
	Redis     redis.UniversalClient
	KeyPrefix string
	JetStream jetstream.JetStream
	// StreamReplicas is the services' Deps.StreamReplicas.
	StreamReplicas int
	// Telemetry is the services' Deps.Telemetry.
	Telemetry *telemetry.Telemetry
	// MaxSystems and MaxFormations are the quotas per global account of
	// the registry and the formation service; 0: their defaults.
	MaxSystems, MaxFormations int64
	// AuditRetention is the registry's audit retention; 0: its default.
	AuditRetention time.Duration
	// Webhooks configures webhook registration (registry) and delivery
	// (formation).
	Webhooks Webhooks
	// PairRateLimit and PairRateBurst are the registry's pairing limit per
	// client (registry.Deps); 0: off.
	PairRateLimit float64
	PairRateBurst int
}

// Webhooks is the webhook configuration of the registry and formation
// services (docs/API.md, "Formation integration").
type Webhooks struct {
	// Sealer encrypts webhook secrets at rest (--secrets-key-file); nil:
	// pairing with a webhook is refused.
	Sealer *seal.Sealer
	// AllowInsecure permits http and any address (--webhook-allow-insecure).
	AllowInsecure bool
	// RetryFor and CallbackTimeout: --webhook-retry-for, --webhook-callback-timeout.
	RetryFor, CallbackTimeout time.Duration
	// PublicURL is the gateway's URL as systems reach it (--public-url).
	PublicURL string
	// Delivery tunes the engine (tests).
	Delivery delivery.Options
	// Retry tunes the waits between attempts (tests); zero: 1 s doubling to 10 min.
	RetryBase, RetryMax time.Duration
	// Egress replaces the guard (tests inject a resolver and a dialer).
	Egress *egress.Guard
}

func (w Webhooks) guard() *egress.Guard {
	if w.Egress != nil {
		return w.Egress
	}
	return &egress.Guard{AllowInsecure: w.AllowInsecure}
}

// Service is a service's root package, seen uniformly: its gRPC API and
// its background work (outbox relay, consumers).
type Service interface {
	Register(*grpcserver.Server)
	Run(context.Context) error
}

// Peer is the service that service name calls ("token" for "registry",
// "registry" for "formation"), or "" when it calls none.
func Peer(name string) string {
	switch name {
	case "registry":
		return "token"
	case "formation":
		return "registry"
	}
	return ""
}

// Callers are the services that call service name's internal RPCs (the
// inverse of Peer): "registry" for "token", "formation" for "registry".
func Callers(name string) []string {
	var out []string
	for _, s := range serviceNames {
		if Peer(s) == name {
			out = append(out, s)
		}
	}
	return out
}

// NewService builds service name ("token", "registry" or "formation")
// from base. peer is the connection to its Peer, dialled with the service
// credential (DialPeer); it is not used when the service has no peer.
// tokenTTL, when positive, overrides the registry's token lifetime of every
// system type.
func NewService(name string, base Base, peer grpc.ClientConnInterface, tokenTTL time.Duration) (Service, error) {
	common := servicedeps.Common{
		Logger: base.Logger, Redis: base.Redis, KeyPrefix: base.KeyPrefix, JetStream: base.JetStream,
		StreamReplicas: base.StreamReplicas, Telemetry: base.Telemetry,
	}
	switch name {
	case "token":
		return service(token.New(token.Deps{Common: common}))
	case "registry":
		return service(registry.New(registry.Deps{
			Common:         common,
			Tokens:         tokenv1.NewTokenServiceClient(peer),
			TokenTTL:       tokenTTL,
			Webhooks:       system.WebhookOptions{Sealer: base.Webhooks.Sealer, Guard: base.Webhooks.guard()},
			MaxSystems:     base.MaxSystems,
			PairRateLimit:  base.PairRateLimit,
			PairRateBurst:  base.PairRateBurst,
			AuditRetention: base.AuditRetention,
		}))
	case "formation":
		return service(formation.New(formation.Deps{
			Common:   common,
			Registry: registryv1.NewRegistryServiceClient(peer),
			Integration: formations.Integration{
				RetryFor: base.Webhooks.RetryFor, CallbackTimeout: base.Webhooks.CallbackTimeout,
				RetryBase: base.Webhooks.RetryBase, RetryMax: base.Webhooks.RetryMax,
			},
			Delivery:      withPublicURL(base.Webhooks.Delivery, base.Webhooks.PublicURL),
			Egress:        base.Webhooks.guard(),
			MaxFormations: base.MaxFormations,
		}))
	}
	return nil, fmt.Errorf("stack: no service %q", name)
}

func withPublicURL(o delivery.Options, u string) delivery.Options {
	o.PublicURL = u
	return o
}

// service turns a root package's New result into a Service (a nil one on
// error, not a typed nil).
func service[S Service](s S, err error) (Service, error) {
	if err != nil {
		return nil, err
	}
	return s, nil
}

// DialPeer is a plaintext connection to the gRPC server at addr whose
// calls carry the service credential of service name signed with secret
// (docs/API.md, "Authentication"). opts add dial options (e.g. a dialer).
func DialPeer(addr, secret, name string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(authn.ServiceCredential(secret, name)),
		grpc.WithChainUnaryInterceptor(authn.PassEventAttrs),
	}, opts...)...)
}
