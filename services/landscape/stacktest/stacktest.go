// Package stacktest starts the whole landscape (package stack) inside a
// test: a real Redis from testkit under the test's own key prefix, an
// embedded NATS server with JetStream, every service on 127.0.0.1:0, and
// ready clients (gRPC and the gateway's base URL) plus JWT helpers.
package stacktest

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/authn"
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
	// Logger receives the stack's logs; nil discards them.
	Logger *slog.Logger
}

// Stack is a landscape running for one test. It stops when the test ends.
type Stack struct {
	*stack.Stack

	// NATSServer is the embedded NATS server (stop and start it to test
	// outages).
	NATSServer *testkit.NATSServer
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
	ns := testkit.NATS(t)
	st, err := stack.Start(context.Background(), stack.Config{
		GRPCAddr:       "127.0.0.1:0",
		HTTPAddr:       "127.0.0.1:0",
		RedisURL:       redisURL,
		KeyPrefix:      prefix,
		NATSURL:        ns.URL(),
		JWTHS256Secret: Secret,
		PairRateLimit:  opts.PairRateLimit,
		PairRateBurst:  opts.PairRateBurst,
		TokenTTL:       opts.TokenTTL,
		Logger:         opts.Logger,
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
		BaseURL:    st.GatewayURL(),
		Conn:       conn,
		Registry:   registryv1.NewRegistryServiceClient(conn),
		Formation:  formationv1.NewFormationServiceClient(conn),
		HTTP:       &http.Client{Timeout: 30 * time.Second},
		t:          t,
	}
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
