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
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/services/formation"
	"github.com/landscape-dev/landscape/services/registry"
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

// NewService builds service name ("token", "registry" or "formation")
// from base. peer is the connection to its Peer, dialled with the service
// credential (DialPeer); it is not used when the service has no peer.
// tokenTTL, when positive, overrides the registry's token lifetime of every
// system type.
func NewService(name string, base Base, peer grpc.ClientConnInterface, tokenTTL time.Duration) (Service, error) {
	switch name {
	case "token":
		return service(token.New(token.Deps{
			Logger: base.Logger, Redis: base.Redis, KeyPrefix: base.KeyPrefix, JetStream: base.JetStream,
			StreamReplicas: base.StreamReplicas,
		}))
	case "registry":
		return service(registry.New(registry.Deps{
			Logger: base.Logger, Redis: base.Redis, KeyPrefix: base.KeyPrefix, JetStream: base.JetStream,
			StreamReplicas: base.StreamReplicas,
			Tokens:         tokenv1.NewTokenServiceClient(peer),
			TokenTTL:       tokenTTL,
		}))
	case "formation":
		return service(formation.New(formation.Deps{
			Logger: base.Logger, Redis: base.Redis, KeyPrefix: base.KeyPrefix, JetStream: base.JetStream,
			StreamReplicas: base.StreamReplicas,
			Registry:       registryv1.NewRegistryServiceClient(peer),
		}))
	}
	return nil, fmt.Errorf("stack: no service %q", name)
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
// (DESIGN 3.1). opts add dial options (e.g. a dialer).
func DialPeer(addr, secret, name string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(authn.ServiceCredential(secret, name)),
	}, opts...)...)
}
