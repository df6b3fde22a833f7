// Package grpcserver is the gRPC server every Landscape service runs on:
// health and reflection, panic recovery, one log line per call (slog JSON),
// authentication by per-method policy, the mapping of apperr errors to a
// gRPC status (in one place: Status), and a graceful drain on shutdown.
//
// API FROZEN for parallel work; TODO(kit) bodies are filled in by the kit.
package grpcserver

import (
	"context"
	"log/slog"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/landscape-dev/landscape/pkg/authn"
)

// Server is a grpc.Server with Landscape's interceptors, health and reflection.
type Server struct {
	*grpc.Server
	logger *slog.Logger
	auth   *authn.Authenticator
}

// New builds a server. auth may be nil only in unit tests of the kit.
func New(logger *slog.Logger, auth *authn.Authenticator) *Server {
	// TODO(kit)
	return &Server{Server: grpc.NewServer(), logger: logger, auth: auth}
}

// Register registers a service implementation with the policy of each of
// its methods, by method name ("PairSystem"); methods not named are User.
// The service's health status starts NOT_SERVING (see SetServing).
func (s *Server) Register(desc *grpc.ServiceDesc, impl any, policies map[string]authn.Policy) {
	// TODO(kit)
	s.Server.RegisterService(desc, impl)
}

// SetServing sets the health status of a service (its full name, e.g.
// landscape.registry.v1.RegistryService) and of the server as a whole ("").
func (s *Server) SetServing(service string, serving bool) {
	// TODO(kit)
}

// WatchDependency checks a dependency (the service's Redis) every second
// until ctx ends and keeps service SERVING while check succeeds.
func (s *Server) WatchDependency(ctx context.Context, service string, check func(context.Context) error) {
	// TODO(kit)
}

// Serve serves on lis until ctx ends, then stops accepting calls, sets every
// service NOT_SERVING, and drains calls in flight (up to 10 s) before it
// returns.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	// TODO(kit)
	return s.Server.Serve(lis)
}

// Status maps any error to the gRPC status callers see: the code of its
// apperr reason, an ErrorInfo (domain "landscape", the reason, metadata)
// and BadRequest field violations; internal errors masked. This is the one
// place where errors become codes.
func Status(err error) *status.Status {
	// TODO(kit)
	return status.Convert(err)
}
