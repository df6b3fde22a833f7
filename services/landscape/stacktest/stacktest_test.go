package stacktest_test

import (
	"net/http"
	"testing"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// TestStart starts a stack on real Redis and embedded NATS and calls it
// through gRPC and the gateway.
func TestStart(t *testing.T) {
	t.Parallel()
	s := stacktest.Start(t, stacktest.Options{})
	res, err := s.HTTP.Get(s.BaseURL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/openapi.json = %d", res.StatusCode)
	}
	s.WaitHealthy()
	ctx := stacktest.Ctx(t.Context(), s.AdminJWT("acme"))
	types, err := s.Registry.ListSystemTypes(ctx, &registryv1.ListSystemTypesRequest{})
	if err != nil {
		t.Fatalf("ListSystemTypes: %v", err)
	}
	if len(types.GetSystemTypes()) != 6 {
		t.Fatalf("ListSystemTypes = %d types, want 6", len(types.GetSystemTypes()))
	}
}
