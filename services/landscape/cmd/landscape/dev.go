package main

import (
	"context"
	"fmt"
	"time"

	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/config"
	"github.com/landscape-dev/landscape/services/landscape/stack"
)

// devGlobalAccount is the global account of the admin JWT dev prints.
const devGlobalAccount = "dev"

// devJWTTTL is how long the printed admin JWT is valid.
const devJWTTTL = 24 * time.Hour

// devFlags are the settings of `landscape dev` (docs/API.md, "Commands and flags").
type devFlags struct {
	httpAddr, grpcAddr  string
	redisURL, keyPrefix string
	redisWait           redisWaitFlags
	natsURL             string
	dataDir             string
	serviceSecret       string
	jwt                 jwtFlags
	pairRateLimit       float64
	pairRateBurst       int
	requestTimeout      time.Duration
	quotas              quotaFlags
	audit               auditFlags
	trustedProxies      string
	log                 logFlags
	telemetry           telemetryFlags
	webhooks            webhookFlags
}

func devCommand() (*config.FlagSet, func(context.Context, env) error) {
	var f devFlags
	fs := config.New("landscape dev", "landscape dev: "+commands()["dev"].summary)
	fs.String(&f.httpAddr, "http-addr", "LANDSCAPE_HTTP_ADDR", defaultHTTPAddr, "gateway HTTP listen address")
	fs.String(&f.grpcAddr, "grpc-addr", "LANDSCAPE_GRPC_ADDR", defaultGRPCAddr, "gRPC listen address of all three services")
	fs.String(&f.redisURL, "redis-url", "LANDSCAPE_REDIS_URL", "", "Redis URL; empty: an embedded in-memory store (data lost on exit)")
	fs.String(&f.keyPrefix, "redis-key-prefix", "LANDSCAPE_REDIS_KEY_PREFIX", defaultKeyPrefix, "prefix of every Redis key")
	f.redisWait.define(fs)
	fs.String(&f.natsURL, "nats-url", "LANDSCAPE_NATS_URL", "", "NATS URL with JetStream; empty: an embedded server on 127.0.0.1:4222, or a free port when 4222 is taken")
	fs.String(&f.dataDir, "data-dir", "LANDSCAPE_DATA_DIR", "", "folder of the embedded NATS JetStream store (the in-memory Redis is never kept); empty: a temporary folder removed on exit")
	fs.String(&f.serviceSecret, "service-secret", "LANDSCAPE_SERVICE_SECRET", "", "secret of the service credential between services; empty: random per run")
	f.jwt.define(fs, DevHS256Secret)
	definePairLimit(fs, &f.pairRateLimit, &f.pairRateBurst)
	f.quotas.define(fs, true, true)
	f.audit.define(fs)
	defineTrustedProxies(fs, &f.trustedProxies)
	defineRequestTimeout(fs, &f.requestTimeout)
	f.webhooks.define(fs, true)
	f.log.define(fs)
	f.telemetry.define(fs)
	return fs, func(ctx context.Context, e env) error {
		stack.TuneRuntime(true)
		logger, err := f.log.logger(e)
		if err != nil {
			return err
		}
		proxies, proxiesErr := parseTrustedProxies(f.trustedProxies)
		if err := firstError(
			checkPairLimit(f.pairRateLimit, f.pairRateBurst),
			f.quotas.check(),
			f.audit.check(),
			proxiesErr,
			positive("request-timeout", f.requestTimeout),
			f.redisWait.check(),
		); err != nil {
			return err
		}
		if f.redisWait.replicas > 0 && f.redisURL == "" {
			return usagef("--redis-wait-replicas needs --redis-url: the embedded store has no replicas")
		}
		if f.jwt.hs256Secret == "" && f.jwt.keysFile == "" {
			return usagef("set --jwt-hs256-secret or --jwt-keys-file")
		}
		if err := f.jwt.check(); err != nil {
			return err
		}
		tel, err := f.telemetry.build(ctx, "landscape")
		if err != nil {
			return err
		}
		defer shutdownTelemetry(tel)
		webhooks, err := f.webhooks.stackWebhooks(true, f.dataDir)
		if err != nil {
			return err
		}
		st, err := stack.Start(ctx, stack.Config{
			Webhooks:       webhooks,
			GRPCAddr:       f.grpcAddr,
			HTTPAddr:       f.httpAddr,
			RedisURL:       f.redisURL,
			KeyPrefix:      f.keyPrefix,
			RedisWait:      f.redisWait.durability(),
			NATSURL:        f.natsURL,
			DataDir:        f.dataDir,
			JWTHS256Secret: f.jwt.hs256Secret,
			JWTKeysFile:    f.jwt.keysFile,
			JWTIssuer:      f.jwt.issuer,
			JWTAudience:    f.jwt.audience,
			JWTMaxLifetime: f.jwt.maxLifetime,
			ServiceSecret:  f.serviceSecret,
			PairRateLimit:  f.pairRateLimit,
			PairRateBurst:  f.pairRateBurst,
			TrustedProxies: proxies,
			MaxSystems:     int64(f.quotas.systems),
			MaxFormations:  int64(f.quotas.formations),
			AuditRetention: f.audit.retention,
			RequestTimeout: f.requestTimeout,
			InMemoryPeers:  true, // one process: no loopback TCP between its parts
			Logger:         logger,
			Telemetry:      tel,
			MetricsAddr:    f.telemetry.metricsAddr,
		})
		if err != nil {
			return err
		}
		printDevBanner(e, st, f)
		logger.Info("landscape dev running",
			"gateway", st.GatewayURL(), "grpc_addr", st.GRPCAddr, "nats_url", config.RedactURL(st.NATSURL),
			"embedded_redis", st.EmbeddedRedis, "embedded_nats", st.EmbeddedNATS)
		if err := st.Wait(); err != nil {
			return err
		}
		logger.Info("landscape dev stopped")
		return nil
	}
}

// printDevBanner tells the developer what runs where, on stdout, before
// the JSON logs (stderr) take over.
func printDevBanner(e env, st *stack.Stack, f devFlags) {
	w := e.stdout
	fmt.Fprintln(w, "Landscape dev is running.")
	if st.EmbeddedRedis {
		fmt.Fprintf(w, "  Redis:    embedded in-memory store at %s (data is lost on exit; --redis-url for a real Redis)\n", st.RedisURL)
	} else {
		fmt.Fprintf(w, "  Redis:    %s (real Redis, key prefix %q)\n", config.RedactURL(st.RedisURL), st.KeyPrefix)
	}
	natsKind := "external"
	if st.EmbeddedNATS {
		natsKind = "embedded, JetStream"
	}
	fmt.Fprintf(w, "  NATS:     %s (%s)\n", config.RedactURL(st.NATSURL), natsKind)
	fmt.Fprintf(w, "  gRPC:     %s (registry, token, formation, health, reflection)\n", st.GRPCAddr)
	fmt.Fprintf(w, "  Gateway:  %s (try %s/healthz)\n", st.GatewayURL(), st.GatewayURL())
	if st.MetricsAddr != "" {
		fmt.Fprintf(w, "  Metrics:  http://%s/metrics (Prometheus)\n", st.MetricsAddr)
	}
	if f.telemetry.otlpEndpoint != "" {
		fmt.Fprintf(w, "  Traces:   OTLP to %s\n", f.telemetry.otlpEndpoint)
	}
	fmt.Fprintln(w, f.webhooks.describe())
	if f.jwt.hs256Secret == "" {
		fmt.Fprintln(w, "  No HS256 secret: mint JWTs with your issuer's keys.")
		return
	}
	ttl := min(devJWTTTL, f.jwt.maxLifetime) // a JWT the stack accepts
	jwt, err := authn.MintHS256(f.jwt.hs256Secret, "dev-admin", devGlobalAccount, []string{string(authn.RoleGlobalAccountAdmin)}, ttl)
	if err != nil {
		fmt.Fprintf(w, "  could not mint the admin JWT: %v\n", err)
		return
	}
	if f.jwt.hs256Secret == DevHS256Secret {
		fmt.Fprintln(w, "  JWTs are checked with the public development HS256 secret: never expose this to a network.")
	}
	fmt.Fprintf(w, "  Admin JWT for global account %q (role %s, valid %s):\n\n", devGlobalAccount, authn.RoleGlobalAccountAdmin, ttl)
	fmt.Fprintf(w, "export LANDSCAPE_JWT=%s\n\n", jwt)
	// The fragment never reaches a server or a log; the console moves the
	// JWT into the tab's sessionStorage and takes it out of the address bar.
	fmt.Fprintf(w, "  Web console (signs you in as the admin above):\n\n%s/#token=%s\n\n", st.GatewayURL(), jwt)
	fmt.Fprintln(w, "  More with: landscape dev-token --global-account <id> --role <role>")
	fmt.Fprintln(w, "  Watch the events with: landscape events --nats-url "+config.RedactURL(st.NATSURL))
	client := "  The command-line client reads the JWT above: landscape systems list, landscape formations --help"
	if st.GatewayURL() != defaultServer {
		client += " (with LANDSCAPE_SERVER=" + st.GatewayURL() + ")"
	}
	fmt.Fprintln(w, client)
	fmt.Fprintln(w)
}
