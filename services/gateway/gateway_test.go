package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/metadata"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/gateway"
)

// fakeRegistry stands in for the RegistryService behind the gateway: the
// gateway's own behaviour (routing, JSON, error bodies, limits) is what is
// under test here; the real services are tested through the stack (e2e).
type fakeRegistry struct {
	registryv1.UnimplementedRegistryServiceServer
}

func (fakeRegistry) GetSystem(ctx context.Context, req *registryv1.GetSystemRequest) (*registryv1.System, error) {
	switch {
	case strings.HasSuffix(req.GetName(), "/missing"):
		return nil, apperr.New(apperr.SystemNotFound, "system not found", "system", req.GetName())
	case strings.HasSuffix(req.GetName(), "/echo-auth"):
		md, _ := metadata.FromIncomingContext(ctx)
		return &registryv1.System{Name: req.GetName(), Description: strings.Join(md.Get("authorization"), ",")}, nil
	case strings.HasSuffix(req.GetName(), "/slow"):
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &registryv1.System{Name: req.GetName(), DisplayName: "SF prod", State: registryv1.System_PENDING}, nil
}

func (fakeRegistry) ListSystems(_ context.Context, req *registryv1.ListSystemsRequest) (*registryv1.ListSystemsResponse, error) {
	if req.GetPageSize() < 0 {
		return nil, apperr.Invalid("pageSize", "must not be negative")
	}
	return &registryv1.ListSystemsResponse{Systems: []*registryv1.System{{Name: req.GetParent() + "/systems/a"}}}, nil
}

func (fakeRegistry) RegisterSystem(_ context.Context, req *registryv1.RegisterSystemRequest) (*registryv1.RegisterSystemResponse, error) {
	return &registryv1.RegisterSystemResponse{System: req.GetSystem()}, nil
}

func (fakeRegistry) PairSystem(_ context.Context, req *registryv1.PairSystemRequest) (*registryv1.System, error) {
	return &registryv1.System{Name: "globalAccounts/acme/systems/s1", State: registryv1.System_REGISTERED}, nil
}

func (fakeRegistry) ReportPairingFailure(_ context.Context, req *registryv1.ReportPairingFailureRequest) (*registryv1.System, error) {
	return &registryv1.System{Name: "globalAccounts/acme/systems/s1", State: registryv1.System_ERROR}, nil
}

// backend serves the fake registry and unimplemented token and formation
// services on a grpcserver (the real interceptors: error mapping).
func backend(t testing.TB) (*grpcserver.Server, string) {
	t.Helper()
	auth, err := authn.New(authn.Config{HS256Secret: "gateway-test-secret"})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpcserver.New(nil, auth)
	public := map[string]authn.Policy{}
	for _, m := range registryv1.RegistryService_ServiceDesc.Methods {
		public[m.MethodName] = authn.Public
	}
	srv.Register(&registryv1.RegistryService_ServiceDesc, fakeRegistry{}, public)
	srv.Register(&tokenv1.TokenService_ServiceDesc, tokenv1.UnimplementedTokenServiceServer{}, nil)
	srv.Register(&formationv1.FormationService_ServiceDesc, formationv1.UnimplementedFormationServiceServer{}, nil)
	for _, s := range []string{"landscape.registry.v1.RegistryService", "landscape.token.v1.TokenService", "landscape.formation.v1.FormationService"} {
		srv.SetServing(s, true)
	}
	return srv, testkit.Serve(t, srv.Serve)
}

type env struct {
	srv *grpcserver.Server
	url string
}

func start(t testing.TB, mod func(*gateway.Config)) env {
	t.Helper()
	srv, addr := backend(t)
	cfg := gateway.Config{RegistryAddr: addr, TokenAddr: addr, FormationAddr: addr}
	if mod != nil {
		mod(&cfg)
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	hs := httptest.NewServer(gw)
	t.Cleanup(hs.Close)
	return env{srv: srv, url: hs.URL}
}

// statusBody is the JSON status body of docs/API.md, "Errors".
type statusBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type            string            `json:"@type"`
		Reason          string            `json:"reason"`
		Domain          string            `json:"domain"`
		Metadata        map[string]string `json:"metadata"`
		FieldViolations []struct {
			Field       string `json:"field"`
			Description string `json:"description"`
		} `json:"fieldViolations"`
	} `json:"details"`
}

func (b statusBody) reason() string {
	for _, d := range b.Details {
		if strings.HasSuffix(d.Type, "google.rpc.ErrorInfo") {
			return d.Reason
		}
	}
	return ""
}

func do(t *testing.T, method, url string, body io.Reader, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func decodeStatus(t *testing.T, b []byte) statusBody {
	t.Helper()
	var s statusBody
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("error body is not the JSON status: %v: %s", err, b)
	}
	return s
}

func TestErrors(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	sys := e.url + "/v1/globalAccounts/acme/systems"
	cases := []struct {
		name, method, url, body string
		status                  int
		reason                  string
		msgHas                  string
	}{
		{"unknown field", "POST", sys, `{"displayName":"x","bogus":1}`, 400, "MALFORMED_REQUEST", `unknown field "bogus"`},
		{"wrong type", "POST", sys, `{"displayName":5}`, 400, "MALFORMED_REQUEST", "displayName"},
		{"bad json", "POST", sys, `{"displayName":`, 400, "MALFORMED_REQUEST", ""},
		{"not an object", "POST", sys, `[1,2]`, 400, "MALFORMED_REQUEST", ""},
		{"token never echoed", "POST", e.url + "/v1/systems:pair", `{integrationToken: lsit_abcdefABCDEF0123456789}`, 400, "MALFORMED_REQUEST", ""},
		{"pageSize not a number", "GET", sys + "?pageSize=abc", "", 400, "MALFORMED_REQUEST", "pageSize"},
		{"pageSize huge", "GET", sys + "?pageSize=99999999999999", "", 400, "MALFORMED_REQUEST", ""},
		{"pageSize negative (service)", "GET", sys + "?pageSize=-1", "", 400, "INVALID_ARGUMENT", ""},
		{"service not found", "GET", sys + "/missing", "", 404, "SYSTEM_NOT_FOUND", "not found"},
		{"odd characters in an id", "GET", sys + "/a%E2%80%8B..%2F%20%22", "", 200, "", ""},
		{"invalid UTF-8 in an id", "GET", sys + "/%00%FF", "", 400, "MALFORMED_REQUEST", "UTF-8"},
		{"invalid UTF-8 in a query", "GET", sys + "?filter=%FF", "", 400, "MALFORMED_REQUEST", "UTF-8"},
		{"invalid UTF-8 in the body", "POST", sys, "{\"displayName\":\"\xff\"}", 400, "MALFORMED_REQUEST", ""},
		{"unknown route", "GET", e.url + "/v1/nothing", "", 404, "ROUTE_NOT_FOUND", "/v1/nothing"},
		{"unknown verb on a resource (no route, not the GET route's id)", "POST", sys + "/s1:explode", "{}", 404, "ROUTE_NOT_FOUND", ""},
		{"unknown verb on a collection", "POST", e.url + "/v1/systems:explode", "{}", 404, "ROUTE_NOT_FOUND", ""},
		{"method not allowed", "PUT", e.url + "/v1/systemTypes", "{}", 405, "ROUTE_NOT_FOUND", "PUT"},
		{"healthz method", "POST", e.url + "/healthz", "", 405, "ROUTE_NOT_FOUND", ""},
		{"no JWT (service)", "GET", e.url + "/v1/formationTypes", "", 401, "UNAUTHENTICATED", "JWT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			res, b := do(t, c.method, c.url, body)
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, c.status, b)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			if c.status == 200 {
				return
			}
			s := decodeStatus(t, b)
			if s.reason() != c.reason {
				t.Errorf("reason %q, want %q: %s", s.reason(), c.reason, b)
			}
			if c.reason != "" && s.Details[0].Domain != "landscape" {
				t.Errorf("domain %q", s.Details[0].Domain)
			}
			if !strings.Contains(s.Message, c.msgHas) {
				t.Errorf("message %q lacks %q", s.Message, c.msgHas)
			}
			if s.Code == 0 || s.Message == "" {
				t.Errorf("code/message missing: %s", b)
			}
			if strings.Contains(string(b), "lsit_") {
				t.Errorf("the body echoes a token: %s", b)
			}
		})
	}
}

func TestFieldViolationsPassThrough(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	res, b := do(t, "GET", e.url+"/v1/globalAccounts/acme/systems?pageSize=-5", nil)
	if res.StatusCode != 400 {
		t.Fatalf("status %d: %s", res.StatusCode, b)
	}
	s := decodeStatus(t, b)
	var found bool
	for _, d := range s.Details {
		for _, v := range d.FieldViolations {
			found = found || v.Field == "pageSize"
		}
	}
	if !found || s.Code != 3 {
		t.Fatalf("no BadRequest violation for pageSize: %s", b)
	}
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	big := `{"displayName":"` + strings.Repeat("a", 5<<20) + `"}`
	// With a Content-Length, refused before reading.
	res, b := do(t, "POST", e.url+"/v1/globalAccounts/acme/systems", strings.NewReader(big))
	if res.StatusCode != 413 || decodeStatus(t, b).reason() != "REQUEST_TOO_LARGE" {
		t.Fatalf("status %d: %s", res.StatusCode, b)
	}
	// Chunked (no Content-Length): refused while reading.
	res, b = do(t, "POST", e.url+"/v1/globalAccounts/acme/systems", io.MultiReader(strings.NewReader(big)))
	if res.StatusCode != 413 || decodeStatus(t, b).reason() != "REQUEST_TOO_LARGE" {
		t.Fatalf("chunked: status %d: %s", res.StatusCode, b)
	}
	// Just under the limit goes through.
	ok := `{"displayName":"` + strings.Repeat("a", gateway.MaxBodyBytes-100) + `"}`
	res, b = do(t, "POST", e.url+"/v1/globalAccounts/acme/systems", strings.NewReader(ok))
	if res.StatusCode != 200 {
		t.Fatalf("body under the limit: status %d: %.200s", res.StatusCode, b)
	}
}

func TestJSONAndAuthorization(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	res, b := do(t, "GET", e.url+"/v1/globalAccounts/acme/systems/echo-auth", nil, "Authorization", "Bearer abc.def.ghi", "Grpc-Metadata-X-Landscape-Service", "forged")
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["description"] != "Bearer abc.def.ghi" {
		t.Errorf("authorization not passed on: %s", b)
	}
	if _, ok := m["state"]; ok {
		t.Errorf("an unset enum is shown: %s", b)
	}
	if _, ok := m["display_name"]; ok {
		t.Errorf("snake_case field names: %s", b)
	}
	res, b = do(t, "GET", e.url+"/v1/globalAccounts/acme/systems/s1", nil)
	if res.StatusCode != 200 || !strings.Contains(string(b), `"state":"PENDING"`) || !strings.Contains(string(b), `"displayName":"SF prod"`) {
		t.Fatalf("status %d: %s", res.StatusCode, b)
	}
}

func TestRequestTimeout(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *gateway.Config) { c.RequestTimeout = 200 * time.Millisecond })
	res, b := do(t, "GET", e.url+"/v1/globalAccounts/acme/systems/slow", nil)
	if res.StatusCode != http.StatusGatewayTimeout || decodeStatus(t, b).reason() != "UNAVAILABLE" {
		t.Fatalf("status %d: %s", res.StatusCode, b)
	}
}

func TestUnavailableService(t *testing.T) {
	t.Parallel()
	port, err := testkit.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", itoa(port))
	gw, err := gateway.New(gateway.Config{RegistryAddr: addr, TokenAddr: addr, FormationAddr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	hs := httptest.NewServer(gw)
	defer hs.Close()
	res, b := do(t, "GET", hs.URL+"/v1/systemTypes", nil)
	if res.StatusCode != 503 || decodeStatus(t, b).reason() != "UNAVAILABLE" || strings.Contains(string(b), "127.0.0.1") {
		t.Fatalf("status %d: %s", res.StatusCode, b)
	}
	res, b = do(t, "GET", hs.URL+"/healthz", nil)
	if res.StatusCode != 503 || !strings.Contains(string(b), "UNREACHABLE") {
		t.Fatalf("healthz %d: %s", res.StatusCode, b)
	}
}

func TestHealthzAndOpenAPI(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	res, b := do(t, "GET", e.url+"/healthz", nil)
	if res.StatusCode != 200 {
		t.Fatalf("healthz %d: %s", res.StatusCode, b)
	}
	e.srv.SetServing("landscape.token.v1.TokenService", false)
	res, b = do(t, "GET", e.url+"/healthz", nil)
	if res.StatusCode != 503 || !strings.Contains(string(b), `"notServing":["token"]`) {
		t.Fatalf("healthz with token down: %d %s", res.StatusCode, b)
	}
	res, b = do(t, "GET", e.url+"/openapi.json", nil)
	if res.StatusCode != 200 || !json.Valid(b) {
		t.Fatalf("openapi %d", res.StatusCode)
	}
	for _, p := range []string{"/v1/systemTypes", "/v1/systems:pair", "/v1/systems:reportPairingFailure", "/v1/formationTypes",
		"/v1/globalAccounts/{globalAccount}/formations/{formation}/assignments/{assignment}:reportStatus"} {
		if !bytes.Contains(b, []byte(`"`+p+`"`)) {
			t.Errorf("openapi lacks %s", p)
		}
	}

	// The same routes as OpenAPI 3, a document that validates as 3.x.
	res, b3 := do(t, "GET", e.url+"/openapi.v3.json", nil)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("openapi.v3.json %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData(b3)
	if err != nil {
		t.Fatalf("openapi.v3.json does not load: %v", err)
	}
	if err := doc.Validate(t.Context()); err != nil {
		t.Fatalf("openapi.v3.json is not valid OpenAPI 3: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.v3.json: version %q", doc.OpenAPI)
	}
	var doc2 struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc2); err != nil {
		t.Fatal(err)
	}
	for path, ops := range doc2.Paths {
		item := doc.Paths.Value(path)
		if item == nil {
			t.Errorf("openapi.v3.json lacks %s", path)
			continue
		}
		for method := range ops {
			if item.GetOperation(strings.ToUpper(method)) == nil {
				t.Errorf("openapi.v3.json lacks %s %s", strings.ToUpper(method), path)
			}
		}
	}
	if item := doc.Paths.Value("/v1/globalAccounts/{globalAccount}/systems"); item == nil || item.Post == nil || item.Post.RequestBody == nil {
		t.Error("openapi.v3.json: RegisterSystem has no request body")
	}
	// The watch, which the gateway answers itself, is in both documents
	// (hand-written, merged into the generated one).
	const watchPath = "/v1/globalAccounts/{globalAccount}/events:watch"
	if _, ok := doc2.Paths[watchPath]["get"]; !ok {
		t.Errorf("openapi.json lacks GET %s", watchPath)
	}
	if item := doc.Paths.Value(watchPath); item == nil || item.Get == nil {
		t.Errorf("openapi.v3.json lacks GET %s", watchPath)
	} else {
		ok := item.Get.Responses.Value("200")
		if ok == nil || ok.Value.Content.Get("text/event-stream") == nil {
			t.Errorf("openapi.v3.json: the watch's 200 is not text/event-stream")
		}
		for _, code := range []string{"400", "401", "403", "410", "429", "503"} {
			if item.Get.Responses.Value(code) == nil {
				t.Errorf("openapi.v3.json: the watch lacks its %s", code)
			}
		}
		if item.Get.Parameters.GetByInAndName("header", "Last-Event-ID") == nil || item.Get.Parameters.GetByInAndName("query", "since") == nil {
			t.Errorf("openapi.v3.json: the watch lacks Last-Event-ID or since")
		}
	}
	res, _ = do(t, "POST", e.url+"/openapi.v3.json", nil)
	if res.StatusCode != 405 {
		t.Errorf("POST /openapi.v3.json: %d, want 405", res.StatusCode)
	}
}

func TestPairRateLimit(t *testing.T) {
	t.Parallel()
	rdb, prefix := testkit.Redis(t)
	e := start(t, func(c *gateway.Config) {
		c.Redis, c.KeyPrefix, c.PairRateLimit, c.PairRateBurst = rdb, prefix, 0.5, 3
	})
	// One budget for both routes: 3 pass, the 4th is refused.
	for i, p := range []string{"/v1/systems:pair", "/v1/systems:reportPairingFailure", "/v1/systems:pair"} {
		res, b := do(t, "POST", e.url+p, strings.NewReader(`{}`))
		if res.StatusCode != 200 {
			t.Fatalf("request %d: status %d: %s", i, res.StatusCode, b)
		}
	}
	res, b := do(t, "POST", e.url+"/v1/systems:reportPairingFailure", strings.NewReader(`{}`))
	if res.StatusCode != 429 {
		t.Fatalf("over the limit: status %d: %s", res.StatusCode, b)
	}
	if ra := res.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
	if s := decodeStatus(t, b); s.reason() != "RATE_LIMITED" || s.Code != 8 {
		t.Errorf("body %s", b)
	}
	// Other routes are not limited.
	if res, _ := do(t, "GET", e.url+"/v1/globalAccounts/acme/systems/s1", nil); res.StatusCode != 200 {
		t.Errorf("GET limited: %d", res.StatusCode)
	}
	// The budget lives in Redis under the prefix.
	if n, err := rdb.Exists(t.Context(), prefix+":gateway:ratelimit:127.0.0.1").Result(); err != nil || n != 1 {
		t.Errorf("rate-limit key: %d %v", n, err)
	}
}

func TestLimiterFailsClosed(t *testing.T) {
	t.Parallel()
	port, _ := testkit.FreePort()
	down := rdbWith(&redis.Options{Addr: net.JoinHostPort("127.0.0.1", itoa(port))}) // nothing listens there
	defer down.Close()
	l := gateway.NewLimiter(down, "x", 1, 1, nil)
	for range 3 {
		if ok, retry := l.Allow(t.Context(), "10.0.0.1"); ok || retry < 1 {
			t.Fatalf("Redis down: allowed %v, retry after %d s; want refused with a Retry-After", ok, retry)
		}
	}
}

func TestLimiterSharedAcrossReplicas(t *testing.T) {
	t.Parallel()
	rdb, prefix := testkit.Redis(t)
	a := gateway.NewLimiter(rdb, prefix, 1, 2, nil)
	b := gateway.NewLimiter(rdb, prefix, 1, 2, nil)
	if ok, _ := a.Allow(t.Context(), "10.1.1.1"); !ok {
		t.Fatal("first refused")
	}
	if ok, _ := b.Allow(t.Context(), "10.1.1.1"); !ok {
		t.Fatal("second refused")
	}
	if ok, retry := a.Allow(t.Context(), "10.1.1.1"); ok || retry != 1 {
		t.Fatalf("third: ok=%v retry=%d, want refused after 1s", ok, retry)
	}
	if ok, _ := b.Allow(t.Context(), "10.1.1.2"); !ok {
		t.Fatal("another address refused")
	}
}

// TestRawBadRequests sends what an http.Client would not: every answer
// must be a 4xx.
func TestRawBadRequests(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	host := strings.TrimPrefix(e.url, "http://")
	for _, line := range []string{
		"GET /v1/globalAccounts/acme/systems/a%zzb HTTP/1.1",
		"GET /v1/globalAccounts/acme/systems/a%2 HTTP/1.1",
		"GET v1/systemTypes HTTP/1.1",
		"POST /v1/systems:pair HTTP/1.1\r\nContent-Length: 4\r\nContent-Type: application/json\r\n\r\n{\"a\"",
	} {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		req := strings.ReplaceAll(strings.ReplaceAll(line, "\\r\\n", "\r\n"), "\\\"", "\"")
		if !strings.Contains(req, "\r\n\r\n") {
			req += "\r\nHost: x\r\n\r\n"
		} else {
			req = strings.Replace(req, "\r\n", "\r\nHost: x\r\n", 1)
		}
		_, _ = io.WriteString(c, req)
		buf := make([]byte, 64)
		n, _ := io.ReadAtLeast(c, buf, 12)
		c.Close()
		got := string(buf[:n])
		if len(got) < 12 || got[9] != '4' {
			t.Errorf("%q: answer %q, want a 4xx", line, got)
		}
	}
}

// TestNoStoreOnEveryV1Response: every /v1 answer — a success that carries
// an integration token, a list, an error, a refusal of the gateway itself,
// an unknown route — says Cache-Control: no-store; /healthz and
// /openapi.json need not.
func TestNoStoreOnEveryV1Response(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/v1/globalAccounts/acme/systems", `{"displayName":"S","type":"sap-s4hana-cloud"}`, 200},
		{"GET", "/v1/globalAccounts/acme/systems", "", 200},
		{"GET", "/v1/globalAccounts/acme/systems/s1", "", 200},
		{"POST", "/v1/systems:pair", `{"integrationToken":"lsit_x"}`, 200},
		{"GET", "/v1/globalAccounts/acme/systems/missing", "", 404},
		{"POST", "/v1/globalAccounts/acme/systems", `{"nope":1}`, 400},
		{"GET", "/v1/nowhere", "", 404},
	} {
		res, b := do(t, c.method, e.url+c.path, strings.NewReader(c.body))
		if res.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, res.StatusCode, c.status, b)
		}
		if got := res.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s %s: Cache-Control %q, want no-store", c.method, c.path, got)
		}
	}
}

// TestUnknownRoutesAre404 checks every route family: an unknown custom
// method on a known resource, collection or custom route is 404
// ROUTE_NOT_FOUND; a known path with another method is 405
// ROUTE_NOT_FOUND; the body's code is NOT_FOUND (5) in both, so status
// and body agree.
func TestUnknownRoutesAre404(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"POST", "/v1/globalAccounts/acme/systems/s1:explode", 404},
		{"GET", "/v1/globalAccounts/acme/systems/s1:explode", 404},
		{"DELETE", "/v1/globalAccounts/acme/systems/s1:explode", 404},
		{"POST", "/v1/globalAccounts/acme/systems:explode", 404},
		{"POST", "/v1/globalAccounts/acme/formations/f1:explode", 404},
		{"PATCH", "/v1/globalAccounts/acme/formations/f1:explode", 404},
		{"POST", "/v1/globalAccounts/acme:explode", 404},
		{"POST", "/v1/systems:explode", 404},
		{"GET", "/v1/systemTypes:explode", 404},
		{"GET", "/v1/formationTypes:explode", 404},
		{"POST", "/v1/globalAccounts/acme/systems/s1:generateIntegrationToken:x", 404},
		{"GET", "/v1/nowhere", 404},
		// Known paths, other methods.
		{"POST", "/v1/globalAccounts/acme/systems/s1", 405},
		{"GET", "/v1/globalAccounts/acme/systems/s1:generateIntegrationToken", 405},
		{"GET", "/v1/systems:pair", 405},
		{"DELETE", "/v1/globalAccounts/acme/formations", 405},
		{"GET", "/v1/globalAccounts/acme/formations/f1:assignSystem", 405},
		{"POST", "/v1/systemTypes", 405},
	} {
		res, b := do(t, c.method, e.url+c.path, strings.NewReader("{}"))
		st := decodeStatus(t, b)
		if res.StatusCode != c.status || st.Code != 5 || st.reason() != "ROUTE_NOT_FOUND" {
			t.Errorf("%s %s: HTTP %d, code %d, reason %q; want HTTP %d, code 5, ROUTE_NOT_FOUND", c.method, c.path, res.StatusCode, st.Code, st.reason(), c.status)
		}
	}
}
