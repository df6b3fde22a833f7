// Package grpcserver is the gRPC server every Landscape service runs on:
// health and reflection, panic recovery, one log line per call (slog JSON),
// authentication by per-method policy, the mapping of apperr errors to a
// gRPC status (in one place: Status), and a graceful drain on shutdown.
package grpcserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/mtls"
)

// Limits and timings of every server.
const (
	// MaxRecvMsgSize is the largest request message a server accepts.
	MaxRecvMsgSize = 4 << 20
	// DrainTimeout caps the graceful drain in Serve; calls still running
	// after it are cut.
	DrainTimeout = 10 * time.Second
	// CheckInterval is how often WatchDependency checks a dependency.
	CheckInterval = time.Second
	// KeepaliveMinTime is the shortest client ping interval the server
	// tolerates; the services' own clients (grpc.NewClient without
	// keepalive options) send no keepalive pings.
	KeepaliveMinTime = 10 * time.Second
	// StreamWorkers is how many goroutines wait for calls; a call that
	// finds them all busy gets a goroutine of its own.
	StreamWorkers = 64
	// MaxHeaderListSize caps a call's metadata (HTTP/2 header list),
	// like the gateway's 64 KiB header limit: a larger header block is
	// refused before any of it is parsed as a credential.
	MaxHeaderListSize = 64 << 10
	// MaxConcurrentStreams caps the calls in flight on one connection;
	// more wait in the client until one ends.
	MaxConcurrentStreams = 1000
)

// publicServices are served without a credential.
var publicServices = map[string]bool{
	"grpc.health.v1.Health":                    true,
	"grpc.reflection.v1.ServerReflection":      true,
	"grpc.reflection.v1alpha.ServerReflection": true,
}

// Server is a grpc.Server with Landscape's interceptors, health and reflection.
type Server struct {
	*grpc.Server
	logger *slog.Logger
	auth   *authn.Authenticator

	health *health.Server
	drain  time.Duration // DrainTimeout; shorter in tests

	mu       sync.RWMutex
	policies map[string]authn.Policy // full method ("/pkg.Service/Method") -> policy
	serving  map[string]bool         // registered service -> SERVING
	stopped  bool                    // Serve is shutting down: health is frozen

	done     chan struct{} // closed when Serve starts shutting down
	doneOnce sync.Once

	// internalCallers, when set (RestrictInternal), are the mTLS
	// identities that may call Internal methods.
	internalCallers map[string]bool
}

// RestrictInternal lets only the services named (by the identity of their
// mTLS client certificate, package mtls) call Internal methods, on top of
// the service credential: the token service accepts only the registry.
// Call it before serving; with no names, no caller is allowed.
func (s *Server) RestrictInternal(callers ...string) {
	s.internalCallers = map[string]bool{}
	for _, c := range callers {
		s.internalCallers[c] = true
	}
}

// checkInternalCaller applies RestrictInternal to a call with policy p.
func (s *Server) checkInternalCaller(ctx context.Context, p authn.Policy) error {
	if s.internalCallers == nil || p != authn.Internal {
		return nil
	}
	id, ok := mtls.PeerIdentity(ctx)
	if !ok {
		return apperr.New(apperr.PermissionDenied, "this is an internal RPC: call it over mutual TLS with a Landscape service certificate")
	}
	if !s.internalCallers[id] {
		return apperr.New(apperr.PermissionDenied, "this is an internal RPC: the service "+id+" may not call it")
	}
	return nil
}

// New builds a server. auth may be nil only in unit tests of the kit.
// extra options come first, so that interceptors among them are outermost
// (metrics and tracing see every call, refused ones too).
func New(logger *slog.Logger, auth *authn.Authenticator, extra ...grpc.ServerOption) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		logger:   logger,
		auth:     auth,
		health:   health.NewServer(),
		drain:    DrainTimeout,
		policies: map[string]authn.Policy{},
		serving:  map[string]bool{},
		done:     make(chan struct{}),
	}
	s.Server = grpc.NewServer(append(extra,
		// Calls run on long-lived goroutines whose stacks have already
		// grown: a goroutine per call spent 5-7% of a registration's CPU
		// growing its stack (runtime.copystack), the workers 2.7%.
		grpc.NumStreamWorkers(StreamWorkers),
		grpc.ChainUnaryInterceptor(s.recoverUnary, s.logUnary, s.authUnary),
		grpc.ChainStreamInterceptor(s.recoverStream, s.logStream, s.authStream),
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
		grpc.MaxHeaderListSize(MaxHeaderListSize),
		grpc.MaxConcurrentStreams(MaxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             KeepaliveMinTime,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: 15 * time.Minute,
			Time:              time.Minute,
			Timeout:           20 * time.Second,
		}),
	)...)
	healthgrpc.RegisterHealthServer(s.Server, s.health)
	s.registerReflection() // v1 and v1alpha, without internal-only services
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	return s
}

// Register registers a service implementation with the policy of each of
// its methods, by method name ("PairSystem"); methods not named are User.
// The service's health status starts NOT_SERVING (see SetServing).
func (s *Server) Register(desc *grpc.ServiceDesc, impl any, policies map[string]authn.Policy) {
	s.Server.RegisterService(desc, impl)
	s.mu.Lock()
	defer s.mu.Unlock()
	prefix := "/" + desc.ServiceName + "/"
	for _, m := range desc.Methods {
		s.policies[prefix+m.MethodName] = policies[m.MethodName] // zero value: User
	}
	for _, m := range desc.Streams {
		s.policies[prefix+m.StreamName] = policies[m.StreamName]
	}
	s.setLocked(desc.ServiceName, false)
}

// SetServing sets the health status of a service (its full name, e.g.
// landscape.registry.v1.RegistryService) and of the server as a whole (""),
// which is SERVING only while every registered service is. Once Serve is
// shutting down, everything stays NOT_SERVING.
func (s *Server) SetServing(service string, serving bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(service, serving)
}

func (s *Server) setLocked(service string, serving bool) {
	if s.stopped {
		return
	}
	if service != "" {
		s.serving[service] = serving
		s.health.SetServingStatus(service, servingStatus(serving))
	}
	all := true
	for _, ok := range s.serving {
		all = all && ok
	}
	s.health.SetServingStatus("", servingStatus(all))
}

func servingStatus(serving bool) healthpb.HealthCheckResponse_ServingStatus {
	if serving {
		return healthpb.HealthCheckResponse_SERVING
	}
	return healthpb.HealthCheckResponse_NOT_SERVING
}

// WatchDependency checks a dependency (the service's Redis) every second
// until ctx ends and keeps service SERVING while check succeeds.
//
// It returns at once: the checks run in a goroutine, the first one
// immediately, each with a deadline of one interval. They also stop when
// Serve shuts down. A transition is logged once (Info when the dependency
// is back, Warn with the error when it fails), not at every check.
func (s *Server) WatchDependency(ctx context.Context, service string, check func(context.Context) error) {
	go s.watch(ctx, service, check, CheckInterval)
}

func (s *Server) watch(ctx context.Context, service string, check func(context.Context) error, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	up, known := false, false
	for {
		cctx, cancel := context.WithTimeout(ctx, every)
		err := check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		ok := err == nil
		if !known || ok != up {
			if ok {
				s.logger.Info("dependency up", "service", service)
			} else {
				s.logger.Warn("dependency down", "service", service, "error", err.Error())
			}
		}
		up, known = ok, true
		s.SetServing(service, ok)
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-t.C:
		}
	}
}

// Serve serves on lis until ctx ends, then stops accepting calls, sets every
// service NOT_SERVING, and drains calls in flight (up to 10 s) before it
// returns. It returns nil after a clean shutdown, or the error that made
// serving fail.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.Server.Serve(lis) }()
	select {
	case err := <-errc:
		s.shutdown()
		return err
	case <-ctx.Done():
	}
	s.shutdown()
	stopped := make(chan struct{})
	go func() {
		s.GracefulStop()
		close(stopped)
	}()
	t := time.NewTimer(s.drain)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		s.logger.Warn("grpc drain timed out; cutting calls in flight", "timeout", s.drain.String())
		s.Stop()
		<-stopped
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// shutdown sets everything NOT_SERVING for good and stops the watchers.
func (s *Server) shutdown() {
	s.doneOnce.Do(func() {
		s.mu.Lock()
		s.stopped = true
		s.health.Shutdown() // NOT_SERVING, and ignores later updates
		s.mu.Unlock()
		close(s.done)
	})
}

// policy returns the policy of a full method name: Public for health and
// reflection, the registered one, else User.
func (s *Server) policy(fullMethod string) authn.Policy {
	svc, _, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if publicServices[svc] {
		return authn.Public
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if p, ok := s.policies[fullMethod]; ok {
		return p
	}
	return authn.User
}

// ensure mappedError satisfies the interface gRPC uses.
var _ interface{ GRPCStatus() *status.Status } = (*mappedError)(nil)
