package registryclient

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/services/formation/formations"
)

// client answers like a registry; down makes every call UNAVAILABLE.
type client struct {
	registryv1.RegistryServiceClient
	lists atomic.Int64
	down  atomic.Bool
}

func (c *client) ListSystemTypes(context.Context, *registryv1.ListSystemTypesRequest, ...grpc.CallOption) (*registryv1.ListSystemTypesResponse, error) {
	c.lists.Add(1)
	if c.down.Load() {
		return nil, status.Error(codes.Unavailable, "down")
	}
	return &registryv1.ListSystemTypesResponse{SystemTypes: []*registryv1.SystemType{{
		Name: "systemTypes/sap-cloud-for-customer", AssignableBeforePairing: true,
		Environments: []registryv1.SystemType_Environment{registryv1.SystemType_KYMA},
	}}}, nil
}

func (c *client) GetSystem(_ context.Context, req *registryv1.GetSystemRequest, _ ...grpc.CallOption) (*registryv1.System, error) {
	if c.down.Load() {
		return nil, status.Error(codes.Unavailable, "down")
	}
	if req.GetName() != "globalAccounts/acme/systems/c4c" {
		return nil, status.Error(codes.NotFound, "no")
	}
	return &registryv1.System{Name: req.GetName(), Type: "sap-cloud-for-customer", State: registryv1.System_REGISTERED, Etag: "7"}, nil
}

func TestDirectory(t *testing.T) {
	t.Parallel()
	c := &client{}
	d := New(c, time.Second, time.Minute)
	now := time.Now()
	d.now = func() time.Time { return now }
	ctx := t.Context()

	sys, err := d.GetSystem(ctx, "acme", "c4c")
	if err != nil || sys.State != formations.SystemRegistered || sys.Revision != 7 || sys.Type != "sap-cloud-for-customer" {
		t.Fatalf("GetSystem = %+v, %v", sys, err)
	}
	if _, err := d.GetSystem(ctx, "acme", "nope"); apperr.ReasonOf(err) != apperr.SystemNotFound {
		t.Fatalf("missing system: %v", err)
	}
	st, ok, err := d.SystemType(ctx, "sap-cloud-for-customer")
	if err != nil || !ok || !st.AssignableBeforePairing || len(st.Environments) != 1 || st.Environments[0] != formations.Kyma {
		t.Fatalf("SystemType = %+v %v %v", st, ok, err)
	}
	if _, _, _ = d.SystemType(ctx, "sap-cloud-for-customer"); c.lists.Load() != 1 {
		t.Fatalf("catalog fetched %d times, want cached", c.lists.Load())
	}
	// Registry down: GetSystem keeps the gRPC status; the cached catalog serves on.
	c.down.Store(true)
	now = now.Add(2 * time.Minute)
	if _, err := d.GetSystem(ctx, "acme", "c4c"); status.Code(err) != codes.Unavailable {
		t.Fatalf("registry down: %v", err)
	}
	if _, ok, err := d.SystemType(ctx, "sap-cloud-for-customer"); err != nil || !ok {
		t.Fatalf("stale catalog not served: %v %v", ok, err)
	}
	// No catalog yet and the registry down: an error, passed through.
	d2 := New(c, time.Second, time.Minute)
	if _, _, err := d2.SystemType(ctx, "sap-cloud-for-customer"); status.Code(err) != codes.Unavailable {
		t.Fatalf("no catalog: %v", err)
	}
}
