// Package gateway is Landscape's REST gateway: grpc-gateway v2 in front of
// the registry and formation services (DESIGN 2.2, 2.3). It dials the
// services over gRPC so that their interceptors (authentication, error
// mapping, logging) run for every call; the gateway itself is stateless
// apart from the pairing rate limit, which lives in Redis so that it holds
// across replicas.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/gen/openapi"
)

// Defaults of Config.
const (
	// MaxBodyBytes is the largest request body the gateway reads (1 MiB);
	// a larger one is refused with REQUEST_TOO_LARGE (413).
	MaxBodyBytes = 1 << 20
	// DefaultRequestTimeout is the per-request deadline passed to gRPC.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultPairRateLimit is the pairing rate limit per client address
	// (requests per second).
	DefaultPairRateLimit = 20
	// DefaultPairRateBurst is the pairing burst per client address.
	DefaultPairRateBurst = 100
)

// Config configures a gateway.
type Config struct {
	Logger *slog.Logger

	// Addresses of the services (host:port). In dev mode all three are the
	// same address. TokenAddr is used only by /healthz.
	RegistryAddr  string
	TokenAddr     string
	FormationAddr string
	// DialOptions are added to the gateway's own (plaintext) dial options.
	DialOptions []grpc.DialOption

	// RequestTimeout is the deadline of each proxied call; 0 takes
	// DefaultRequestTimeout.
	RequestTimeout time.Duration

	// Redis holds the pairing rate limit under
	// <KeyPrefix>:gateway:ratelimit:<client address>. Nil, or
	// PairRateLimit 0, turns the limit off.
	Redis     redis.UniversalClient
	KeyPrefix string // "ls" when empty
	// PairRateLimit is the sustained rate (requests/s) per client address
	// shared by POST /v1/systems:pair and :reportPairingFailure; 0 is off.
	PairRateLimit float64
	// PairRateBurst is how many requests a client may make at once.
	PairRateBurst int
}

// Gateway is the REST gateway's HTTP handler.
type Gateway struct {
	cfg     Config
	logger  *slog.Logger
	mux     *runtime.ServeMux
	conns   []*grpc.ClientConn
	health  *healthChecker
	limiter *Limiter
	handler http.Handler
}

// jsonMarshaler is the JSON of DESIGN 2.3: lowerCamelCase names, zero
// values and unset enums omitted, unknown fields rejected.
var jsonMarshaler = &runtime.JSONPb{
	MarshalOptions: protojson.MarshalOptions{
		UseProtoNames:   false,
		EmitUnpopulated: false,
	},
	UnmarshalOptions: protojson.UnmarshalOptions{
		DiscardUnknown: false,
	},
}

// New dials the services (lazily: grpc.NewClient) and builds the handler.
// Close releases the connections.
func New(cfg Config) (*Gateway, error) {
	if cfg.RegistryAddr == "" || cfg.FormationAddr == "" || cfg.TokenAddr == "" {
		return nil, errors.New("gateway: the registry, token and formation addresses are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = "ls"
	}
	if cfg.PairRateLimit < 0 || cfg.PairRateBurst < 0 {
		return nil, errors.New("gateway: the pairing rate limit and burst must not be negative")
	}
	g := &Gateway{cfg: cfg, logger: cfg.Logger}

	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, cfg.DialOptions...)
	dial := func(addr string) (*grpc.ClientConn, error) {
		for _, c := range g.conns { // one connection per distinct address
			if c.Target() == addr {
				return c, nil
			}
		}
		c, err := grpc.NewClient(addr, opts...)
		if err != nil {
			return nil, fmt.Errorf("gateway: dial %s: %w", addr, err)
		}
		g.conns = append(g.conns, c)
		return c, nil
	}
	regConn, err := dial(cfg.RegistryAddr)
	if err != nil {
		return nil, err
	}
	tokConn, err := dial(cfg.TokenAddr)
	if err != nil {
		g.Close()
		return nil, err
	}
	formConn, err := dial(cfg.FormationAddr)
	if err != nil {
		g.Close()
		return nil, err
	}

	g.mux = runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, jsonMarshaler),
		runtime.WithErrorHandler(g.handleError),
		runtime.WithRoutingErrorHandler(g.handleRoutingError),
		// Only the caller's Authorization header is passed on (grpc-gateway
		// always forwards it as the metadata "authorization"); no other
		// header becomes metadata, so a caller cannot set e.g. the service
		// credential's key through Grpc-Metadata-* headers.
		runtime.WithIncomingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithOutgoingTrailerMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithMiddlewares(recordRoute),
		runtime.WithDisablePathLengthFallback(),
		// %2F inside an id stays in its path segment (and the service
		// refuses the id) instead of splitting the path.
		runtime.WithUnescapingMode(runtime.UnescapingModeAllExceptReserved),
		runtime.WithDisableHTTPMethodOverride(),
	)
	ctx := context.Background()
	if err := registryv1.RegisterRegistryServiceHandler(ctx, g.mux, regConn); err != nil {
		g.Close()
		return nil, fmt.Errorf("gateway: register registry routes: %w", err)
	}
	if err := formationv1.RegisterFormationServiceHandler(ctx, g.mux, formConn); err != nil {
		g.Close()
		return nil, fmt.Errorf("gateway: register formation routes: %w", err)
	}
	g.health = newHealthChecker(map[string]*grpc.ClientConn{
		"registry":  regConn,
		"token":     tokConn,
		"formation": formConn,
	})
	if cfg.Redis != nil && cfg.PairRateLimit > 0 {
		g.limiter = NewLimiter(cfg.Redis, cfg.KeyPrefix, cfg.PairRateLimit, cfg.PairRateBurst, cfg.Logger)
	}
	g.handler = g.routes()
	return g, nil
}

// ServeHTTP serves the REST API, /healthz and /openapi.json.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.handler.ServeHTTP(w, r) }

// Close closes the connections to the services.
func (g *Gateway) Close() error {
	var errs []error
	for _, c := range g.conns {
		errs = append(errs, c.Close())
	}
	g.conns = nil
	return errors.Join(errs...)
}

// Pairing routes share one rate-limit budget per client address.
const (
	pairPath          = "/v1/systems:pair"
	reportFailurePath = "/v1/systems:reportPairingFailure"
)

// routes wraps the grpc-gateway mux with the gateway's own endpoints and
// the cross-cutting steps, outermost first: access log, deadline, body
// limit, rate limit.
func (g *Gateway) routes() http.Handler {
	api := http.Handler(g.mux)
	return g.accessLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			setRoute(r, "/healthz")
			if !getOrHead(w, r) {
				return
			}
			g.serveHealth(w, r)
			return
		case "/openapi.json":
			setRoute(r, "/openapi.json")
			if !getOrHead(w, r) {
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(openapi.JSON)
			return
		}
		if !validUTF8Request(r) {
			writeRefusal(w, r, malformed(errors.New("the path or query is not valid: bad percent-encoding or not UTF-8")))
			return
		}
		if r.ContentLength > MaxBodyBytes {
			writeRefusal(w, r, refusalTooLarge())
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, MaxBodyBytes), flag: tooLargeFlag(r)}
		}
		if r.Method == http.MethodPost && (r.URL.Path == pairPath || r.URL.Path == reportFailurePath) && g.limiter != nil {
			if ok, retry := g.limiter.Allow(r.Context(), clientAddr(r)); !ok {
				writeRateLimited(w, r, retry)
				return
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), g.cfg.RequestTimeout)
		defer cancel()
		api.ServeHTTP(w, r.WithContext(ctx))
	}))
}

// getOrHead answers 405 for another method and reports whether to go on.
func getOrHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeRefusal(w, r, refusalMethod(r))
	return false
}

// validUTF8Request reports whether the path and every query key and value
// are valid UTF-8: a proto string must be, and a value that is not would
// fail in the gRPC client as an internal error instead of a 400.
func validUTF8Request(r *http.Request) bool {
	if !utf8.ValidString(r.URL.Path) {
		return false
	}
	if r.URL.RawQuery == "" {
		return true
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return false
	}
	for k, vs := range q {
		if !utf8.ValidString(k) {
			return false
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return false
			}
		}
	}
	return true
}
