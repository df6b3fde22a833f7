// Package stack runs the whole landscape in one process: the registry,
// token and formation services on one gRPC server, the REST gateway, and —
// when none is given — an embedded NATS server with JetStream and an
// embedded in-memory Redis. It is what `landscape dev` runs and what
// end-to-end tests start (through package stacktest).
package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/telemetry"
	"github.com/landscape-dev/landscape/pkg/workgroup"
	"github.com/landscape-dev/landscape/services/gateway"
)

// Defaults of Config.
const (
	DefaultKeyPrefix = redisconn.DefaultKeyPrefix
	DefaultNATSPort  = 4222
)

// memListenerBuffer is the in-memory listener's buffer per direction of
// each connection.
const memListenerBuffer = 256 << 10

// Config configures a stack. Zero values take the defaults named per field.
type Config struct {
	// GRPCAddr is where all three services listen ("127.0.0.1:0" when
	// empty; ":0" picks a free port). Stack.GRPCAddr is the real address.
	GRPCAddr string
	// HTTPAddr is where the gateway listens ("127.0.0.1:0" when empty).
	HTTPAddr string

	// RedisURL of a real Redis; empty starts an embedded in-memory store
	// (miniredis) on 127.0.0.1, whose data is lost at Close.
	RedisURL string
	// KeyPrefix of every Redis key (DefaultKeyPrefix when empty).
	KeyPrefix string
	// RedisWait is how many replicas of RedisURL must hold each change
	// before it is acknowledged and published (zero: none).
	RedisWait redisconn.Durability

	// NATSURL of a NATS server with JetStream; empty starts an embedded
	// one on 127.0.0.1 (port NATSPort).
	NATSURL string
	// NATSPort of the embedded server: 0 tries 4222 and takes a free port
	// when 4222 is taken; -1 always takes a free port.
	NATSPort int
	// NATSAuth, when set, gives each service ("registry", "token",
	// "formation") a NATS connection of its own with its credentials, as
	// separate processes have; "gateway" is the stack's own connection
	// (the event watch). Empty: one connection without credentials.
	NATSAuth map[string]natsconn.Auth
	// DataDir holds the embedded NATS server's JetStream store (in
	// DataDir/nats). Empty: a temporary folder removed at Close.
	DataDir string

	// JWT verification (docs/API.md, "Authentication"): at least the HS256 secret or a keys
	// file for user JWTs.
	JWTHS256Secret string
	JWTKeysFile    string
	JWTIssuer      string
	JWTAudience    string
	// JWTMaxLifetime is the longest lifetime of a user JWT (0: 24h).
	JWTMaxLifetime time.Duration
	// ServiceSecret signs the service credential between the services;
	// empty: random per process.
	ServiceSecret string

	// PairRateLimit is the pairing limit per client address of the
	// gateway and of the registry (requests/s; 0 turns both off) and
	// PairRateBurst its burst.
	PairRateLimit float64
	PairRateBurst int
	// TrustedProxies are the gateway's trusted proxies (see
	// gateway.Config.TrustedProxies).
	TrustedProxies []netip.Prefix
	// RequestTimeout is the gateway's per-request deadline (0: 10s).
	RequestTimeout time.Duration

	// InMemoryPeers connects the services to each other and the gateway
	// to the services over an in-memory listener served by the same gRPC
	// server, instead of loopback TCP: no syscalls per frame. `landscape
	// dev` sets it; the default, TCP, is what separate processes get.
	InMemoryPeers bool

	// TokenTTL, when positive, overrides the integration token lifetime of
	// every system type (tests use short TTLs). Passed to the registry
	// once its Deps has such a field.
	TokenTTL time.Duration

	// Webhooks configures webhook registration and delivery; an empty
	// PublicURL is the gateway's own address.
	Webhooks Webhooks
	// MaxSystems and MaxFormations are the quotas per global account
	// (0: 10,000 systems, 1,000 formations).
	MaxSystems, MaxFormations int64
	// AuditRetention is how long the audit trail keeps entries; 0: 400 days.
	AuditRetention time.Duration

	// Logger receives every component's JSON logs; nil discards them.
	Logger *slog.Logger

	// Telemetry observes every component (metrics, spans); nil: nothing.
	Telemetry *telemetry.Telemetry
	// MetricsAddr is where GET /metrics serves Telemetry's metrics for
	// the whole process; empty: not served.
	MetricsAddr string
}

// Stack is a running landscape.
type Stack struct {
	// GRPCAddr is the gRPC address all three services answer on (dialable:
	// an unspecified host is given as 127.0.0.1).
	GRPCAddr string
	// HTTPAddr is the gateway's address (dialable).
	HTTPAddr string
	// NATSURL is the NATS server in use.
	NATSURL string
	// EmbeddedNATS is true when the stack started its own NATS server.
	EmbeddedNATS bool
	// RedisURL is the Redis in use (the embedded store's address when
	// EmbeddedRedis).
	RedisURL string
	// EmbeddedRedis is true when the stack runs the in-memory store.
	EmbeddedRedis bool
	// KeyPrefix is the Redis key prefix in use.
	KeyPrefix string
	// MetricsAddr is where /metrics is served (dialable); empty when not.
	MetricsAddr string

	// Redis, NATS and JetStream are the stack's own clients, for tests.
	Redis     *redis.Client
	NATS      *nats.Conn
	JetStream jetstream.JetStream

	// durableRedis is Redis with its durability: what the services get.
	durableRedis *redisconn.Client

	logger  *slog.Logger
	closers []func() error   // run in reverse order by Close, after the workers stop
	workers *workgroup.Group // the components, stopped in order by Close

	closeOnce sync.Once
	closeErr  error
	done      chan struct{}
}

// Start builds and starts every component, and returns once every listener
// is bound. The stack runs until ctx ends or Close is called; a component
// that fails stops the whole stack (see Wait).
func Start(ctx context.Context, cfg Config) (st *Stack, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = DefaultKeyPrefix
	}
	if cfg.GRPCAddr == "" {
		cfg.GRPCAddr = "127.0.0.1:0"
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:0"
	}
	if cfg.ServiceSecret == "" {
		cfg.ServiceSecret = randomHex(32)
	}
	s := &Stack{
		KeyPrefix: cfg.KeyPrefix,
		logger:    cfg.Logger,
		workers:   workgroup.New(cfg.Logger),
		done:      make(chan struct{}),
	}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()

	auth, err := authn.New(authn.Config{
		HS256Secret:   cfg.JWTHS256Secret,
		KeysFile:      cfg.JWTKeysFile,
		Issuer:        cfg.JWTIssuer,
		Audience:      cfg.JWTAudience,
		ServiceSecret: cfg.ServiceSecret,
		MaxLifetime:   cfg.JWTMaxLifetime,
	})
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	if cfg.JWTHS256Secret == "" && cfg.JWTKeysFile == "" {
		return nil, errors.New("stack: no user JWT key: set the HS256 secret or a keys file")
	}

	if err := s.startRedis(cfg); err != nil {
		return nil, err
	}
	if err := s.startNATS(cfg); err != nil {
		return nil, err
	}

	// Listeners first, so that the peers' addresses are known.
	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("stack: grpc listen %s: %w", cfg.GRPCAddr, err)
	}
	s.closers = append(s.closers, grpcLis.Close)
	s.GRPCAddr = dialable(grpcLis.Addr())
	httpLis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("stack: http listen %s: %w", cfg.HTTPAddr, err)
	}
	s.closers = append(s.closers, httpLis.Close)
	s.HTTPAddr = dialable(httpLis.Addr())
	var metricsLis net.Listener
	if cfg.MetricsAddr != "" {
		if metricsLis, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return nil, fmt.Errorf("stack: metrics listen %s: %w", cfg.MetricsAddr, err)
		}
		s.closers = append(s.closers, metricsLis.Close)
		s.MetricsAddr = dialable(metricsLis.Addr())
	}
	tel := cfg.Telemetry
	redisconn.RegisterPoolMetrics(tel.Registerer(), s.Redis)

	// With InMemoryPeers, the services' and the gateway's connections to
	// the stack's own gRPC server go over an in-memory listener served by
	// the same grpc.Server (every interceptor: auth, logging, status
	// mapping). The target stays the TCP address; only the dialer differs.
	var peerDial []grpc.DialOption
	var memLis *bufconn.Listener
	if cfg.InMemoryPeers {
		memLis = bufconn.Listen(memListenerBuffer)
		s.closers = append(s.closers, memLis.Close)
		peerDial = append(peerDial, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return memLis.DialContext(ctx)
		}))
	}

	// Each service that calls another dials the stack's own gRPC server
	// with the service credential (docs/API.md, "Authentication").
	srv := grpcserver.New(cfg.Logger.With("component", "grpc"), auth, tel.ServerOptions()...)
	svcs := make([]Service, len(serviceNames))
	for i, name := range serviceNames {
		var peer grpc.ClientConnInterface
		if Peer(name) != "" {
			c, err := DialPeer(s.GRPCAddr, cfg.ServiceSecret, name, append(tel.DialOptions(), peerDial...)...)
			if err != nil {
				return nil, fmt.Errorf("stack: dial %s for %s: %w", s.GRPCAddr, name, err)
			}
			s.closers = append(s.closers, c.Close)
			peer = c
		}
		js := s.JetStream
		if auth, ok := cfg.NATSAuth[name]; ok {
			nc, own, err := connectNATS(s.NATSURL, auth, cfg.Logger.With("service", name))
			if err != nil {
				return nil, err
			}
			s.closers = append(s.closers, func() error { nc.Close(); return nil })
			js = own
		}
		wh := cfg.Webhooks
		if wh.PublicURL == "" {
			wh.PublicURL = "http://" + s.HTTPAddr
		}
		base := Base{
			Logger: cfg.Logger.With("service", name), Redis: s.durableRedis, KeyPrefix: cfg.KeyPrefix, JetStream: js,
			MaxSystems: cfg.MaxSystems, MaxFormations: cfg.MaxFormations, Webhooks: wh, Telemetry: tel,
			PairRateLimit: cfg.PairRateLimit, PairRateBurst: cfg.PairRateBurst,
			AuditRetention: cfg.AuditRetention,
		}
		svc, err := NewService(name, base, peer, cfg.TokenTTL)
		if err != nil {
			return nil, err
		}
		svc.Register(srv)
		svcs[i] = svc
	}
	tel.InitServer(srv.Server)

	gw, err := gateway.New(gateway.Config{
		Logger:         cfg.Logger.With("component", "gateway"),
		RegistryAddr:   s.GRPCAddr,
		TokenAddr:      s.GRPCAddr,
		FormationAddr:  s.GRPCAddr,
		DialOptions:    append(tel.DialOptions(), peerDial...),
		RequestTimeout: cfg.RequestTimeout,
		Redis:          s.Redis,
		KeyPrefix:      cfg.KeyPrefix,
		PairRateLimit:  cfg.PairRateLimit,
		PairRateBurst:  cfg.PairRateBurst,
		TrustedProxies: cfg.TrustedProxies,
		ServiceSecret:  cfg.ServiceSecret,
		JetStream:      s.JetStream,
		Auth:           auth,
		Registerer:     tel.Registerer(),
	})
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	handler := tel.WrapHTTP(gw, "gateway")
	s.closers = append(s.closers, gw.Close)

	// Runners, in shutdown order: gateway, gRPC (drain), services' background work.
	gwLogger := cfg.Logger.With("component", "gateway")
	s.run("gateway", func(ctx context.Context) error { return gateway.Serve(ctx, httpLis, handler, gwLogger) })
	if metricsLis != nil {
		s.run("metrics", func(ctx context.Context) error { return tel.ServeMetrics(ctx, metricsLis) })
	}
	// The in-memory listener is served beside the TCP one; the "grpc"
	// worker's graceful stop closes both, so this Serve's return is no
	// failure of its own.
	if memLis != nil {
		go func() { _ = srv.Server.Serve(memLis) }()
	}
	s.run("grpc", func(ctx context.Context) error { return srv.Serve(ctx, grpcLis) })
	for i, svc := range svcs {
		s.run(serviceNames[i], svc.Run)
	}

	go func() {
		select {
		case <-ctx.Done():
		case <-s.workers.Failed():
		case <-s.done:
			return
		}
		_ = s.Close()
	}()
	return s, nil
}

// startRedis connects to cfg.RedisURL or starts the embedded store.
func (s *Stack) startRedis(cfg Config) error {
	url := cfg.RedisURL
	if url == "" {
		m, err := startMemoryRedis()
		if err != nil {
			return err
		}
		s.closers = append(s.closers, func() error { m.Close(); return nil })
		url = "redis://" + m.Addr()
		s.EmbeddedRedis = true
	}
	if cfg.RedisWait.Replicas > 0 && s.EmbeddedRedis {
		return errors.New("stack: the embedded Redis has no replicas to wait for: set RedisURL")
	}
	rdb, err := redisconn.OpenDurable(url, cfg.RedisWait)
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	s.closers = append(s.closers, rdb.Close)
	s.Redis = rdb.Client
	s.durableRedis = rdb
	s.RedisURL = url
	return nil
}

// startNATS connects to cfg.NATSURL or starts the embedded server.
func (s *Stack) startNATS(cfg Config) error {
	url := cfg.NATSURL
	if url == "" {
		dir := cfg.DataDir
		if dir == "" {
			tmp, err := os.MkdirTemp("", "landscape-dev-")
			if err != nil {
				return fmt.Errorf("stack: temp dir: %w", err)
			}
			s.closers = append(s.closers, func() error { return os.RemoveAll(tmp) })
			dir = tmp
		}
		ns, err := startEmbeddedNATS(dir, cfg.NATSPort)
		if err != nil {
			return err
		}
		s.closers = append(s.closers, func() error { ns.Shutdown(); ns.WaitForShutdown(); return nil })
		url = ns.ClientURL()
		s.EmbeddedNATS = true
	}
	nc, js, err := connectNATS(url, cfg.NATSAuth["gateway"], cfg.Logger)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, func() error { nc.Close(); return nil })
	s.NATS, s.JetStream, s.NATSURL = nc, js, url
	return nil
}

// run starts a component; one that stops by itself stops the stack.
func (s *Stack) run(name string, f func(context.Context) error) {
	s.workers.Go(workgroup.Worker{Name: name, Run: f})
}

// GatewayURL is the gateway's base URL, e.g. http://127.0.0.1:8080.
func (s *Stack) GatewayURL() string { return "http://" + s.HTTPAddr }

// Close shuts the stack down in order: the gateway, the gRPC server
// (draining calls in flight), the services' background work (outbox
// relays, consumers), the peer connections, NATS, and the store. It is
// safe to call more than once; it returns the first component error.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if err := s.workers.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stack: %w", err))
		}
		for i := len(s.closers) - 1; i >= 0; i-- {
			if err := s.closers[i](); err != nil && !isClosedErr(err) {
				errs = append(errs, err)
			}
		}
		s.closeErr = errors.Join(errs...)
		close(s.done)
	})
	return s.closeErr
}

// Wait blocks until the stack has shut down (its context ended, Close was
// called, or a component failed) and returns Close's result.
func (s *Stack) Wait() error {
	<-s.done
	return s.closeErr
}

func isClosedErr(err error) bool {
	return errors.Is(err, redis.ErrClosed) || errors.Is(err, net.ErrClosed)
}

// dialable turns a listener address into one a client can dial: an
// unspecified host (0.0.0.0, ::) becomes 127.0.0.1.
func dialable(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// portFree reports whether 127.0.0.1:port can be bound now.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}
