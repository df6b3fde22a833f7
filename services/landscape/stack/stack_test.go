package stack_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/landscape-dev/landscape/services/landscape/stack"
)

// TestStartEmbedded starts the stack with nothing given (in-memory Redis,
// embedded NATS) and checks that gRPC, the gateway and /openapi.json answer,
// then that Close stops everything.
func TestStartEmbedded(t *testing.T) {
	t.Parallel()
	st, err := stack.Start(context.Background(), stack.Config{
		JWTHS256Secret: "test-secret",
		NATSPort:       -1,
		DataDir:        t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !st.EmbeddedRedis || !st.EmbeddedNATS {
		t.Fatalf("embedded redis=%v nats=%v, want both", st.EmbeddedRedis, st.EmbeddedNATS)
	}
	res, err := http.Get(st.GatewayURL() + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || len(b) < 100 {
		t.Fatalf("/openapi.json = %d (%d bytes)", res.StatusCode, len(b))
	}
	conn, err := grpc.NewClient(st.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hr, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("health check: %v", err)
	}
	t.Logf("overall health: %s", hr.GetStatus())
	if err := st.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := http.Get(st.GatewayURL() + "/healthz"); err == nil {
		t.Fatal("the gateway still answers after Close")
	}
}
