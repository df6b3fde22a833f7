package e2e

import (
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// The gRPC port is a front door of its own: these probes call it directly,
// past the gateway, as someone inside the network would.

// TestGRPCPortPairingFlood: PairSystem and ReportPairingFailure on the
// registry's gRPC port obey the pairing limit (kept in Redis, shared by
// every replica), and refuse with RATE_LIMITED before looking at the token.
func TestGRPCPortPairingFlood(t *testing.T) {
	t.Parallel()
	st := stacktest.StartHealthy(t, stacktest.Options{PairRateLimit: 1, PairRateBurst: 5})
	var answered, limited int
	for i := range 30 {
		var err error
		if i%2 == 0 {
			_, err = st.Registry.PairSystem(t.Context(), &registryv1.PairSystemRequest{IntegrationToken: wellFormedToken(), SystemType: "sap-successfactors"})
		} else {
			_, err = st.Registry.ReportPairingFailure(t.Context(), &registryv1.ReportPairingFailureRequest{IntegrationToken: wellFormedToken(), Message: "m"})
		}
		switch code, reason := reasonOf(err); {
		case code == codes.ResourceExhausted && reason == "RATE_LIMITED":
			limited++
		case code == codes.Unauthenticated || code == codes.InvalidArgument:
			answered++
		default:
			t.Fatalf("call %d: %v", i, err)
		}
	}
	// Burst 5 plus at most a few refills during the loop.
	if answered > 10 || limited < 20 {
		t.Fatalf("gRPC pairing: %d answered, %d limited (burst 5, 1/s)", answered, limited)
	}
}

// TestPairingLimitCountsClientsBehindGateway: the gateway vouches for the
// client address it counted, so the registry's limit gives each client
// behind the gateway its own budget instead of one for the gateway; a
// caller cannot vouch for itself.
func TestPairingLimitCountsClientsBehindGateway(t *testing.T) {
	t.Parallel()
	st := stacktest.Start(t, stacktest.Options{PairRateLimit: 1, PairRateBurst: 3,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	st.WaitHealthy()
	pair := func(client string) int {
		req, _ := http.NewRequest("POST", st.BaseURL+"/v1/systems:pair", strings.NewReader(`{"integrationToken":"`+wellFormedToken()+`","systemType":"sap-successfactors"}`))
		req.Header.Set("X-Forwarded-For", client)
		res, err := st.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	// Three clients, three calls each: within every client's burst.
	for _, client := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"} {
		for i := range 3 {
			if code := pair(client); code == http.StatusTooManyRequests {
				t.Fatalf("client %s call %d: 429, but each client has a burst of 3", client, i)
			}
		}
	}
	// A direct caller sending the gateway's metadata without the proof
	// (or with a made-up one) is counted by its own address.
	ctx := metadataCtx(t.Context(), authn.ClientMetadataKey, "198.51.100.7")
	ctx = metadataCtx(ctx, authn.ClientProofMetadataKey, "29000000.forged")
	limited := 0
	for range 10 {
		_, err := st.Registry.PairSystem(ctx, &registryv1.PairSystemRequest{IntegrationToken: wellFormedToken(), SystemType: "sap-successfactors"})
		if code, reason := reasonOf(err); code == codes.ResourceExhausted && reason == "RATE_LIMITED" {
			limited++
		}
	}
	if limited < 5 {
		t.Fatalf("forged client metadata: %d of 10 limited, want the direct caller's own budget (3) to run out", limited)
	}
}

// TestGRPCReflectionHidesInternalServices: reflection lists the public
// services but not the TokenService, and will not describe it when asked
// by name.
func TestGRPCReflectionHidesInternalServices(t *testing.T) {
	t.Parallel()
	st := stacktest.StartHealthy(t, stacktest.Options{})
	stream, err := reflectionv1.NewServerReflectionClient(st.Conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	ask := func(req *reflectionv1.ServerReflectionRequest) *reflectionv1.ServerReflectionResponse {
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		res, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	var names []string
	for _, s := range ask(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}}).GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	got := strings.Join(names, " ")
	if strings.Contains(got, "TokenService") {
		t.Errorf("reflection lists the internal TokenService: %s", got)
	}
	for _, want := range []string{"landscape.registry.v1.RegistryService", "landscape.formation.v1.FormationService", "grpc.health.v1.Health"} {
		if !strings.Contains(got, want) {
			t.Errorf("reflection does not list %s: %s", want, got)
		}
	}
	res := ask(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "landscape.token.v1.TokenService"}})
	if res.GetErrorResponse() == nil {
		t.Errorf("reflection describes the TokenService when asked by name")
	}
	res = ask(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "landscape.registry.v1.RegistryService"}})
	if res.GetErrorResponse() != nil || len(res.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Errorf("reflection does not describe the RegistryService: %v", res.GetErrorResponse())
	}
}

// TestGRPCOversizedMetadata: a ~120 KB bearer on the gRPC port is refused
// for its size, as the gateway answers 431, and never parsed as a JWT.
func TestGRPCOversizedMetadata(t *testing.T) {
	t.Parallel()
	lb := newLogbook(t)
	st := stacktest.StartHealthy(t, stacktest.Options{Logger: lb.Logger()})
	huge := "Bearer " + strings.Repeat("A", 120<<10)
	_, err := st.Registry.ListSystems(metadataCtx(t.Context(), "authorization", huge), &registryv1.ListSystemsRequest{Parent: "globalAccounts/acme"})
	code, _ := reasonOf(err)
	if code == codes.OK || code == codes.Unauthenticated {
		t.Fatalf("120 KB bearer: %v, want a refusal for its size (not a JWT verdict)", err)
	}
	// The server still answers normal calls on the same connection.
	admin := st.JWT("acme", string(authn.RoleGlobalAccountAdmin))
	if _, err := st.Registry.ListSystems(stacktest.Ctx(t.Context(), admin), &registryv1.ListSystemsRequest{Parent: "globalAccounts/acme"}); err != nil {
		t.Fatalf("a normal call after the oversized one: %v", err)
	}
}
