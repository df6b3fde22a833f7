package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"

	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/config"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/workgroup"
	"github.com/landscape-dev/landscape/services/formation/formations"
	"github.com/landscape-dev/landscape/services/gateway"
	"github.com/landscape-dev/landscape/services/landscape/stack"
	"github.com/landscape-dev/landscape/services/registry/system"
)

// serviceFlags are the settings of one service process.
type serviceFlags struct {
	grpcAddr      string
	redisURL      string
	keyPrefix     string
	natsURL       string
	replicas      int
	redisWait     redisWaitFlags
	serviceSecret string
	pairRateLimit float64 // registry
	pairRateBurst int
	quotas        quotaFlags
	audit         auditFlags
	tls           tlsFlags
	nats          natsAuthFlags
	jwt           jwtFlags
	log           logFlags
	telemetry     telemetryFlags
	webhooks      webhookFlags
}

func (s *serviceFlags) define(fs *config.FlagSet) {
	fs.String(&s.grpcAddr, "grpc-addr", "LANDSCAPE_GRPC_ADDR", defaultGRPCAddr, "gRPC listen address")
	fs.String(&s.redisURL, "redis-url", "LANDSCAPE_REDIS_URL", defaultRedisURL, "Redis URL (redis://, rediss://)")
	fs.String(&s.keyPrefix, "redis-key-prefix", "LANDSCAPE_REDIS_KEY_PREFIX", defaultKeyPrefix, "prefix of every Redis key")
	fs.String(&s.natsURL, "nats-url", "LANDSCAPE_NATS_URL", defaultNATSURL, "NATS URL(s) with JetStream, comma-separated")
	fs.Int(&s.replicas, "stream-replicas", "LANDSCAPE_STREAM_REPLICAS", 0, "replicas of the JetStream streams the service creates, and scales existing ones to (3 on a 3-node cluster, at most 5); 0: new streams get the server's default (1), existing ones keep theirs")
	s.redisWait.define(fs)
	fs.String(&s.serviceSecret, "service-secret", "LANDSCAPE_SERVICE_SECRET", "", "shared secret of the service credential between services (required, at least 32 bytes; the same in every service)")
	s.jwt.define(fs, "")
	s.tls.define(fs)
	s.nats.define(fs)
	s.log.define(fs)
	s.telemetry.define(fs)
}

// quotaFlags are the quotas per global account: --max-systems (registry),
// --max-formations (formation); `landscape dev` has both.
type quotaFlags struct {
	systems, formations int
	withSystems         bool
	withFormations      bool
}

func (q *quotaFlags) define(fs *config.FlagSet, withSystems, withFormations bool) {
	q.withSystems, q.withFormations = withSystems, withFormations
	if withSystems {
		fs.Int(&q.systems, "max-systems", "LANDSCAPE_MAX_SYSTEMS", system.DefaultMaxSystems,
			"most systems a global account may hold (QUOTA_EXCEEDED beyond)")
	}
	if withFormations {
		fs.Int(&q.formations, "max-formations", "LANDSCAPE_MAX_FORMATIONS", formations.DefaultMaxFormations,
			"most formations a global account may hold (QUOTA_EXCEEDED beyond)")
	}
}

func (q *quotaFlags) check() error {
	if q.withSystems && q.systems < 1 {
		return usagef("--max-systems must be at least 1, got %d", q.systems)
	}
	if q.withFormations && q.formations < 1 {
		return usagef("--max-formations must be at least 1, got %d", q.formations)
	}
	return nil
}

// base fills the quotas of stack.Base (0 for a command without the flag).
func (q *quotaFlags) base(b stack.Base) stack.Base {
	b.MaxSystems, b.MaxFormations = int64(q.systems), int64(q.formations)
	return b
}

// hasWebhooks: the services that register (registry) or deliver
// (formation) webhooks take the webhook flags.
func hasWebhooks(name string) bool { return name == "registry" || name == "formation" }

// serviceCommand builds the command that runs service name alone; it
// dials the service's peer (stack.Peer) at --<peer>-addr.
func serviceCommand(name string) (*config.FlagSet, func(context.Context, env) error) {
	var f serviceFlags
	var peerAddr string
	peer := stack.Peer(name)
	fs := config.New("landscape "+name, "landscape "+name+": "+commands()[name].summary)
	f.define(fs)
	if hasWebhooks(name) {
		f.webhooks.define(fs, false)
	}
	f.quotas.define(fs, name == "registry", name == "formation")
	if name == "registry" {
		f.audit.define(fs)
		definePairLimit(fs, &f.pairRateLimit, &f.pairRateBurst)
	}
	if peer != "" {
		fs.String(&peerAddr, peer+"-addr", "LANDSCAPE_"+envName(peer)+"_ADDR", "", "gRPC address of the "+peer+" service (required)")
	}
	return fs, func(ctx context.Context, e env) error {
		logger, err := f.log.logger(e)
		if err != nil {
			return err
		}
		var auditErr, replicasErr, peerErr error
		if name == "registry" {
			auditErr = f.audit.check()
		}
		if f.replicas < 0 || f.replicas > 5 {
			replicasErr = usagef("--stream-replicas must be 0 to 5 (JetStream keeps at most 5 replicas), got %d", f.replicas)
		}
		if peer != "" {
			peerErr = requireFlag(peer+"-addr", peerAddr)
		}
		if err := firstError(
			requireFlag("service-secret", f.serviceSecret),
			f.quotas.check(),
			auditErr,
			checkPairLimit(f.pairRateLimit, f.pairRateBurst),
			checkServiceSecrets(f.jwt.hs256Secret, f.serviceSecret),
			f.jwt.check(),
			replicasErr,
			peerErr,
		); err != nil {
			return err
		}
		auth, err := authn.New(f.jwt.config(f.serviceSecret))
		if err != nil {
			return usagef("%v", err)
		}
		if err := f.redisWait.check(); err != nil {
			return err
		}
		logger = logger.With("service", name)
		tel, metricsLis, err := f.telemetry.start(ctx, "landscape-"+name)
		if err != nil {
			return err
		}
		defer shutdownTelemetry(tel)
		rdb, err := redisconn.OpenDurable(f.redisURL, f.redisWait.durability())
		if err != nil {
			return usagef("--redis-url: %v", err)
		}
		defer rdb.Close()
		redisconn.RegisterPoolMetrics(tel.Registerer(), rdb)
		tlsSource, err := f.tls.source(ctx, logger)
		if err != nil {
			return err
		}
		nc, js, err := connectNATS(f.natsURL, name, f.nats.auth, logger)
		if err != nil {
			return err
		}
		defer nc.Close()
		var peerConn grpc.ClientConnInterface
		if peer != "" {
			conn, err := stack.DialPeer(peerAddr, f.serviceSecret, name, dialOptions(tel, tlsSource)...)
			if err != nil {
				return usagef("--%s-addr: %v", peer, err)
			}
			defer conn.Close()
			peerConn = conn
		}
		var webhooks stack.Webhooks
		if hasWebhooks(name) {
			if webhooks, err = f.webhooks.stackWebhooks(false, ""); err != nil {
				return err
			}
		}
		base := f.quotas.base(stack.Base{Logger: logger, Redis: rdb, KeyPrefix: f.keyPrefix, JetStream: js, StreamReplicas: f.replicas, Webhooks: webhooks, Telemetry: tel,
			PairRateLimit: f.pairRateLimit, PairRateBurst: f.pairRateBurst, AuditRetention: f.audit.retention})
		s, err := stack.NewService(name, base, peerConn, 0)
		if err != nil {
			return err
		}
		lis, err := net.Listen("tcp", f.grpcAddr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", f.grpcAddr, err)
		}
		srvOpts := tel.ServerOptions()
		if tlsSource != nil {
			srvOpts = append(srvOpts, grpc.Creds(tlsSource.ServerCredentials()))
		}
		srv := grpcserver.New(logger, auth, srvOpts...)
		if tlsSource != nil {
			// Internal RPCs only from the services that call this one.
			srv.RestrictInternal(stack.Callers(name)...)
		}
		s.Register(srv)
		tel.InitServer(srv.Server)
		logger.Info("serving", "grpc_addr", lis.Addr().String(), "nats_url", config.RedactURL(f.natsURL), "metrics_addr", addrOf(metricsLis))
		return serveGRPC(ctx, logger, srv, lis, withMetrics(tel, metricsLis, s.Run))
	}
}

// serveGRPC serves until ctx ends, then drains gRPC and stops the
// background work, in that order. A background failure stops the process
// (workgroup.Run).
func serveGRPC(ctx context.Context, logger *slog.Logger, srv *grpcserver.Server, lis net.Listener, runBG func(context.Context) error) error {
	err := workgroup.Run(ctx, logger,
		workgroup.Worker{Name: "grpc", Run: func(ctx context.Context) error { return srv.Serve(ctx, lis) }},
		workgroup.Worker{Name: "background work", Run: runBG},
	)
	if err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

func registryCommand() (*config.FlagSet, func(context.Context, env) error) {
	return serviceCommand("registry")
}

func tokenCommand() (*config.FlagSet, func(context.Context, env) error) {
	return serviceCommand("token")
}

func formationCommand() (*config.FlagSet, func(context.Context, env) error) {
	return serviceCommand("formation")
}

// gatewayFlags are the gateway process's settings.
type gatewayFlags struct {
	httpAddr                               string
	registryAddr, tokenAddr, formationAddr string
	redisURL, keyPrefix                    string
	pairRateLimit                          float64
	pairRateBurst                          int
	trustedProxies                         string
	requestTimeout                         time.Duration
	serviceSecret                          string
	tls                                    tlsFlags
	// natsURL and jwt serve the watch (events:watch): the gateway reads
	// the event streams and verifies the JWT itself.
	natsURL   string
	nats      natsAuthFlags
	jwt       jwtFlags
	log       logFlags
	telemetry telemetryFlags
}

func defineTrustedProxies(fs *config.FlagSet, s *string) {
	fs.String(s, "trusted-proxies", "LANDSCAPE_TRUSTED_PROXIES", "",
		"comma-separated addresses or CIDR prefixes of the proxies (e.g. the Ingress) whose Forwarded / X-Forwarded-For hops name the client the pairing limit counts; empty: the TCP peer is the client")
}

func parseTrustedProxies(s string) ([]netip.Prefix, error) {
	p, err := gateway.ParseTrustedProxies(s)
	if err != nil {
		return nil, usagef("--trusted-proxies: %v", err)
	}
	return p, nil
}

func definePairLimit(fs *config.FlagSet, limit *float64, burst *int) {
	fs.Float(limit, "pair-rate-limit", "LANDSCAPE_PAIR_RATE_LIMIT", gateway.DefaultPairRateLimit,
		"requests/s per client address on /v1/systems:pair and :reportPairingFailure together (0 turns the limit off)")
	fs.Int(burst, "pair-rate-burst", "LANDSCAPE_PAIR_RATE_BURST", gateway.DefaultPairRateBurst, "burst of the pairing rate limit")
}

func defineRequestTimeout(fs *config.FlagSet, d *time.Duration) {
	fs.Duration(d, "request-timeout", "LANDSCAPE_REQUEST_TIMEOUT", gateway.DefaultRequestTimeout, "deadline of each REST request, passed to gRPC")
}

func checkPairLimit(limit float64, burst int) error {
	if limit < 0 {
		return usagef("--pair-rate-limit must not be negative")
	}
	if burst < 1 && limit > 0 {
		return usagef("--pair-rate-burst must be at least 1")
	}
	return nil
}

func gatewayCommand() (*config.FlagSet, func(context.Context, env) error) {
	var f gatewayFlags
	fs := config.New("landscape gateway", "landscape gateway: "+commands()["gateway"].summary)
	fs.String(&f.httpAddr, "http-addr", "LANDSCAPE_HTTP_ADDR", defaultHTTPAddr, "HTTP listen address")
	fs.String(&f.registryAddr, "registry-addr", "LANDSCAPE_REGISTRY_ADDR", "", "gRPC address of the registry service (required)")
	fs.String(&f.tokenAddr, "token-addr", "LANDSCAPE_TOKEN_ADDR", "", "gRPC address of the token service, for /healthz (required)")
	fs.String(&f.formationAddr, "formation-addr", "LANDSCAPE_FORMATION_ADDR", "", "gRPC address of the formation service (required)")
	fs.String(&f.redisURL, "redis-url", "LANDSCAPE_REDIS_URL", defaultRedisURL, "Redis URL of the pairing rate limit and the watch limit (shared by every gateway replica)")
	fs.String(&f.keyPrefix, "redis-key-prefix", "LANDSCAPE_REDIS_KEY_PREFIX", defaultKeyPrefix, "prefix of every Redis key")
	fs.String(&f.natsURL, "nats-url", "LANDSCAPE_NATS_URL", defaultNATSURL, "NATS URL(s) with JetStream, comma-separated: the event streams the watch reads; empty: no watch (503)")
	f.nats.define(fs)
	f.jwt.define(fs, "")
	definePairLimit(fs, &f.pairRateLimit, &f.pairRateBurst)
	defineTrustedProxies(fs, &f.trustedProxies)
	defineRequestTimeout(fs, &f.requestTimeout)
	fs.String(&f.serviceSecret, "service-secret", "LANDSCAPE_SERVICE_SECRET", "",
		"the services' shared secret: the gateway vouches with it for the client address of each pairing call, so that the registry's pairing limit counts clients, not the gateway (empty: the registry counts the gateway's address)")
	f.tls.define(fs)
	f.log.define(fs)
	f.telemetry.define(fs)
	return fs, func(ctx context.Context, e env) error {
		logger, err := f.log.logger(e)
		if err != nil {
			return err
		}
		var secretErr error
		if f.serviceSecret != "" {
			secretErr = checkServiceSecrets("", f.serviceSecret)
		}
		proxies, proxiesErr := parseTrustedProxies(f.trustedProxies)
		if err := firstError(
			requireFlag("registry-addr", f.registryAddr),
			requireFlag("token-addr", f.tokenAddr),
			requireFlag("formation-addr", f.formationAddr),
			checkPairLimit(f.pairRateLimit, f.pairRateBurst),
			secretErr,
			positive("request-timeout", f.requestTimeout),
			proxiesErr,
			checkHS256Secret(f.jwt.hs256Secret),
			f.jwt.check(),
		); err != nil {
			return err
		}
		// The watch needs both the streams and a way to verify JWTs; a
		// gateway without either still serves every other route.
		watch := f.natsURL != "" && (f.jwt.hs256Secret != "" || f.jwt.keysFile != "")
		var auth *authn.Authenticator
		if watch {
			if auth, err = authn.New(f.jwt.config(f.serviceSecret)); err != nil {
				return usagef("%v", err)
			}
		}
		logger = logger.With("service", "gateway")
		tel, metricsLis, err := f.telemetry.start(ctx, "landscape-gateway")
		if err != nil {
			return err
		}
		defer shutdownTelemetry(tel)
		var rdb *redis.Client
		if f.pairRateLimit > 0 || watch {
			if rdb, err = redisconn.Open(f.redisURL); err != nil {
				return usagef("--redis-url: %v", err)
			}
			defer rdb.Close()
			redisconn.RegisterPoolMetrics(tel.Registerer(), rdb)
		}
		tlsSource, err := f.tls.source(ctx, logger)
		if err != nil {
			return err
		}
		cfg := gateway.Config{
			Logger: logger, RegistryAddr: f.registryAddr, TokenAddr: f.tokenAddr, FormationAddr: f.formationAddr,
			RequestTimeout: f.requestTimeout, KeyPrefix: f.keyPrefix,
			PairRateLimit: f.pairRateLimit, PairRateBurst: f.pairRateBurst, TrustedProxies: proxies,
			ServiceSecret: f.serviceSecret,
			DialOptions:   dialOptions(tel, tlsSource), Registerer: tel.Registerer(),
		}
		if rdb != nil {
			cfg.Redis = rdb
		}
		if watch {
			nc, js, err := connectNATS(f.natsURL, "gateway", f.nats.auth, logger)
			if err != nil {
				return err
			}
			defer nc.Close()
			cfg.JetStream, cfg.Auth = js, auth
		} else {
			logger.Warn("no watch: events:watch answers 503 (it needs --nats-url and --jwt-hs256-secret or --jwt-keys-file)")
		}
		gw, err := gateway.New(cfg)
		if err != nil {
			return err
		}
		defer gw.Close()
		lis, err := net.Listen("tcp", f.httpAddr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", f.httpAddr, err)
		}
		logger.Info("serving", "http_addr", lis.Addr().String(), "metrics_addr", addrOf(metricsLis))
		handler := tel.WrapHTTP(gw, "gateway")
		serve := withMetrics(tel, metricsLis, func(ctx context.Context) error { return gateway.Serve(ctx, lis, handler, logger) })
		if err := serve(ctx); err != nil {
			return err
		}
		logger.Info("stopped")
		return nil
	}
}

// addrOf is a listener's address, or "" for none.
func addrOf(lis net.Listener) string {
	if lis == nil {
		return ""
	}
	return lis.Addr().String()
}

// connectNATS connects with the service kit's settings: NATS being down at
// start does not stop a service (its outbox keeps the events).
func connectNATS(url, name string, auth natsconn.Auth, logger *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	nc, js, err := natsconn.ConnectAs(url, "landscape-"+name, auth, logger)
	if err != nil {
		return nil, nil, usagef("--nats-url: %v", err)
	}
	return nc, js, nil
}
