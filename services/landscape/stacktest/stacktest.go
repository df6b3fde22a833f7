// Package stacktest starts the whole landscape (package stack) inside a
// test: a real Redis from testkit under the test's own key prefix, an
// embedded NATS server with JetStream, every service on 127.0.0.1:0, and
// ready clients (gRPC and the gateway's base URL) plus JWT helpers.
package stacktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/seal"
	"github.com/landscape-dev/landscape/pkg/telemetry"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/landscape/stack"
)

// Secret is the HS256 secret of every test stack.
const Secret = "stacktest-hs256-secret-not-for-production"

// Options tune a test stack; the zero value is fine.
type Options struct {
	// TokenTTL overrides every system type's token lifetime (see
	// stack.Config.TokenTTL).
	TokenTTL time.Duration
	// PairRateLimit and PairRateBurst set the gateway's pairing limit;
	// zero turns it off.
	PairRateLimit float64
	PairRateBurst int
	// TrustedProxies are the gateway's trusted proxies (none: the TCP
	// peer is the client).
	TrustedProxies []netip.Prefix
	// MaxSystems and MaxFormations are the quotas per global account; 0:
	// the defaults.
	MaxSystems, MaxFormations int64
	// NATSUsers runs NATS with a user per service (registry, token,
	// formation, and gateway for the stack's own connection) holding the
	// permissions of natsconn.PermissionsOf, and connects each service as
	// its user (Stack.NATSAuth).
	NATSUsers bool
	// Logger receives the stack's logs; nil discards them.
	Logger *slog.Logger
	// Telemetry observes the stack (see stack.Config.Telemetry); with
	// metrics on, /metrics is served on a free port (Stack.MetricsAddr).
	Telemetry *telemetry.Telemetry
	// Webhooks configures webhooks; a nil Sealer gets a random key, so
	// pairing with a webhook works.
	Webhooks stack.Webhooks
}

// Stack is a landscape running for one test. It stops when the test ends.
type Stack struct {
	*stack.Stack

	// NATSServer is the embedded NATS server (stop and start it to test
	// outages).
	NATSServer *testkit.NATSServer
	// NATSAuth are the services' NATS credentials (Options.NATSUsers).
	NATSAuth map[string]natsconn.Auth
	// BaseURL is the gateway's base URL (http://127.0.0.1:port).
	BaseURL string
	// Conn is a plain gRPC connection to the services; Registry and
	// Formation are clients over it. Authenticate calls with Ctx.
	Conn      *grpc.ClientConn
	Registry  registryv1.RegistryServiceClient
	Formation formationv1.FormationServiceClient
	// HTTP is a client for the gateway with a timeout.
	HTTP *http.Client

	t testing.TB
}

// Start starts a stack for t and stops it when t ends.
func Start(t testing.TB, opts Options) *Stack {
	t.Helper()
	_, prefix := testkit.Redis(t) // cleans the prefix when t ends (after the stack stops)
	redisURL := testkit.RedisURL(t)
	var natsAuth map[string]natsconn.Auth
	var configure func(*server.Options)
	if opts.NATSUsers {
		natsAuth, configure = natsUsers(t)
	}
	ns := testkit.NATSWith(t, configure)
	if opts.Webhooks.Sealer == nil {
		key := make([]byte, seal.KeyBytes)
		_, _ = rand.Read(key)
		opts.Webhooks.Sealer, _ = seal.New(key)
	}
	st, err := stack.Start(context.Background(), stack.Config{
		Webhooks:       opts.Webhooks,
		GRPCAddr:       "127.0.0.1:0",
		HTTPAddr:       "127.0.0.1:0",
		RedisURL:       redisURL,
		KeyPrefix:      prefix,
		NATSURL:        ns.URL(),
		NATSAuth:       natsAuth,
		JWTHS256Secret: Secret,
		PairRateLimit:  opts.PairRateLimit,
		PairRateBurst:  opts.PairRateBurst,
		TrustedProxies: opts.TrustedProxies,
		TokenTTL:       opts.TokenTTL,
		MaxSystems:     opts.MaxSystems,
		MaxFormations:  opts.MaxFormations,
		Logger:         opts.Logger,
		Telemetry:      opts.Telemetry,
		MetricsAddr:    metricsAddr(opts.Telemetry),
	})
	if err != nil {
		t.Fatalf("stacktest: start: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("stacktest: close: %v", err)
		}
	})
	conn, err := grpc.NewClient(st.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("stacktest: dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &Stack{
		Stack:      st,
		NATSServer: ns,
		NATSAuth:   natsAuth,
		BaseURL:    st.GatewayURL(),
		Conn:       conn,
		Registry:   registryv1.NewRegistryServiceClient(conn),
		Formation:  formationv1.NewFormationServiceClient(conn),
		HTTP:       &http.Client{Timeout: 30 * time.Second},
		t:          t,
	}
}

// natsUsers makes a user with a random password (in a file) for each
// service and the server options that admit them with their permissions.
func natsUsers(t testing.TB) (map[string]natsconn.Auth, func(*server.Options)) {
	t.Helper()
	dir := t.TempDir()
	auth := map[string]natsconn.Auth{}
	var users []*server.User
	for _, name := range []string{"registry", "token", "formation", "gateway"} {
		perms, err := natsconn.PermissionsOf(name)
		if err != nil {
			t.Fatal(err)
		}
		pw := make([]byte, 16)
		_, _ = rand.Read(pw)
		file := filepath.Join(dir, name+".password")
		if err := os.WriteFile(file, []byte(hex.EncodeToString(pw)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		auth[name] = natsconn.Auth{User: name, PasswordFile: file}
		users = append(users, &server.User{Username: name, Password: hex.EncodeToString(pw), Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: perms.Publish, Deny: perms.PublishDeny},
			Subscribe: &server.SubjectPermission{Allow: perms.Subscribe},
		}})
	}
	return auth, func(o *server.Options) { o.Users = users }
}

// metricsAddr is a free port when tel collects metrics.
func metricsAddr(tel *telemetry.Telemetry) string {
	if tel.Metrics() {
		return "127.0.0.1:0"
	}
	return ""
}

// JWT mints a JWT (valid one hour) for global account ga with roles.
func (s *Stack) JWT(ga string, roles ...string) string {
	s.t.Helper()
	tok, err := authn.MintHS256(Secret, "test-user", ga, roles, time.Hour)
	if err != nil {
		s.t.Fatalf("stacktest: mint: %v", err)
	}
	return tok
}

// AdminJWT is a JWT with role global-account-admin for ga.
func (s *Stack) AdminJWT(ga string) string {
	return s.JWT(ga, string(authn.RoleGlobalAccountAdmin))
}

// Ctx returns ctx carrying jwt as the gRPC "authorization" metadata.
func Ctx(ctx context.Context, jwt string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, authn.MetadataKey, "Bearer "+jwt)
}

// StartHealthy is Start, then WaitHealthy.
func StartHealthy(t testing.TB, opts Options) *Stack {
	t.Helper()
	s := Start(t, opts)
	s.WaitHealthy()
	return s
}

// WaitHealthy waits (up to 15 s) until /healthz answers 200, i.e. every
// service reports SERVING.
func (s *Stack) WaitHealthy() {
	s.t.Helper()
	testkit.Eventually(s.t, 15*time.Second, "GET /healthz = 200", func() bool {
		res, err := s.HTTP.Get(s.BaseURL + "/healthz")
		if err != nil {
			return false
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
}
