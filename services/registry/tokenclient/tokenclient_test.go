package tokenclient_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/registry/tokenclient"
)

// A token service that is down is UNAVAILABLE to callers, within the deadline.
func TestTokenServiceDown(t *testing.T) {
	t.Parallel()
	port, err := testkit.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("127.0.0.1:"+strconv.Itoa(port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := tokenclient.New(tokenv1.NewTokenServiceClient(conn))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	t0 := time.Now()
	_, err = c.Issue(ctx, "globalAccounts/a/systems/b", "sap-successfactors", time.Hour, false)
	if got := grpcserver.Status(err).Code(); got != codes.Unavailable && got != codes.DeadlineExceeded {
		t.Fatalf("issue: %v (%v)", got, err)
	}
	_, err = c.Consume(ctx, "lsit_x")
	if got := grpcserver.Status(err).Code(); got != codes.Unavailable && got != codes.DeadlineExceeded {
		t.Fatalf("consume: %v", got)
	}
	if time.Since(t0) > 2500*time.Millisecond {
		t.Fatalf("took %v", time.Since(t0))
	}
}
