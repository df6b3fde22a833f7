package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/config"
	"github.com/landscape-dev/landscape/pkg/mtls"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/telemetry"
	"github.com/landscape-dev/landscape/services/landscape/stack"
	"github.com/landscape-dev/landscape/services/registry/audit"
)

// DevHS256Secret is the HS256 secret `landscape dev` and `landscape
// dev-token` use when --jwt-hs256-secret is not given. It is public (it is
// in the source and the README): a development value, never for a
// deployment that holds real data.
const DevHS256Secret = "landscape-dev-hs256-secret-not-for-production"

// Defaults of docs/API.md, "Commands and flags".
const (
	defaultHTTPAddr  = "127.0.0.1:8080"
	defaultGRPCAddr  = "127.0.0.1:9090"
	defaultRedisURL  = "redis://127.0.0.1:6379"
	defaultNATSURL   = "nats://127.0.0.1:4222"
	defaultKeyPrefix = stack.DefaultKeyPrefix
)

// logFlags are the logging settings of every long-running command.
type logFlags struct {
	level string
}

func (l *logFlags) define(fs *config.FlagSet) {
	fs.String(&l.level, "log-level", "LANDSCAPE_LOG_LEVEL", "info", "log level: debug, info, warn or error (logs are JSON on stderr)")
}

// logger builds the JSON logger.
func (l *logFlags) logger(e env) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", l.level)
	}
	return slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: lv})), nil
}

// redisWaitFlags say how many Redis replicas must hold a change before it
// is acknowledged and its event published (docs/API.md, "Durable commits
// across a Redis failover").
type redisWaitFlags struct {
	replicas int
	timeout  time.Duration
}

func (r *redisWaitFlags) define(fs *config.FlagSet) {
	fs.Int(&r.replicas, "redis-wait-replicas", "LANDSCAPE_REDIS_WAIT_REPLICAS", 0,
		"Redis replicas that must hold each change before it is acknowledged and its event published (Redis WAIT); 0: acknowledge on the primary's word (a failover may lose the last changes)")
	fs.Duration(&r.timeout, "redis-wait-timeout", "LANDSCAPE_REDIS_WAIT_TIMEOUT", redisconn.DefaultWaitTimeout,
		"longest wait for those replicas; a change they do not hold in time is answered UNAVAILABLE")
}

func (r *redisWaitFlags) check() error {
	if r.replicas < 0 {
		return usagef("--redis-wait-replicas must not be negative, got %d", r.replicas)
	}
	return positive("redis-wait-timeout", r.timeout)
}

func (r *redisWaitFlags) durability() redisconn.Durability {
	return redisconn.Durability{Replicas: r.replicas, Timeout: r.timeout}
}

// auditFlags are the audit trail's settings (registry, `landscape dev`).
type auditFlags struct {
	retention time.Duration
}

func (a *auditFlags) define(fs *config.FlagSet) {
	fs.LongDuration(&a.retention, "audit-retention", "LANDSCAPE_AUDIT_RETENTION", audit.DefaultRetention,
		"how long the audit trail keeps its entries: whole days (400d) or a Go duration (36h, 90m)")
}

func (a *auditFlags) check() error { return positive("audit-retention", a.retention) }

// tlsFlags are the mutual TLS files of a service or the gateway
// (docs/API.md, "Mutual TLS between services").
type tlsFlags struct {
	files mtls.Files
}

func (f *tlsFlags) define(fs *config.FlagSet) {
	fs.String(&f.files.Cert, "tls-cert-file", "LANDSCAPE_TLS_CERT_FILE", "", "PEM certificate of this process (URI SAN spiffe://landscape/<service>) for mutual TLS between the services; read again when it changes; empty: plaintext")
	fs.String(&f.files.Key, "tls-key-file", "LANDSCAPE_TLS_KEY_FILE", "", "PEM private key of --tls-cert-file")
	fs.String(&f.files.CA, "tls-ca-file", "LANDSCAPE_TLS_CA_FILE", "", "PEM CA certificate(s) that sign every service's certificate")
}

// source loads the files (nil when none are set) and watches them until
// ctx ends.
func (f *tlsFlags) source(ctx context.Context, logger *slog.Logger) (*mtls.Source, error) {
	if !f.files.Enabled() {
		return nil, nil
	}
	src, err := mtls.Load(f.files, logger)
	if err != nil {
		return nil, usagef("--tls-cert-file, --tls-key-file, --tls-ca-file: %v", err)
	}
	go src.Watch(ctx, mtls.DefaultReload)
	return src, nil
}

// dialOptions are the options of the process's gRPC clients: telemetry's,
// and the client certificate of src when mutual TLS is on.
func dialOptions(tel *telemetry.Telemetry, src *mtls.Source) []grpc.DialOption {
	opts := tel.DialOptions()
	if src != nil {
		opts = append(opts, grpc.WithTransportCredentials(src.ClientCredentials()))
	}
	return opts
}

// natsAuthFlags are a process's NATS credentials (docs/API.md, "NATS
// credentials"): secrets come from files, never from the command line.
type natsAuthFlags struct {
	auth natsconn.Auth
}

func (n *natsAuthFlags) define(fs *config.FlagSet) {
	fs.String(&n.auth.User, "nats-user", "LANDSCAPE_NATS_USER", "", "NATS user of this process (with --nats-password-file); empty: no user")
	fs.String(&n.auth.PasswordFile, "nats-password-file", "LANDSCAPE_NATS_PASSWORD_FILE", "", "file holding the NATS user's password")
	fs.String(&n.auth.NKeyFile, "nats-nkey-file", "LANDSCAPE_NATS_NKEY_FILE", "", "file holding this process's NATS nkey seed (instead of a user)")
	fs.String(&n.auth.CredsFile, "nats-creds-file", "LANDSCAPE_NATS_CREDS_FILE", "", "NATS credentials file (JWT and nkey seed; instead of a user)")
	fs.String(&n.auth.CAFile, "nats-ca-file", "LANDSCAPE_NATS_CA_FILE", "", "PEM CA that signs the NATS servers' certificates (tls:// URLs)")
}

// jwtFlags are the JWT verification settings (docs/API.md, "Authentication").
type jwtFlags struct {
	hs256Secret, keysFile, issuer, audience string
	maxLifetime                             time.Duration
}

func (j *jwtFlags) define(fs *config.FlagSet, defSecret string) {
	usage := "HS256 secret of user JWTs, at least 32 bytes; empty: none"
	if defSecret != "" {
		usage = "HS256 secret of user JWTs; the default is the public development secret"
	}
	fs.String(&j.hs256Secret, "jwt-hs256-secret", "LANDSCAPE_JWT_HS256_SECRET", defSecret, usage)
	fs.String(&j.keysFile, "jwt-keys-file", "LANDSCAPE_JWT_KEYS_FILE", "", "PEM public keys or a JWKS file for RS256/ES256 user JWTs")
	fs.String(&j.issuer, "jwt-issuer", "LANDSCAPE_JWT_ISSUER", "", "iss claim user JWTs must carry; empty: not checked (not allowed with --jwt-keys-file)")
	fs.String(&j.audience, "jwt-audience", "LANDSCAPE_JWT_AUDIENCE", "", "aud claim user JWTs must carry; empty: not checked (not allowed with --jwt-keys-file)")
	fs.Duration(&j.maxLifetime, "jwt-max-lifetime", "LANDSCAPE_JWT_MAX_LIFETIME", authn.DefaultMaxLifetime,
		"longest lifetime of a user JWT (exp - iat, or exp - now without iat); longer-lived JWTs are refused")
}

// MinSecretBytes is the shortest HS256 or service secret a service command
// accepts: 32 bytes, the size of an HS256 key (openssl rand -hex 32 gives 64).
const MinSecretBytes = 32

// checkServiceSecrets refuses what would let anyone who read the README
// mint credentials for a deployment: the public development secret, and
// secrets shorter than MinSecretBytes. Only `landscape dev` may run with
// the development secret.
func checkServiceSecrets(hs256Secret, serviceSecret string) error {
	if serviceSecret == DevHS256Secret {
		return errDevSecret()
	}
	if err := checkHS256Secret(hs256Secret); err != nil {
		return err
	}
	if len(serviceSecret) < MinSecretBytes {
		return usagef("--service-secret is %d bytes; it must be at least %d (e.g. openssl rand -hex 32)", len(serviceSecret), MinSecretBytes)
	}
	return nil
}

// checkHS256Secret refuses the public development secret and a secret
// shorter than MinSecretBytes; empty is no HS256 key.
func checkHS256Secret(hs256Secret string) error {
	if hs256Secret == DevHS256Secret {
		return errDevSecret()
	}
	if hs256Secret != "" && len(hs256Secret) < MinSecretBytes {
		return usagef("--jwt-hs256-secret is %d bytes; it must be at least %d (e.g. openssl rand -hex 32)", len(hs256Secret), MinSecretBytes)
	}
	return nil
}

func errDevSecret() error {
	return usagef("the public development secret is for `landscape dev` only: set your own secret (e.g. openssl rand -hex 32)")
}

// check refuses a keys file without --jwt-issuer and --jwt-audience: an
// identity provider signs tokens for many applications, and only iss and
// aud tell that one was meant for Landscape.
func (j *jwtFlags) check() error {
	if err := positive("jwt-max-lifetime", j.maxLifetime); err != nil {
		return err
	}
	if j.keysFile != "" && (strings.TrimSpace(j.issuer) == "" || strings.TrimSpace(j.audience) == "") {
		return usagef("--jwt-keys-file needs --jwt-issuer and --jwt-audience: without them any token of the same identity provider would be accepted")
	}
	return nil
}

func (j *jwtFlags) config(serviceSecret string) authn.Config {
	return authn.Config{
		HS256Secret:   j.hs256Secret,
		KeysFile:      j.keysFile,
		Issuer:        j.issuer,
		Audience:      j.audience,
		ServiceSecret: serviceSecret,
		MaxLifetime:   j.maxLifetime,
	}
}

// parseRoles splits a comma-separated role list.
func parseRoles(s string) []string {
	var out []string
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

func knownRole(r string) bool {
	switch authn.Role(r) {
	case authn.RoleGlobalAccountAdmin, authn.RoleSystemLandscapeAdmin, authn.RoleSystemLandscapeViewer:
		return true
	}
	return false
}

func requireFlag(name, value string) error {
	if strings.TrimSpace(value) == "" {
		return usagef("--%s is required", name)
	}
	return nil
}

// firstError returns the first of the flag checks that failed: a
// command's checks read as one list, and report in the list's order.
func firstError(checks ...error) error {
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	return nil
}

func positive(name string, d time.Duration) error {
	if d <= 0 {
		return usagef("--%s must be positive, got %s", name, d)
	}
	return nil
}

// envName is a flag word as it appears in an environment variable.
func envName(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }

// telemetryFlags are the metrics and tracing settings of every
// long-running command.
type telemetryFlags struct {
	metricsAddr  string
	otlpEndpoint string
	sampleRatio  float64
}

func (t *telemetryFlags) define(fs *config.FlagSet) {
	fs.String(&t.metricsAddr, "metrics-addr", "LANDSCAPE_METRICS_ADDR", telemetry.DefaultMetricsAddr, "listen address of GET /metrics (Prometheus); empty: no metrics")
	fs.String(&t.otlpEndpoint, "otlp-endpoint", "LANDSCAPE_OTLP_ENDPOINT", "", "OTLP/gRPC collector for traces: host:port (plaintext), http:// or https:// URL; empty: no tracing")
	fs.Float(&t.sampleRatio, "trace-sample-ratio", "LANDSCAPE_TRACE_SAMPLE_RATIO", 1, "share of new traces recorded, 0 to 1 (a trace begun by the caller keeps the caller's decision)")
}

// build builds the process's telemetry (service is its service.name).
func (t *telemetryFlags) build(ctx context.Context, service string) (*telemetry.Telemetry, error) {
	if t.sampleRatio < 0 || t.sampleRatio > 1 {
		return nil, usagef("--trace-sample-ratio must be between 0 and 1, got %v", t.sampleRatio)
	}
	tel, err := telemetry.New(ctx, telemetry.Config{
		Service: service, Metrics: t.metricsAddr != "", OTLPEndpoint: t.otlpEndpoint, SampleRatio: t.sampleRatio,
	})
	if err != nil {
		return nil, usagef("--otlp-endpoint: %v", err)
	}
	return tel, nil
}

// start builds the process's telemetry and binds the metrics listener
// (nil when --metrics-addr is empty).
func (t *telemetryFlags) start(ctx context.Context, service string) (*telemetry.Telemetry, net.Listener, error) {
	tel, err := t.build(ctx, service)
	if err != nil {
		return nil, nil, err
	}
	if t.metricsAddr == "" {
		return tel, nil, nil
	}
	lis, err := net.Listen("tcp", t.metricsAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s: %w", t.metricsAddr, err)
	}
	return tel, lis, nil
}

// shutdownTelemetry sends the spans still buffered (at most 5 s).
func shutdownTelemetry(tel *telemetry.Telemetry) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = tel.Shutdown(ctx)
}

// withMetrics runs f and, when lis is set, serves /metrics on it beside f
// until f returns; a metrics server that fails stops f.
func withMetrics(tel *telemetry.Telemetry, lis net.Listener, f func(context.Context) error) func(context.Context) error {
	if lis == nil {
		return f
	}
	return func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		merr := make(chan error, 1)
		go func() {
			err := tel.ServeMetrics(ctx, lis)
			if ctx.Err() == nil {
				cancel()
			}
			merr <- err
		}()
		err := f(ctx)
		cancel()
		if mErr := <-merr; err == nil {
			err = mErr
		}
		return err
	}
}
