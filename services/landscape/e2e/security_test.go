package e2e

// Security: every REST route of docs/API.md, "Routes" against every
// kind of credential, GET /v1/me reading the JWT back, the service-only
// TokenService refusing users, and the scans that no integration token
// or JWT reaches a log line, an event or Redis in plain text. The helpers
// here (logbook, readStreams, httpCall, keepRegistration, redisValues)
// are shared with the package's other tests.

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/landscape/stack"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// ---- shared: secrets must never leave the response that creates them ----

var (
	// anyTokenRe finds an integration token (or most of one).
	anyTokenRe = regexp.MustCompile(`lsit_[0-9A-Za-z]{20,}`)
	// anyJWTRe finds a JWT (header and claims; the signature may be empty).
	anyJWTRe = regexp.MustCompile(`eyJ[0-9A-Za-z_-]{8,}\.eyJ[0-9A-Za-z_-]{8,}`)
)

// logbook receives every log line of a stack (give Logger() to the stack)
// or of a process (Write). When the test ends it checks each line: no
// integration token, no JWT, no secret kept with keep.
type logbook struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	secrets []string
}

func newLogbook(t testing.TB) *logbook {
	lb := &logbook{}
	t.Cleanup(func() { lb.check(t) })
	return lb
}

func (l *logbook) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Logger is a JSON logger at debug level (the most lines) into l.
func (l *logbook) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// keep records secrets (token secrets, JWTs) to look for.
func (l *logbook) keep(secrets ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range secrets {
		if s != "" {
			l.secrets = append(l.secrets, s)
		}
	}
}

func (l *logbook) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lines returns the log lines so far.
func (l *logbook) lines() []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(l.text()))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// leak returns what secret s holds, described without the secret: "" when
// s is clean.
func (l *logbook) leak(s string) string {
	l.mu.Lock()
	secrets := append([]string(nil), l.secrets...)
	l.mu.Unlock()
	if anyTokenRe.MatchString(s) {
		return "an integration token (lsit_…)"
	}
	if anyJWTRe.MatchString(s) {
		return "a JWT (eyJ….eyJ…)"
	}
	for _, sec := range secrets {
		if strings.Contains(s, sec) {
			return fmt.Sprintf("a kept secret of %d characters", len(sec))
		}
		if strings.HasPrefix(sec, "lsit_") && len(sec) == 54 && strings.Contains(s, sec[5:48]) {
			return "the random part of an integration token"
		}
	}
	return ""
}

func (l *logbook) check(t testing.TB) {
	t.Helper()
	lines := l.lines()
	leaks := 0
	for i, line := range lines {
		if what := l.leak(line); what != "" {
			leaks++
			t.Errorf("log line %d holds %s: %.120s…", i+1, what, redactAll(line))
		}
	}
	t.Logf("secret scan: %d log lines, %d with a token or JWT", len(lines), leaks)
}

// redactAll hides secrets in a line before it is printed.
func redactAll(s string) string {
	s = anyTokenRe.ReplaceAllString(s, "lsit_[redacted]")
	return anyJWTRe.ReplaceAllString(s, "eyJ[redacted]")
}

// streamEvent is one message of a Landscape stream.
type streamEvent struct {
	Stream   string
	Subject  string // NATS subject
	MsgID    string // Nats-Msg-Id header
	Event    cloudevent.Event
	Revision int64
}

// key identifies a state change: the resource, the event and its revision.
func (e streamEvent) key() string {
	return e.Subject + "|" + e.Event.Subject + "|" + strconv.FormatInt(e.Revision, 10)
}

// landscapeStreams are the three streams of docs/API.md, "Events".
var landscapeStreams = []string{"LANDSCAPE_REGISTRY", "LANDSCAPE_TOKEN", "LANDSCAPE_FORMATION"}

// readStreams returns every message of the Landscape streams that exist,
// checked by lb for secrets.
func readStreams(t testing.TB, js jetstream.JetStream, lb *logbook) []streamEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []streamEvent
	for _, name := range landscapeStreams {
		s, err := js.Stream(ctx, name)
		if err != nil {
			continue // not created (yet)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatalf("stream %s info: %v", name, err)
		}
		want := int(info.State.Msgs)
		if want == 0 {
			continue
		}
		cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatalf("stream %s consumer: %v", name, err)
		}
		got := 0
		for got < want {
			batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
			if err != nil {
				t.Fatalf("stream %s fetch: %v", name, err)
			}
			n := 0
			for m := range batch.Messages() {
				n++
				got++
				ev, err := cloudevent.Decode(m.Data())
				if err != nil {
					t.Fatalf("stream %s: undecodable message on %s: %v", name, m.Subject(), err)
				}
				var rev struct {
					Revision json.Number `json:"revision"`
				}
				_ = json.Unmarshal(ev.Data, &rev)
				r, _ := strconv.ParseInt(rev.Revision.String(), 10, 64)
				if lb != nil {
					if what := lb.leak(string(m.Data())); what != "" {
						t.Errorf("event %s on %s holds %s", ev.ID, m.Subject(), what)
					}
				}
				out = append(out, streamEvent{Stream: name, Subject: m.Subject(), MsgID: m.Headers().Get("Nats-Msg-Id"), Event: ev, Revision: r})
			}
			if n == 0 && ctx.Err() != nil {
				t.Fatalf("stream %s: read %d of %d messages", name, got, want)
			}
		}
	}
	return out
}

// ---- shared: raw HTTP calls to the gateway ----

// httpResult is a gateway answer: status, ErrorInfo reason, body.
type httpResult struct {
	Status int
	Reason string
	Body   []byte
}

// httpCall sends one request; jwt "" sends no Authorization header.
func httpCall(t testing.TB, c *http.Client, method, url, jwt, body string) httpResult {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if jwt != "" {
		req.Header.Set("Authorization", "Bearer "+jwt)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return httpResult{Status: res.StatusCode, Reason: bodyReason(b), Body: b}
}

// registration is what the tests read of a RegisterSystem reply (REST).
type registration struct {
	System struct {
		Name        string `json:"name"`
		DisplayName string `json:"displayName"`
		Etag        string `json:"etag"`
	} `json:"system"`
	IntegrationToken struct {
		Token string `json:"token"`
	} `json:"integrationToken"`
}

// keepRegistration decodes a RegisterSystem reply and keeps its token
// secret in lb (when there is one).
func keepRegistration(lb *logbook, body []byte) (registration, error) {
	var out registration
	err := json.Unmarshal(body, &out)
	lb.keep(out.IntegrationToken.Token)
	return out, err
}

// bodyReason is the ErrorInfo reason of a JSON status body, or "".
func bodyReason(b []byte) string {
	var st struct {
		Details []struct {
			Type   string `json:"@type"`
			Reason string `json:"reason"`
		} `json:"details"`
	}
	if json.Unmarshal(b, &st) != nil {
		return ""
	}
	for _, d := range st.Details {
		if strings.HasSuffix(d.Type, "google.rpc.ErrorInfo") {
			return d.Reason
		}
	}
	return ""
}

// ---- hand-made JWTs: the forgeries a verifier must refuse ----

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// rawJWT signs header.claims with sign (nil: an empty signature).
func rawJWT(header, claims map[string]any, sign func(signingInput []byte) []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	in := b64url(h) + "." + b64url(c)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(in))
	}
	return in + "." + b64url(sig)
}

func hs256(key []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(in)
		return m.Sum(nil)
	}
}

func rs256(key *rsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		h := sha256.Sum256(in)
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
		if err != nil {
			panic(err)
		}
		return sig
	}
}

func userClaims(ga string, exp time.Time, roles ...string) map[string]any {
	if roles == nil {
		roles = []string{}
	}
	return map[string]any{"sub": "matrix-user", "ga": ga, "roles": roles, "exp": exp.Unix(), "iat": time.Now().Add(-2 * time.Minute).Unix()}
}

// securityStack is a whole landscape whose JWTs verify with an HS256
// secret and an RSA public key (PEM file), logging into lb.
type securityStack struct {
	st      *stack.Stack
	rsaKey  *rsa.PrivateKey
	pubPEM  []byte
	secret  string
	service string
	http    *http.Client
	base    string
}

func startSecurityStack(t *testing.T, lb *logbook) *securityStack {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	keysFile := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(keysFile, pubPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	_, prefix := testkit.Redis(t)
	ns := testkit.NATS(t)
	s := &securityStack{rsaKey: key, pubPEM: pubPEM, secret: "matrix-hs256-" + testkit.RandomID(8), service: "matrix-svc-" + testkit.RandomID(8)}
	lb.keep(s.secret, s.service)
	st, err := stack.Start(context.Background(), stack.Config{
		RedisURL: testkit.RedisURL(t), KeyPrefix: prefix, NATSURL: ns.URL(),
		JWTHS256Secret: s.secret, JWTKeysFile: keysFile, ServiceSecret: s.service,
		Logger: lb.Logger(),
	})
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	s.st, s.http, s.base = st, &http.Client{Timeout: 30 * time.Second}, st.GatewayURL()
	waitHealthz(t, s.base, http.StatusOK, 15*time.Second)
	return s
}

func (s *securityStack) hsJWT(ga string, roles ...string) string {
	return rawJWT(map[string]any{"alg": "HS256", "typ": "JWT"}, userClaims(ga, time.Now().Add(time.Hour), roles...), hs256([]byte(s.secret)))
}

// credential is one column of the matrix.
type credential struct {
	name string
	jwt  string
	// kind says what the column may do: "bad" (401 everywhere but the
	// public routes), "norole" (403), "viewer", "other" (admin of another
	// global account), "admin".
	kind string
}

func (s *securityStack) credentials(ga string) []credential {
	admin := []string{string(authn.RoleGlobalAccountAdmin)}
	hour := time.Now().Add(time.Hour)
	otherKey := unknownRSAKey()
	return []credential{
		{"no JWT", "", "bad"},
		{"expired", rawJWT(map[string]any{"alg": "HS256", "typ": "JWT"}, userClaims(ga, time.Now().Add(-time.Hour), admin...), hs256([]byte(s.secret))), "bad"},
		{"no exp", rawJWT(map[string]any{"alg": "HS256", "typ": "JWT"}, map[string]any{"sub": "x", "ga": ga, "roles": admin}, hs256([]byte(s.secret))), "bad"},
		{"wrong HS256 secret", rawJWT(map[string]any{"alg": "HS256", "typ": "JWT"}, userClaims(ga, hour, admin...), hs256([]byte("not-the-secret"))), "bad"},
		{"RS256 of an unknown key", rawJWT(map[string]any{"alg": "RS256", "typ": "JWT"}, userClaims(ga, hour, admin...), rs256(otherKey)), "bad"},
		{"alg none", rawJWT(map[string]any{"alg": "none", "typ": "JWT"}, userClaims(ga, hour, admin...), nil), "bad"},
		{"alg None", rawJWT(map[string]any{"alg": "None", "typ": "JWT"}, userClaims(ga, hour, admin...), nil), "bad"},
		{"HS256 keyed with the RSA public key", rawJWT(map[string]any{"alg": "HS256", "typ": "JWT"}, userClaims(ga, hour, admin...), hs256(s.pubPEM)), "bad"},
		{"service credential as a user JWT", rawJWT(map[string]any{"alg": "HS256", "typ": "JWT"},
			map[string]any{"sub": "service:registry", "aud": authn.ServiceAudience, "exp": hour.Unix(), "iat": time.Now().Unix()}, hs256([]byte(s.service))), "bad"},
		{"tampered claims", tamperClaims(s.hsJWT("other", admin...), ga), "bad"},
		{"garbage", "not.a.jwt", "bad"},
		{"no known role", s.hsJWT(ga, "landscape-superuser"), "norole"},
		{"viewer", s.hsJWT(ga, string(authn.RoleSystemLandscapeViewer)), "viewer"},
		{"admin of another global account", s.hsJWT("other-"+ga, admin...), "other"},
		{"RS256 admin of another global account", rawJWT(map[string]any{"alg": "RS256", "typ": "JWT"}, userClaims("other-"+ga, hour, admin...), rs256(s.rsaKey)), "other"},
		{"system-landscape-admin", s.hsJWT(ga, string(authn.RoleSystemLandscapeAdmin)), "admin"},
		{"RS256 global-account-admin", rawJWT(map[string]any{"alg": "RS256", "typ": "JWT"}, userClaims(ga, hour, admin...), rs256(s.rsaKey)), "admin"},
	}
}

var unknownRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// tamperClaims swaps the claims of a signed JWT for claims naming ga,
// keeping the old signature.
func tamperClaims(jwt, ga string) string {
	parts := strings.Split(jwt, ".")
	c, _ := json.Marshal(userClaims(ga, time.Now().Add(time.Hour), string(authn.RoleGlobalAccountAdmin)))
	return parts[0] + "." + b64url(c) + "." + parts[2]
}

// route is one REST route of docs/API.md, "Routes" with a request that an admin of
// the right global account may make.
type route struct {
	method, path, body string
	// access: "public" (no JWT: pair, reportPairingFailure, healthz,
	// openapi), "catalog" (any known role), "read", "write".
	access string
	// adminStatus is the status of a valid call by an admin.
	adminStatus int
	// publicReason is the reason a public route answers (the body's
	// token is not valid), whatever JWT is sent.
	publicStatus int
	publicReason string
}

func TestSecurityRouteMatrix(t *testing.T) {
	t.Parallel()
	lb := newLogbook(t)
	s := startSecurityStack(t, lb)
	const ga = "matrix"
	adminJWT := s.hsJWT(ga, string(authn.RoleGlobalAccountAdmin))
	lb.keep(adminJWT)

	// Resources the admin column works on; each one is used by one
	// route only, so that the order of the columns does not matter.
	mkSystem := func(id, typ string) {
		r := httpCall(t, s.http, "POST", s.base+"/v1/globalAccounts/"+ga+"/systems?systemId="+id, adminJWT,
			`{"displayName":"`+id+`","type":"`+typ+`"}`)
		if r.Status != 200 {
			t.Fatalf("setup: register %s: %d %s", id, r.Status, r.Body)
		}
		_, _ = keepRegistration(lb, r.Body)
	}
	mkFormation := func(id string) {
		r := httpCall(t, s.http, "POST", s.base+"/v1/globalAccounts/"+ga+"/formations?formationId="+id, adminJWT,
			`{"displayName":"`+id+`","formationType":"side-by-side-extensibility-with-kyma"}`)
		if r.Status != 200 {
			t.Fatalf("setup: formation %s: %d %s", id, r.Status, r.Body)
		}
	}
	for _, id := range []string{"sys-get", "sys-patch", "sys-del", "sys-gentok", "sys-assign", "sys-unassign"} {
		mkSystem(id, "sap-commerce-cloud")
	}
	for _, id := range []string{"form-get", "form-patch", "form-del", "form-assign"} {
		mkFormation(id)
	}
	if r := httpCall(t, s.http, "POST", s.base+"/v1/globalAccounts/"+ga+"/formations/form-assign:assignSystem", adminJWT,
		`{"system":"globalAccounts/`+ga+`/systems/sys-unassign"}`); r.Status != 200 {
		t.Fatalf("setup: assign: %d %s", r.Status, r.Body)
	}

	pre := "/v1/globalAccounts/" + ga
	badToken := wellFormedToken()
	routes := []route{
		{method: "GET", path: "/v1/systemTypes", access: "catalog", adminStatus: 200},
		{method: "POST", path: pre + "/systems", body: `{"displayName":"matrix %s","type":"sap-successfactors"}`, access: "write", adminStatus: 200},
		{method: "GET", path: pre + "/systems", access: "read", adminStatus: 200},
		{method: "GET", path: pre + "/systems?filter=state%20%3D%20PENDING&pageSize=2", access: "read", adminStatus: 200},
		{method: "GET", path: pre + "/systems/sys-get", access: "read", adminStatus: 200},
		{method: "GET", path: pre + "/systems/does-not-exist", access: "read", adminStatus: 404},
		{method: "PATCH", path: pre + "/systems/sys-patch?updateMask=description", body: `{"description":"patched %s"}`, access: "write", adminStatus: 200},
		{method: "DELETE", path: pre + "/systems/sys-del", access: "write", adminStatus: 200},
		{method: "POST", path: pre + "/systems/sys-gentok:generateIntegrationToken", body: `{}`, access: "write", adminStatus: 200},
		{method: "POST", path: "/v1/systems:pair", body: `{"integrationToken":"` + badToken + `","systemType":"sap-successfactors","baseUrl":"https://x.example.com","externalId":"e"}`,
			access: "public", publicStatus: 401, publicReason: "TOKEN_INVALID"},
		{method: "POST", path: "/v1/systems:reportPairingFailure", body: `{"integrationToken":"` + badToken + `","message":"m"}`,
			access: "public", publicStatus: 401, publicReason: "TOKEN_INVALID"},
		{method: "GET", path: "/v1/formationTypes", access: "catalog", adminStatus: 200},
		{method: "POST", path: pre + "/formations", body: `{"displayName":"matrix %s","formationType":"side-by-side-extensibility-with-kyma"}`, access: "write", adminStatus: 200},
		{method: "GET", path: pre + "/formations", access: "read", adminStatus: 200},
		{method: "GET", path: pre + "/formations/form-get", access: "read", adminStatus: 200},
		{method: "GET", path: pre + "/formations/does-not-exist", access: "read", adminStatus: 404},
		{method: "PATCH", path: pre + "/formations/form-patch?updateMask=displayName", body: `{"displayName":"patched %s"}`, access: "write", adminStatus: 200},
		{method: "DELETE", path: pre + "/formations/form-del", access: "write", adminStatus: 200},
		{method: "POST", path: pre + "/formations/form-assign:assignSystem", body: `{"system":"globalAccounts/` + ga + `/systems/sys-assign"}`, access: "write", adminStatus: 200},
		{method: "POST", path: pre + "/formations/form-assign:unassignSystem", body: `{"system":"globalAccounts/` + ga + `/systems/sys-unassign"}`, access: "write", adminStatus: 200},
		{method: "GET", path: "/healthz", access: "public", publicStatus: 200},
		{method: "GET", path: "/openapi.json", access: "public", publicStatus: 200},
	}

	creds := s.credentials(ga)
	for _, c := range creds {
		lb.keep(c.jwt)
	}
	// want is what docs/API.md, "Routes" and "Authentication" and "Global accounts, callers and roles" say a cell answers.
	want := func(r route, c credential) (int, string) {
		if r.access == "public" {
			return r.publicStatus, r.publicReason
		}
		switch c.kind {
		case "bad":
			return 401, "UNAUTHENTICATED"
		case "norole":
			return 403, "PERMISSION_DENIED"
		}
		if r.access == "catalog" {
			return 200, ""
		}
		switch {
		case c.kind == "other":
			return 403, "PERMISSION_DENIED"
		case c.kind == "viewer" && r.access == "write":
			return 403, "PERMISSION_DENIED"
		}
		if r.adminStatus == 404 {
			return 404, map[bool]string{true: "SYSTEM_NOT_FOUND", false: "FORMATION_NOT_FOUND"}[strings.Contains(r.path, "/systems/")]
		}
		return 200, ""
	}
	// Non-admin columns first (they must change nothing), the admin
	// columns last; each admin column gets its own fresh resources for
	// the routes that consume them.
	cells, wrong := 0, 0
	adminRound := 0
	for _, c := range creds {
		if c.kind == "admin" {
			adminRound++
		}
		for i, r := range routes {
			path, body := r.path, r.body
			if strings.Contains(body, "%s") {
				body = fmt.Sprintf(body, c.name+" "+strconv.Itoa(i))
			}
			if c.kind == "admin" && adminRound > 1 {
				// The second admin column repeats the consuming routes on
				// new resources.
				suffix := "-2"
				for _, id := range []string{"sys-del", "sys-assign", "sys-unassign", "form-del"} {
					path = strings.ReplaceAll(path, "/"+id, "/"+id+suffix)
					body = strings.ReplaceAll(body, "/"+id+`"`, "/"+id+suffix+`"`)
				}
			}
			got := httpCall(t, s.http, r.method, s.base+path, c.jwt, body)
			cells++
			ws, wr := want(r, c)
			if got.Status != ws || (wr != "" && got.Reason != wr) {
				wrong++
				t.Errorf("%s %s with %s: got %d %s, want %d %s (%.200s)", r.method, path, c.name, got.Status, got.Reason, ws, wr, redactAll(string(got.Body)))
			}
			if strings.Contains(string(got.Body), `"token":"lsit_`) {
				// Only RegisterSystem and Get Token may show a secret.
				if !(r.method == "POST" && (strings.HasSuffix(path, "/systems") || strings.HasSuffix(path, ":generateIntegrationToken"))) {
					t.Errorf("%s %s shows a token secret", r.method, path)
				}
				var res struct {
					Token            string `json:"token"`
					IntegrationToken struct {
						Token string `json:"token"`
					} `json:"integrationToken"`
				}
				_ = json.Unmarshal(got.Body, &res)
				lb.keep(res.Token, res.IntegrationToken.Token)
			}
		}
		if c.kind == "admin" && adminRound == 1 {
			for _, id := range []string{"sys-del-2", "sys-assign-2", "sys-unassign-2"} {
				mkSystem(id, "sap-commerce-cloud")
			}
			mkFormation("form-del-2")
			if r := httpCall(t, s.http, "POST", s.base+pre+"/formations/form-assign:assignSystem", adminJWT,
				`{"system":"globalAccounts/`+ga+`/systems/sys-unassign-2"}`); r.Status != 200 {
				t.Fatalf("setup: assign: %d %s", r.Status, r.Body)
			}
		}
	}
	t.Logf("route matrix: %d routes x %d credentials = %d cells, %d answered otherwise than docs/API.md", len(routes), len(creds), cells, wrong)

	// Every event of the run, and Redis, hold no secret.
	evs := readStreams(t, s.st.JetStream, lb)
	t.Logf("secret scan: %d events", len(evs))
	scanRedisForSecrets(t, s.st.Redis, s.st.KeyPrefix, lb)
}

// scanRedisForSecrets reads every key of the stack's prefix and fails on
// a token or JWT in plain text.
func scanRedisForSecrets(t testing.TB, rdb redis.UniversalClient, prefix string, lb *logbook) {
	t.Helper()
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	keys := 0
	for iter.Next(ctx) {
		k := iter.Val()
		keys++
		_, vals, _ := redisValues(ctx, rdb, k)
		for _, v := range append(vals, k) {
			if what := lb.leak(v); what != "" {
				t.Errorf("Redis key %s holds %s", k, what)
			}
		}
	}
	t.Logf("secret scan: %d Redis keys", keys)
}

// redisValues returns the type of key and every value it holds: a
// string's value, a hash's fields and values, a list's, set's or sorted
// set's members, a stream's fields and values ("none": nothing). err is
// set when the type cannot be read or is one of none of these.
func redisValues(ctx context.Context, rdb redis.Cmdable, key string) (typ string, vals []string, err error) {
	typ, err = rdb.Type(ctx, key).Result()
	if err != nil {
		return "", nil, err
	}
	switch typ {
	case "string":
		vals = []string{rdb.Get(ctx, key).Val()}
	case "hash":
		for fk, fv := range rdb.HGetAll(ctx, key).Val() {
			vals = append(vals, fk, fv)
		}
	case "list":
		vals = rdb.LRange(ctx, key, 0, -1).Val()
	case "set":
		vals = rdb.SMembers(ctx, key).Val()
	case "zset":
		vals = rdb.ZRange(ctx, key, 0, -1).Val()
	case "stream":
		for _, m := range rdb.XRange(ctx, key, "-", "+").Val() {
			for fk, fv := range m.Values {
				vals = append(vals, fk, fmt.Sprint(fv))
			}
		}
	case "none":
	default:
		return typ, nil, fmt.Errorf("key %s has type %s the scan does not read", key, typ)
	}
	return typ, vals, nil
}

// TestSecurityTokenServiceIsInternal: the TokenService shares the gRPC
// port with the public services in dev mode; only the service credential
// may call it (docs/API.md, "Authentication"), never a user JWT, however privileged.
func TestSecurityTokenServiceIsInternal(t *testing.T) {
	t.Parallel()
	lb := newLogbook(t)
	s := startSecurityStack(t, lb)
	conn := dialGRPC(t, s.st.GRPCAddr)
	tc := tokenv1.NewTokenServiceClient(conn)
	admin := s.hsJWT("acme", string(authn.RoleGlobalAccountAdmin))
	lb.keep(admin)
	for _, c := range []struct {
		name string
		ctx  context.Context
		code codes.Code
	}{
		{"no credential", t.Context(), codes.Unauthenticated},
		{"admin JWT", stacktest.Ctx(t.Context(), admin), codes.PermissionDenied},
		{"forged service credential", metadataCtx(t.Context(), authn.ServiceMetadataKey, rawJWT(map[string]any{"alg": "HS256", "typ": "JWT"},
			map[string]any{"sub": "service:registry", "aud": authn.ServiceAudience, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}, hs256([]byte(s.secret)))), codes.Unauthenticated},
		{"service credential in the authorization header", stacktest.Ctx(t.Context(), rawJWT(map[string]any{"alg": "HS256", "typ": "JWT"},
			map[string]any{"sub": "service:registry", "aud": authn.ServiceAudience, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}, hs256([]byte(s.service)))), codes.Unauthenticated},
	} {
		_, err := tc.IssueToken(c.ctx, &tokenv1.IssueTokenRequest{})
		if code, _ := reasonOf(err); code != c.code {
			// Either refusal code is a refusal; anything else is a hole.
			if code != codes.Unauthenticated && code != codes.PermissionDenied {
				t.Errorf("IssueToken with %s: %v, want %v", c.name, err, c.code)
			}
		}
		_, err = tc.ConsumeToken(c.ctx, &tokenv1.ConsumeTokenRequest{})
		if code, _ := reasonOf(err); code != codes.Unauthenticated && code != codes.PermissionDenied {
			t.Errorf("ConsumeToken with %s: %v", c.name, err)
		}
	}
	// And the RegistryService over gRPC refuses the same forgeries as the
	// gateway (each service verifies the JWT itself).
	rc := registryv1.NewRegistryServiceClient(conn)
	for _, c := range s.credentials("acme") {
		if c.kind != "bad" || c.jwt == "" {
			continue
		}
		_, err := rc.ListSystems(stacktest.Ctx(t.Context(), c.jwt), &registryv1.ListSystemsRequest{Parent: "globalAccounts/acme"})
		if code, r := reasonOf(err); code != codes.Unauthenticated || r != "UNAUTHENTICATED" {
			t.Errorf("gRPC ListSystems with %s: %v %s", c.name, code, r)
		}
	}
}

// metadataCtx returns ctx carrying the outgoing gRPC metadata key: value.
func metadataCtx(ctx context.Context, key, value string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, key, value)
}

// TestSecurityLogbookFindsSecrets proves the scan would see a leak.
func TestSecurityLogbookFindsSecrets(t *testing.T) {
	t.Parallel()
	lb := &logbook{}
	tok := wellFormedToken()
	lb.keep(tok, "kept-secret-value")
	jwt, err := authn.MintHS256("s", "u", "acme", nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, leaked := range []string{
		`{"msg":"x","token":"` + tok + `"}`,
		`{"msg":"x","random":"` + tok[5:48] + `"}`,
		`{"msg":"x","auth":"Bearer ` + jwt + `"}`,
		`{"msg":"x","v":"kept-secret-value"}`,
		`{"msg":"x","t":"lsit_0123456789abcdefghijABCDEF"}`,
	} {
		if lb.leak(leaked) == "" {
			t.Errorf("not found in %s", redactAll(leaked))
		}
	}
	if what := lb.leak(`{"msg":"pairing refused","reason":"TOKEN_INVALID","token_name":"globalAccounts/a/systems/b/integrationTokens/k3x9"}`); what != "" {
		t.Errorf("a clean line flagged: %s", what)
	}
}

// TestMe: GET /v1/me answers who the JWT says the caller is, for every
// known role; no JWT is 401 and a JWT without a known role 403.
func TestMe(t *testing.T) {
	t.Parallel()
	st := stacktest.Start(t, stacktest.Options{})
	for _, role := range []authn.Role{authn.RoleGlobalAccountAdmin, authn.RoleSystemLandscapeAdmin, authn.RoleSystemLandscapeViewer} {
		exp := time.Now().Add(time.Hour).Truncate(time.Second)
		jwt, err := authn.MintHS256(stacktest.Secret, "alice", "acme", []string{string(role), "unknown-role"}, time.Until(exp))
		if err != nil {
			t.Fatal(err)
		}
		r := httpCall(t, st.HTTP, http.MethodGet, st.BaseURL+"/v1/me", jwt, "")
		if r.Status != http.StatusOK {
			t.Fatalf("%s: GET /v1/me = %d: %s", role, r.Status, r.Body)
		}
		var me struct {
			Subject       string    `json:"subject"`
			GlobalAccount string    `json:"globalAccount"`
			Roles         []string  `json:"roles"`
			ExpireTime    time.Time `json:"expireTime"`
		}
		if err := json.Unmarshal(r.Body, &me); err != nil {
			t.Fatalf("decode %s: %v", r.Body, err)
		}
		if me.Subject != "alice" || me.GlobalAccount != "acme" || len(me.Roles) != 1 || me.Roles[0] != string(role) {
			t.Fatalf("%s: /v1/me = %s", role, r.Body)
		}
		if d := me.ExpireTime.Sub(exp); d < -time.Second || d > time.Second {
			t.Fatalf("%s: expireTime %v, want about %v", role, me.ExpireTime, exp)
		}
	}
	if r := httpCall(t, st.HTTP, http.MethodGet, st.BaseURL+"/v1/me", "", ""); r.Status != http.StatusUnauthorized {
		t.Fatalf("no JWT: %d %s", r.Status, r.Body)
	}
	if r := httpCall(t, st.HTTP, http.MethodGet, st.BaseURL+"/v1/me", st.JWT("acme", "auditor"), ""); r.Status != http.StatusForbidden {
		t.Fatalf("no known role: %d %s", r.Status, r.Body)
	}
	if r := httpCall(t, st.HTTP, http.MethodPost, st.BaseURL+"/v1/me", st.AdminJWT("acme"), "{}"); r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("POST /v1/me: %d %s", r.Status, r.Body)
	}
}
