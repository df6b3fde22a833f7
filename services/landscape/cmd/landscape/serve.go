package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
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
	"github.com/landscape-dev/landscape/services/gateway"
	"github.com/landscape-dev/landscape/services/landscape/stack"
)

// serviceFlags are the settings of one service process.
type serviceFlags struct {
	grpcAddr      string
	redisURL      string
	keyPrefix     string
	natsURL       string
	replicas      int
	serviceSecret string
	jwt           jwtFlags
	log           logFlags
}

func (s *serviceFlags) define(fs *config.FlagSet) {
	fs.String(&s.grpcAddr, "grpc-addr", "LANDSCAPE_GRPC_ADDR", defaultGRPCAddr, "gRPC listen address")
	fs.String(&s.redisURL, "redis-url", "LANDSCAPE_REDIS_URL", defaultRedisURL, "Redis URL (redis://, rediss://)")
	fs.String(&s.keyPrefix, "redis-key-prefix", "LANDSCAPE_REDIS_KEY_PREFIX", defaultKeyPrefix, "prefix of every Redis key")
	fs.String(&s.natsURL, "nats-url", "LANDSCAPE_NATS_URL", defaultNATSURL, "NATS URL(s) with JetStream, comma-separated")
	fs.Int(&s.replicas, "stream-replicas", "LANDSCAPE_STREAM_REPLICAS", 0, "replicas of the JetStream streams the service creates, and scales existing ones to (3 on a 3-node cluster, at most 5); 0: new streams get the server's default (1), existing ones keep theirs")
	fs.String(&s.serviceSecret, "service-secret", "LANDSCAPE_SERVICE_SECRET", "", "shared secret of the service credential between services (required; the same in every service)")
	s.jwt.define(fs, "")
	s.log.define(fs)
}

// serviceCommand builds the command that runs service name alone; it
// dials the service's peer (stack.Peer) at --<peer>-addr.
func serviceCommand(name string) (*config.FlagSet, func(context.Context, env) error) {
	var f serviceFlags
	var peerAddr string
	peer := stack.Peer(name)
	fs := config.New("landscape "+name, "landscape "+name+": "+commands()[name].summary)
	f.define(fs)
	if peer != "" {
		fs.String(&peerAddr, peer+"-addr", "LANDSCAPE_"+envName(peer)+"_ADDR", "", "gRPC address of the "+peer+" service (required)")
	}
	return fs, func(ctx context.Context, e env) error {
		logger, err := f.log.logger(e)
		if err != nil {
			return err
		}
		if err := requireFlag("service-secret", f.serviceSecret); err != nil {
			return err
		}
		if f.replicas < 0 || f.replicas > 5 {
			return usagef("--stream-replicas must be 0 to 5 (JetStream keeps at most 5 replicas), got %d", f.replicas)
		}
		if peer != "" {
			if err := requireFlag(peer+"-addr", peerAddr); err != nil {
				return err
			}
		}
		auth, err := authn.New(f.jwt.config(f.serviceSecret))
		if err != nil {
			return usagef("%v", err)
		}
		logger = logger.With("service", name)
		rdb, err := redisconn.Open(f.redisURL)
		if err != nil {
			return usagef("--redis-url: %v", err)
		}
		defer rdb.Close()
		nc, js, err := connectNATS(f.natsURL, name, logger)
		if err != nil {
			return err
		}
		defer nc.Close()
		var peerConn grpc.ClientConnInterface
		if peer != "" {
			conn, err := stack.DialPeer(peerAddr, f.serviceSecret, name)
			if err != nil {
				return usagef("--%s-addr: %v", peer, err)
			}
			defer conn.Close()
			peerConn = conn
		}
		s, err := stack.NewService(name, stack.Base{Logger: logger, Redis: rdb, KeyPrefix: f.keyPrefix, JetStream: js, StreamReplicas: f.replicas}, peerConn, 0)
		if err != nil {
			return err
		}
		lis, err := net.Listen("tcp", f.grpcAddr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", f.grpcAddr, err)
		}
		srv := grpcserver.New(logger, auth)
		s.Register(srv)
		logger.Info("serving", "grpc_addr", lis.Addr().String(), "nats_url", config.RedactURL(f.natsURL))
		return serveGRPC(ctx, logger, srv, lis, s.Run)
	}
}

// serveGRPC serves until ctx ends, then drains gRPC and stops the
// background work, in that order. A background failure stops the process.
func serveGRPC(ctx context.Context, logger *slog.Logger, srv *grpcserver.Server, lis net.Listener, runBG func(context.Context) error) error {
	srvCtx, stopSrv := context.WithCancel(ctx)
	defer stopSrv()
	bgCtx, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	var wg sync.WaitGroup
	var bgErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := runBG(bgCtx)
		if bgCtx.Err() == nil {
			if err == nil {
				err = errors.New("stopped unexpectedly")
			}
			bgErr = fmt.Errorf("background work: %w", err)
			logger.Error("background work failed; shutting down", "error", err.Error())
			stopSrv()
		}
	}()
	err := srv.Serve(srvCtx, lis)
	stopBG()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("grpc: %w", err)
	}
	if bgErr != nil {
		return bgErr
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
	requestTimeout                         time.Duration
	log                                    logFlags
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
	fs.String(&f.redisURL, "redis-url", "LANDSCAPE_REDIS_URL", defaultRedisURL, "Redis URL of the pairing rate limit (shared by every gateway replica)")
	fs.String(&f.keyPrefix, "redis-key-prefix", "LANDSCAPE_REDIS_KEY_PREFIX", defaultKeyPrefix, "prefix of every Redis key")
	definePairLimit(fs, &f.pairRateLimit, &f.pairRateBurst)
	defineRequestTimeout(fs, &f.requestTimeout)
	f.log.define(fs)
	return fs, func(ctx context.Context, e env) error {
		logger, err := f.log.logger(e)
		if err != nil {
			return err
		}
		for _, r := range []struct{ n, v string }{{"registry-addr", f.registryAddr}, {"token-addr", f.tokenAddr}, {"formation-addr", f.formationAddr}} {
			if err := requireFlag(r.n, r.v); err != nil {
				return err
			}
		}
		if err := checkPairLimit(f.pairRateLimit, f.pairRateBurst); err != nil {
			return err
		}
		if err := positive("request-timeout", f.requestTimeout); err != nil {
			return err
		}
		logger = logger.With("service", "gateway")
		var rdb *redis.Client
		if f.pairRateLimit > 0 {
			if rdb, err = redisconn.Open(f.redisURL); err != nil {
				return usagef("--redis-url: %v", err)
			}
			defer rdb.Close()
		}
		cfg := gateway.Config{
			Logger: logger, RegistryAddr: f.registryAddr, TokenAddr: f.tokenAddr, FormationAddr: f.formationAddr,
			RequestTimeout: f.requestTimeout, KeyPrefix: f.keyPrefix,
			PairRateLimit: f.pairRateLimit, PairRateBurst: f.pairRateBurst,
		}
		if rdb != nil {
			cfg.Redis = rdb
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
		logger.Info("serving", "http_addr", lis.Addr().String())
		if err := gateway.Serve(ctx, lis, gw, logger); err != nil {
			return err
		}
		logger.Info("stopped")
		return nil
	}
}

// connectNATS connects with the service kit's settings: NATS being down at
// start does not stop a service (its outbox keeps the events).
func connectNATS(url, name string, logger *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	nc, js, err := natsconn.Connect(url, "landscape-"+name, logger)
	if err != nil {
		return nil, nil, usagef("--nats-url: %v", err)
	}
	return nc, js, nil
}
