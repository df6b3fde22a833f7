// Package gateway is Landscape's REST gateway: grpc-gateway v2 in front of
// the registry and formation services (docs/API.md, "Routes" and "Resources"). It dials the
// services over gRPC so that their interceptors (authentication, error
// mapping, logging) run for every call; the gateway itself is stateless
// apart from the pairing rate limit, which lives in Redis so that it holds
// across replicas.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/web"
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
	// <KeyPrefix>:gateway:ratelimit:<client address> (nil, or
	// PairRateLimit 0, turns the limit off) and the leases of the watch
	// limit under <KeyPrefix>:gateway:watches:<global account> (nil: each
	// gateway counts its own watches).
	Redis     redis.UniversalClient
	KeyPrefix string // redisconn.DefaultKeyPrefix when empty
	// PairRateLimit is the sustained rate (requests/s) per client address
	// shared by POST /v1/systems:pair and :reportPairingFailure; 0 is off.
	PairRateLimit float64
	// PairRateBurst is how many requests a client may make at once.
	PairRateBurst int
	// TrustedProxies are the proxies (addresses, CIDR prefixes) whose
	// Forwarded / X-Forwarded-For hops name the client the pairing limit
	// counts; empty: the TCP peer is the client.
	TrustedProxies []netip.Prefix
	// ServiceSecret, when set, lets the gateway vouch for the client
	// address of each pairing call (authn.ClientProof), so that the
	// registry's own pairing limit counts that client rather than the
	// gateway. Empty: the registry counts the gateway's address.
	ServiceSecret string

	// JetStream and Auth serve GET /v1/globalAccounts/{ga}/events:watch,
	// which the gateway answers itself (it is no gRPC call): it verifies
	// the JWT with Auth exactly as the services do and reads the event
	// streams. Without them the watch answers 503.
	JetStream jetstream.JetStream
	Auth      *authn.Authenticator
	// Registerer receives the request metrics (by method, route pattern
	// and status); nil: none. Tracing is the caller's: wrap the Gateway
	// (telemetry.WrapHTTP) and pass instrumented DialOptions.
	Registerer prometheus.Registerer

	// Console is the web console's built files, served at / and below
	// /console/; nil serves the console embedded in the binary.
	Console fs.FS
}

// Gateway is the REST gateway's HTTP handler.
type Gateway struct {
	cfg     Config
	logger  *slog.Logger
	mux     *runtime.ServeMux
	conns   []*grpc.ClientConn
	health  *healthChecker
	limiter *Limiter
	console *console
	handler http.Handler
	watches *watchLimit
	feeds   feeds
	metrics *httpMetrics
	// templates are the routes' path templates, to tell an unknown custom
	// method (404) from a known path with another method (405).
	templates routeTemplates
	// openAPIV2 is /openapi.json: the generated document with the
	// hand-written routes merged in; openAPIV3 is /openapi.v3.json, the
	// same converted once.
	openAPIV2, openAPIV3 []byte
}

// jsonMarshaler is the JSON of docs/API.md, "Resources": lowerCamelCase names, zero
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

// vouchForClient adds to a pairing call the client address the pairing
// limit counted and the proof that the gateway sent it (authn.ClientProof).
func (g *Gateway) vouchForClient(_ context.Context, r *http.Request) metadata.MD {
	if g.cfg.ServiceSecret == "" || r.Method != http.MethodPost || (r.URL.Path != pairPath && r.URL.Path != reportFailurePath) {
		return nil
	}
	client := clientAddr(r, g.cfg.TrustedProxies)
	return metadata.Pairs(authn.ClientMetadataKey, client, authn.ClientProofMetadataKey, authn.ClientProof(g.cfg.ServiceSecret, client, time.Now()))
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
		cfg.KeyPrefix = redisconn.DefaultKeyPrefix
	}
	if cfg.PairRateLimit < 0 || cfg.PairRateBurst < 0 {
		return nil, errors.New("gateway: the pairing rate limit and burst must not be negative")
	}
	if cfg.Console == nil {
		cfg.Console = web.Files()
	}
	con, err := newConsole(cfg.Console)
	if err != nil {
		return nil, fmt.Errorf("gateway: read the console's files: %w", err)
	}
	g := &Gateway{cfg: cfg, logger: cfg.Logger, console: con, metrics: newHTTPMetrics(cfg.Registerer),
		watches: newWatchLimit(cfg.Redis, cfg.KeyPrefix, cfg.Logger), feeds: feeds{js: cfg.JetStream}}
	if g.openAPIV2, g.openAPIV3, err = openAPIDocs(); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	templates, err := loadRouteTemplates(g.openAPIV2)
	if err != nil {
		return nil, fmt.Errorf("gateway: read the routes of the OpenAPI document: %w", err)
	}
	g.templates = templates

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
		runtime.WithMetadata(g.vouchForClient),
	)
	ctx := context.Background()
	routes := []struct {
		name     string
		register func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error
		conn     *grpc.ClientConn
	}{
		{"registry", registryv1.RegisterRegistryServiceHandler, regConn},
		{"caller", registryv1.RegisterCallerServiceHandler, regConn},
		{"audit", registryv1.RegisterAuditServiceHandler, regConn},
		{"formation", formationv1.RegisterFormationServiceHandler, formConn},
	}
	for _, r := range routes {
		if err := r.register(ctx, g.mux, r.conn); err != nil {
			g.Close()
			return nil, fmt.Errorf("gateway: register %s routes: %w", r.name, err)
		}
	}
	if err := g.registerReportStatus(formationv1.NewFormationServiceClient(formConn)); err != nil {
		g.Close()
		return nil, fmt.Errorf("gateway: register the status callback: %w", err)
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

// ServeHTTP serves the REST API, /healthz, /openapi.json (OpenAPI 2, as
// generated), /openapi.v3.json (the same document as OpenAPI 3) and the
// web console.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.handler.ServeHTTP(w, r) }

// Close closes the connections to the services.
func (g *Gateway) Close() error {
	g.watches.close()
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
		case "/openapi.json", "/openapi.v3.json":
			setRoute(r, r.URL.Path)
			if !getOrHead(w, r) {
				return
			}
			doc := g.openAPIV2
			if r.URL.Path == "/openapi.v3.json" {
				doc = g.openAPIV3
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(doc)
			return
		}
		if isConsolePath(r.URL.Path) {
			g.console.ServeHTTP(w, r)
			return
		}
		// No /v1 answer may be kept by a cache: some carry an integration
		// token (RegisterSystem, GenerateIntegrationToken), and the others
		// are a tenant's data.
		if r.URL.Path == "/v1" || strings.HasPrefix(r.URL.Path, "/v1/") {
			w.Header().Set("Cache-Control", "no-store")
		}
		if ga, ok := watchAccount(r.URL.Path); ok {
			g.serveWatch(w, r, ga) // long-lived: no request deadline
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
		if r.Method == http.MethodPost && (r.URL.Path == pairPath || r.URL.Path == reportFailurePath || isReportStatus(r)) && g.limiter != nil {
			if ok, retry := g.limiter.Allow(r.Context(), clientAddr(r, g.cfg.TrustedProxies)); !ok {
				writeRateLimited(w, r, retry)
				return
			}
		}
		if st := g.templates.customMethodStatus(r.Method, r.URL.Path); st != 0 {
			g.handleRoutingError(r.Context(), g.mux, jsonMarshaler, w, r, st)
			return
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
