package stack

import (
	"google.golang.org/grpc"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/services/formation"
	"github.com/landscape-dev/landscape/services/registry"
	"github.com/landscape-dev/landscape/services/token"
)

// buildServices builds token, registry and formation with their Deps
// (docs/ARCHITECTURE.md, wiring contract). regPeer and formPeer are the
// connections the registry and the formation service use to call their
// peers (token, and registry) with the service credential.
func buildServices(cfg Config, s *Stack, regPeer, formPeer *grpc.ClientConn) ([]service, error) {
	tok, err := token.New(token.Deps{
		Logger:    cfg.Logger.With("service", "token"),
		Redis:     s.Redis,
		KeyPrefix: cfg.KeyPrefix,
		JetStream: s.JetStream,
	})
	if err != nil {
		return nil, err
	}
	reg, err := registry.New(registry.Deps{
		Logger:    cfg.Logger.With("service", "registry"),
		Redis:     s.Redis,
		KeyPrefix: cfg.KeyPrefix,
		JetStream: s.JetStream,
		Tokens:    tokenv1.NewTokenServiceClient(regPeer),
		TokenTTL:  cfg.TokenTTL,
	})
	if err != nil {
		return nil, err
	}
	form, err := formation.New(formation.Deps{
		Logger:    cfg.Logger.With("service", "formation"),
		Redis:     s.Redis,
		KeyPrefix: cfg.KeyPrefix,
		JetStream: s.JetStream,
		Registry:  registryv1.NewRegistryServiceClient(formPeer),
	})
	if err != nil {
		return nil, err
	}
	return []service{
		{name: "token", register: func(srv *grpcserver.Server) { tok.Register(srv) }, run: tok.Run},
		{name: "registry", register: func(srv *grpcserver.Server) { reg.Register(srv) }, run: reg.Run},
		{name: "formation", register: func(srv *grpcserver.Server) { form.Register(srv) }, run: form.Run},
	}, nil
}
