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

// devFlags are the settings of `landscape dev` (DESIGN 5).
type devFlags struct {
	httpAddr, grpcAddr  string
	redisURL, keyPrefix string
	natsURL             string
	dataDir             string
	serviceSecret       string
	jwt                 jwtFlags
	pairRateLimit       float64
	pairRateBurst       int
	requestTimeout      time.Duration
	log                 logFlags
}

func devCommand() (*config.FlagSet, func(context.Context, env) error) {
	var f devFlags
	fs := config.New("landscape dev", "landscape dev: "+commands()["dev"].summary)
	fs.String(&f.httpAddr, "http-addr", "LANDSCAPE_HTTP_ADDR", defaultHTTPAddr, "gateway HTTP listen address")
	fs.String(&f.grpcAddr, "grpc-addr", "LANDSCAPE_GRPC_ADDR", defaultGRPCAddr, "gRPC listen address of all three services")
	fs.String(&f.redisURL, "redis-url", "LANDSCAPE_REDIS_URL", "", "Redis URL; empty: an embedded in-memory store (data lost on exit)")
	fs.String(&f.keyPrefix, "redis-key-prefix", "LANDSCAPE_REDIS_KEY_PREFIX", defaultKeyPrefix, "prefix of every Redis key")
	fs.String(&f.natsURL, "nats-url", "LANDSCAPE_NATS_URL", "", "NATS URL with JetStream; empty: an embedded server on 127.0.0.1:4222, or a free port when 4222 is taken")
	fs.String(&f.dataDir, "data-dir", "LANDSCAPE_DATA_DIR", "", "folder of the embedded NATS JetStream store (the in-memory Redis is never kept); empty: a temporary folder removed on exit")
	fs.String(&f.serviceSecret, "service-secret", "LANDSCAPE_SERVICE_SECRET", "", "secret of the service credential between services; empty: random per run")
	f.jwt.define(fs, DevHS256Secret)
	definePairLimit(fs, &f.pairRateLimit, &f.pairRateBurst)
	defineRequestTimeout(fs, &f.requestTimeout)
	f.log.define(fs)
	return fs, func(ctx context.Context, e env) error {
		stack.TuneRuntime(true)
		logger, err := f.log.logger(e)
		if err != nil {
			return err
		}
		if err := checkPairLimit(f.pairRateLimit, f.pairRateBurst); err != nil {
			return err
		}
		if err := positive("request-timeout", f.requestTimeout); err != nil {
			return err
		}
		if f.jwt.hs256Secret == "" && f.jwt.keysFile == "" {
			return usagef("set --jwt-hs256-secret or --jwt-keys-file")
		}
		st, err := stack.Start(ctx, stack.Config{
			GRPCAddr:       f.grpcAddr,
			HTTPAddr:       f.httpAddr,
			RedisURL:       f.redisURL,
			KeyPrefix:      f.keyPrefix,
			NATSURL:        f.natsURL,
			DataDir:        f.dataDir,
			JWTHS256Secret: f.jwt.hs256Secret,
			JWTKeysFile:    f.jwt.keysFile,
			JWTIssuer:      f.jwt.issuer,
			JWTAudience:    f.jwt.audience,
			ServiceSecret:  f.serviceSecret,
			PairRateLimit:  f.pairRateLimit,
			PairRateBurst:  f.pairRateBurst,
			RequestTimeout: f.requestTimeout,
			Logger:         logger,
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
	if f.jwt.hs256Secret == "" {
		fmt.Fprintln(w, "  No HS256 secret: mint JWTs with your issuer's keys.")
		return
	}
	jwt, err := authn.MintHS256(f.jwt.hs256Secret, "dev-admin", devGlobalAccount, []string{string(authn.RoleGlobalAccountAdmin)}, devJWTTTL)
	if err != nil {
		fmt.Fprintf(w, "  could not mint the admin JWT: %v\n", err)
		return
	}
	if f.jwt.hs256Secret == DevHS256Secret {
		fmt.Fprintln(w, "  JWTs are checked with the public development HS256 secret: never expose this to a network.")
	}
	fmt.Fprintf(w, "  Admin JWT for global account %q (role %s, valid %s):\n\n", devGlobalAccount, authn.RoleGlobalAccountAdmin, devJWTTTL)
	fmt.Fprintf(w, "export LANDSCAPE_JWT=%s\n\n", jwt)
	fmt.Fprintln(w, "  More with: landscape dev-token --global-account <id> --role <role>")
	fmt.Fprintln(w, "  Watch the events with: landscape events --nats-url "+config.RedactURL(st.NATSURL))
	fmt.Fprintln(w)
}
