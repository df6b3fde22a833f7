package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
)

// healthTimeout bounds each service's health check.
const healthTimeout = 2 * time.Second

// serviceNames are the gRPC service names whose health /healthz checks.
var serviceNames = map[string]string{
	"registry":  registryv1.RegistryService_ServiceDesc.ServiceName,
	"token":     tokenv1.TokenService_ServiceDesc.ServiceName,
	"formation": formationv1.FormationService_ServiceDesc.ServiceName,
}

type healthChecker struct {
	clients map[string]healthpb.HealthClient
}

func newHealthChecker(conns map[string]*grpc.ClientConn) *healthChecker {
	h := &healthChecker{clients: map[string]healthpb.HealthClient{}}
	for name, c := range conns {
		h.clients[name] = healthpb.NewHealthClient(c)
	}
	return h
}

// check asks every service for its health, in parallel, and returns the
// status of each ("SERVING", "NOT_SERVING", "UNREACHABLE", ...).
func (h *healthChecker) check(ctx context.Context) map[string]string {
	out := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, c := range h.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, healthTimeout)
			defer cancel()
			res, err := c.Check(cctx, &healthpb.HealthCheckRequest{Service: serviceNames[name]})
			s := "UNREACHABLE"
			if err == nil {
				s = res.GetStatus().String()
			}
			mu.Lock()
			out[name] = s
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// healthBody is the /healthz answer.
type healthBody struct {
	Status     string            `json:"status"` // SERVING or NOT_SERVING
	Services   map[string]string `json:"services"`
	NotServing []string          `json:"notServing,omitempty"`
}

// serveHealth answers 200 when registry, token and formation each report
// SERVING, else 503 naming those that do not.
func (g *Gateway) serveHealth(w http.ResponseWriter, r *http.Request) {
	res := g.health.check(r.Context())
	body := healthBody{Status: "SERVING", Services: res}
	for name, s := range res {
		if s != "SERVING" {
			body.NotServing = append(body.NotServing, name)
		}
	}
	sort.Strings(body.NotServing)
	code := http.StatusOK
	if len(body.NotServing) > 0 {
		body.Status = "NOT_SERVING"
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_ = json.NewEncoder(w).Encode(body)
	}
}
