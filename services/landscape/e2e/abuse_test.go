package e2e

// Abuse: bad input on every route, random and hostile requests through
// the gateway never give a 5xx; slow clients are cut by the server's
// timeouts; oversized bodies and headers are refused; the pairing rate
// limit holds and cannot be dodged with forwarding headers.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/services/gateway"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// abuseRoutes are the REST routes of docs/API.md, "Routes" with {id} where a fuzzed
// id goes.
var abuseRoutes = []struct{ method, path string }{
	{"GET", "/v1/systemTypes"},
	{"POST", "/v1/globalAccounts/{ga}/systems"},
	{"GET", "/v1/globalAccounts/{ga}/systems"},
	{"GET", "/v1/globalAccounts/{ga}/systems/{id}"},
	{"PATCH", "/v1/globalAccounts/{ga}/systems/{id}"},
	{"DELETE", "/v1/globalAccounts/{ga}/systems/{id}"},
	{"POST", "/v1/globalAccounts/{ga}/systems/{id}:generateIntegrationToken"},
	{"POST", "/v1/systems:pair"},
	{"POST", "/v1/systems:reportPairingFailure"},
	{"GET", "/v1/formationTypes"},
	{"POST", "/v1/globalAccounts/{ga}/formations"},
	{"GET", "/v1/globalAccounts/{ga}/formations"},
	{"GET", "/v1/globalAccounts/{ga}/formations/{id}"},
	{"PATCH", "/v1/globalAccounts/{ga}/formations/{id}"},
	{"DELETE", "/v1/globalAccounts/{ga}/formations/{id}"},
	{"POST", "/v1/globalAccounts/{ga}/formations/{id}:assignSystem"},
	{"POST", "/v1/globalAccounts/{ga}/formations/{id}:unassignSystem"},
	{"GET", "/healthz"},
	{"GET", "/openapi.json"},
}

// gatewayTarget is a running stack for hostile requests.
type gatewayTarget struct {
	st    *stacktest.Stack
	jwt   string
	lb    *logbook
	tried atomic.Int64
}

func newGatewayTarget(t testing.TB) *gatewayTarget {
	t.Helper()
	lb := newLogbook(t)
	st := stacktest.Start(t, stacktest.Options{Logger: lb.Logger()})
	st.HTTP.Timeout = 20 * time.Second
	g := &gatewayTarget{st: st, jwt: st.AdminJWT("fuzz"), lb: lb}
	lb.keep(g.jwt)
	st.WaitHealthy()
	return g
}

// try sends one request built from fuzzed parts and fails on a 5xx, on a
// refusal without a JSON status body, and on a secret in the answer.
func (g *gatewayTarget) try(t testing.TB, routeIdx uint8, id, query string, body []byte, withJWT bool) {
	t.Helper()
	r := abuseRoutes[int(routeIdx)%len(abuseRoutes)]
	path := strings.ReplaceAll(r.path, "{ga}", "fuzz")
	path = strings.ReplaceAll(path, "{id}", url.PathEscape(id))
	u := g.st.BaseURL + path
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequest(r.method, u, bytes.NewReader(body))
	if err != nil {
		// Not a request an HTTP client can send: try the fuzzed id raw
		// in the path instead.
		req, err = http.NewRequest(r.method, g.st.BaseURL+path, bytes.NewReader(body))
		if err != nil {
			return
		}
	}
	req.Header.Set("Content-Type", "application/json")
	if withJWT {
		req.Header.Set("Authorization", "Bearer "+g.jwt)
	}
	g.tried.Add(1)
	res, err := g.st.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: no answer: %v", r.method, redactAll(u), err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 500 {
		t.Fatalf("%s %s with body %.200q: %d %s", r.method, redactAll(u), body, res.StatusCode, redactAll(string(b)))
	}
	if res.StatusCode >= 400 && bodyReason(b) == "" {
		t.Fatalf("%s %s: %d without an ErrorInfo reason: %.200s", r.method, redactAll(u), res.StatusCode, b)
	}
	if res.StatusCode >= 400 && (anyTokenRe.Match(b) || anyJWTRe.Match(b)) {
		t.Fatalf("%s %s: a refusal echoes a secret", r.method, redactAll(u))
	}
}

// abuseSeeds are bodies that have broken decoders elsewhere: bad JSON,
// wrong types, unknown and duplicate fields, huge numbers and strings,
// deep nesting, odd unicode.
var abuseSeeds = []string{
	``, `{}`, `null`, `[]`, `"x"`, `0`, `{`, `}`, `{"`, `{"displayName":}`, `{"displayName":"a",}`,
	`{"displayName":"Sys","type":"sap-successfactors"}`,
	`{"displayName":"Sys","type":"sap-successfactors","state":"REGISTERED","name":"globalAccounts/other/systems/x"}`,
	`{"displayName":"Sys","type":"sap-successfactors","unknownField":1}`,
	`{"displayName":1,"type":true}`, `{"displayName":null}`, `{"displayName":["a"]}`,
	`{"displayName":"a","displayName":"b"}`,
	`{"displayName":"` + strings.Repeat("x", 5000) + `","type":"sap-successfactors"}`,
	`{"displayName":"\u0000\u0001\u202e","type":"sap-successfactors"}`,
	`{"displayName":"\ud800","type":"sap-successfactors"}`,
	"{\"displayName\":\"\xff\xfe\",\"type\":\"sap-successfactors\"}",
	`{"state":1}`, `{"state":"NOPE"}`, `{"state":99999999999999999999}`, `{"environment":-1}`,
	`{"createTime":"not a time"}`, `{"createTime":"9999-12-31T23:59:59Z"}`, `{"etag":"` + strings.Repeat("9", 400) + `"}`,
	`{"integrationToken":"lsit_","systemType":"sap-successfactors"}`,
	`{"integrationToken":"` + strings.Repeat("A", 100000) + `"}`,
	`{"integrationToken":"lsit_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA000000","systemType":"x","baseUrl":"javascript:alert(1)"}`,
	`{"message":"` + strings.Repeat("m", 200000) + `","integrationToken":"x"}`,
	`{"system":"globalAccounts/fuzz/systems/../../x"}`, `{"system":""}`, `{"system":"globalAccounts/other/systems/s"}`,
	strings.Repeat(`[`, 100000), strings.Repeat(`{"a":`, 50000),
	`{"formationType":"side-by-side-extensibility-with-kyma","displayName":"F","environment":"CLOUD_FOUNDRY"}`,
	`{"formations":["x"],"assignments":[{"system":"y"}]}`,
}

// abuseQueries are query strings for the same purpose.
var abuseQueries = []string{
	"", "pageSize=-1", "pageSize=99999999999999999999", "pageSize=abc", "pageToken=%%%", "pageToken=AAAA",
	"filter=state%20%3D%20PENDING%20AND", "filter=" + url.QueryEscape(strings.Repeat("state = PENDING AND ", 500)) + "x",
	"filter=%00", "updateMask=name,state", "updateMask=..", "systemId=UPPER", "systemId=" + strings.Repeat("a", 300),
	"requestId=" + strings.Repeat("r", 65), "formationId=-x", "systemId=a&systemId=b", "unknown=1", "%zz",
}

// FuzzGatewayRequests sends fuzzed ids, queries and JSON bodies to every
// route; no combination may answer a 5xx. The seed corpus runs in CI;
//
//	go test -run '^$' -fuzz FuzzGatewayRequests -fuzztime 90s -fuzzminimizetime 3s ./services/landscape/e2e
//
// explores (each call is an HTTP round trip, so keep the minimization
// short: with the default 60 s the fuzzer seems to stall while it
// minimizes each new input).
func FuzzGatewayRequests(f *testing.F) {
	for i, b := range abuseSeeds {
		f.Add(uint8(i), "s-"+strconv.Itoa(i), abuseQueries[i%len(abuseQueries)], []byte(b), i%3 != 0)
	}
	for i, q := range abuseQueries {
		f.Add(uint8(i), "", q, []byte(`{}`), true)
	}
	for _, id := range []string{"", ".", "..", "%2F", "a/b", "UPPER", strings.Repeat("a", 2000), "\x00", "é", "sys-1:pair", "*"} {
		f.Add(uint8(3), id, "", []byte(nil), true)
		f.Add(uint8(15), id, "", []byte(`{"system":"globalAccounts/fuzz/systems/`+id+`"}`), true)
	}
	g := newGatewayTarget(f)
	f.Fuzz(func(t *testing.T, routeIdx uint8, id, query string, body []byte, withJWT bool) {
		g.try(t, routeIdx, id, query, body, withJWT)
	})
}

// TestGatewayMutatedRequests runs a fixed, seeded set of mutations of
// valid requests over every route (the fuzzer's corpus is small in CI;
// this gives volume) and counts them.
func TestGatewayMutatedRequests(t *testing.T) {
	t.Parallel()
	g := newGatewayTarget(t)
	valid := []string{
		`{"displayName":"Sys %d","type":"sap-successfactors","description":"d"}`,
		`{"displayName":"F %d","formationType":"eventing-between-sap-cloud-systems","environment":"KYMA"}`,
		`{"integrationToken":"lsit_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA000000","systemType":"sap-successfactors","baseUrl":"https://a.example.com","externalId":"e"}`,
		`{"system":"globalAccounts/fuzz/systems/s%d"}`,
		`{"integrationToken":"x","message":"m"}`,
		`{}`,
	}
	rng := rand.New(rand.NewPCG(8, 8))
	mutate := func(b []byte) []byte {
		b = append([]byte(nil), b...)
		for range 1 + rng.IntN(4) {
			if len(b) == 0 {
				b = append(b, byte(rng.IntN(256)))
				continue
			}
			i := rng.IntN(len(b))
			switch rng.IntN(6) {
			case 0: // flip a byte
				b[i] = byte(rng.IntN(256))
			case 1: // delete a byte
				b = append(b[:i], b[i+1:]...)
			case 2: // duplicate a slice
				j := i + rng.IntN(len(b)-i)
				b = append(b[:j], append(append([]byte(nil), b[i:j]...), b[j:]...)...)
			case 3: // insert a JSON token
				tok := []string{`"`, `{`, `}`, `[`, `]`, `,`, `:`, `null`, `1e999`, `-0`, `"\u0000"`, `true`}[rng.IntN(12)]
				b = append(b[:i], append([]byte(tok), b[i:]...)...)
			case 4: // truncate
				b = b[:i]
			case 5: // swap in another field's value type
				b = bytes.Replace(b, []byte(`"`), []byte(`1`), 1)
			}
		}
		return b
	}
	var bodies int
	const perRoute = 60
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for ri := range abuseRoutes {
		for k := range perRoute {
			base := fmt.Sprintf(valid[(ri+k)%len(valid)], k)
			body := mutate([]byte(base))
			q := abuseQueries[rng.IntN(len(abuseQueries))]
			id := []string{"s1", "UPPER", "a.b", "x" + strconv.Itoa(k), "", "-"}[rng.IntN(6)]
			withJWT := rng.IntN(5) != 0
			bodies++
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				g.try(t, uint8(ri), id, q, body, withJWT)
			})
		}
	}
	// The seed corpus too, once per route.
	for ri := range abuseRoutes {
		for _, s := range abuseSeeds {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				g.try(t, uint8(ri), "s1", "", []byte(s), true)
			})
		}
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("bad inputs: %d requests (%d mutated bodies, %d seeds x %d routes), none answered 5xx", g.tried.Load(), bodies, len(abuseSeeds), len(abuseRoutes))
}

// drip writes b to c once a second until stop is called or a write fails.
func drip(c io.Writer, b string) (stop func()) {
	done := make(chan struct{})
	go func() {
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				if _, err := io.WriteString(c, b); err != nil {
					return
				}
			}
		}
	}()
	return func() { close(done) }
}

// TestGatewaySlowClients: a client that sends its headers slowly is cut
// by ReadHeaderTimeout, one that sends its body slowly by ReadTimeout
// (gateway constants; not configurable, so the test waits for them), and
// while 50 such clients hang on, others are served.
func TestGatewaySlowClients(t *testing.T) {
	t.Parallel()
	g := newGatewayTarget(t)
	addr := g.st.HTTPAddr
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	// waitClosed reads until the server closes the connection and returns
	// how long that took after start, and what the server wrote.
	waitClosed := func(c net.Conn, start time.Time, limit time.Duration) (time.Duration, string) {
		_ = c.SetReadDeadline(start.Add(limit))
		b, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the server kept a slow connection open for more than %s", limit)
		}
		return time.Since(start), string(b)
	}

	var wg sync.WaitGroup
	// Slowloris: 50 connections that never finish their headers.
	for range 50 {
		c := dial()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			start := time.Now()
			// One header byte a second: each write keeps the connection
			// busy, but ReadHeaderTimeout counts from the first byte.
			stop := drip(c, "a")
			took, _ := waitClosed(c, start, gateway.ReadHeaderTimeout+10*time.Second)
			stop()
			if took < gateway.ReadHeaderTimeout-time.Second {
				t.Errorf("slow header cut after %s, before ReadHeaderTimeout %s", took, gateway.ReadHeaderTimeout)
			}
		})
	}
	// A slow body: headers at once, then a byte a second.
	slowBody := dial()
	wg.Go(func() {
		start := time.Now()
		hdr := "POST /v1/systems:pair HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
		if _, err := io.WriteString(slowBody, hdr); err != nil {
			t.Error(err)
			return
		}
		stop := drip(slowBody, " ")
		took, answer := waitClosed(slowBody, start, gateway.ReadTimeout+15*time.Second)
		stop()
		if took < gateway.ReadTimeout-2*time.Second {
			t.Errorf("slow body cut after %s, before ReadTimeout %s", took, gateway.ReadTimeout)
		}
		if strings.HasPrefix(answer, "HTTP/1.1 5") {
			t.Errorf("slow body answered %.40q", answer)
		}
		t.Logf("slow body: connection ended after %s (ReadTimeout %s), answer %.40q", took.Round(100*time.Millisecond), gateway.ReadTimeout, strings.SplitN(answer, "\r\n", 2)[0])
	})
	// Meanwhile ordinary clients are served.
	for i := range 20 {
		start := time.Now()
		r := httpCall(t, g.st.HTTP, "GET", g.st.BaseURL+"/v1/systemTypes", g.jwt, "")
		if r.Status != 200 {
			t.Fatalf("request %d during the slow clients: %d", i, r.Status)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("request %d took %s while slow clients hung on", i, d)
		}
	}
	wg.Wait()
}

// TestGatewayOversized: a 5 MB body is 413 REQUEST_TOO_LARGE, with or
// without Content-Length, on an authenticated and on a public route;
// 100 KB of headers are 431; nothing is a 5xx or a hang.
func TestGatewayOversized(t *testing.T) {
	t.Parallel()
	g := newGatewayTarget(t)
	big := `{"displayName":"` + strings.Repeat("x", 5<<20) + `","type":"sap-successfactors"}`
	for _, c := range []struct {
		name, path string
		chunked    bool
	}{
		{"register, Content-Length", "/v1/globalAccounts/fuzz/systems", false},
		{"register, chunked", "/v1/globalAccounts/fuzz/systems", true},
		{"pair, Content-Length", "/v1/systems:pair", false},
		{"pair, chunked", "/v1/systems:pair", true},
		{"just over 1 MiB, chunked", "/v1/systems:reportPairingFailure", true},
	} {
		body := big
		if strings.HasPrefix(c.name, "just over") {
			body = `{"message":"` + strings.Repeat("m", gateway.MaxBodyBytes) + `"}`
		}
		var rd io.Reader = strings.NewReader(body)
		if c.chunked {
			rd = io.MultiReader(rd) // hides the length: chunked encoding
		}
		req, _ := http.NewRequest("POST", g.st.BaseURL+c.path, rd)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+g.jwt)
		start := time.Now()
		res, err := g.st.HTTP.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge || bodyReason(b) != "REQUEST_TOO_LARGE" {
			t.Errorf("%s: %d %s %.200s", c.name, res.StatusCode, bodyReason(b), b)
		}
		t.Logf("%s: %d in %s", c.name, res.StatusCode, time.Since(start).Round(time.Millisecond))
	}
	// Headers over MaxHeaderBytes.
	c, err := net.Dial("tcp", g.st.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	go func() {
		_, _ = io.WriteString(c, "GET /v1/systemTypes HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("h", 100<<10)+"\r\n\r\n")
	}()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("oversized headers: %v", err)
	}
	if !strings.HasPrefix(line, "HTTP/1.1 431") {
		t.Errorf("oversized headers: %q", line)
	}
}

// TestGatewayPairRateLimit: the pairing budget per address holds for the
// two public routes together, answers 429 RATE_LIMITED with Retry-After,
// and X-Forwarded-For does not buy a new budget.
func TestGatewayPairRateLimit(t *testing.T) {
	t.Parallel()
	lb := newLogbook(t)
	st := stacktest.StartHealthy(t, stacktest.Options{PairRateLimit: 1, PairRateBurst: 5, Logger: lb.Logger()})
	var ok, limited int
	for i := range 30 {
		path := "/v1/systems:pair"
		if i%2 == 1 {
			path = "/v1/systems:reportPairingFailure"
		}
		req, _ := http.NewRequest("POST", st.BaseURL+path, strings.NewReader(`{"integrationToken":"`+wellFormedToken()+`","systemType":"sap-successfactors","message":"m"}`))
		req.Header.Set("X-Forwarded-For", "203.0.113."+strconv.Itoa(i))
		req.Header.Set("X-Real-IP", "203.0.113."+strconv.Itoa(i))
		res, err := st.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case res.StatusCode == 401 || res.StatusCode == 400:
			ok++
		case res.StatusCode == 429 && bodyReason(b) == "RATE_LIMITED" && res.Header.Get("Retry-After") != "":
			limited++
		default:
			t.Fatalf("request %d: %d %s", i, res.StatusCode, b)
		}
	}
	// Burst 5 plus at most a few refills during the loop.
	if ok > 10 || limited < 20 {
		t.Fatalf("rate limit: %d answered, %d limited (burst 5, 1/s)", ok, limited)
	}
	// Authenticated routes are not limited by the pairing budget.
	if r := httpCall(t, st.HTTP, "GET", st.BaseURL+"/v1/systemTypes", st.JWT("acme", string(authn.RoleSystemLandscapeViewer)), ""); r.Status != 200 {
		t.Fatalf("catalog while pairing is limited: %d", r.Status)
	}
}

// designID is the id pattern of docs/API.md, "Global accounts, callers and roles" and "Resources".
var designID = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

// plainName is a display name no reading of docs/API.md, "System lifecycle" refuses.
var plainName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ]{0,20}[A-Za-z0-9]$`)

// validDisplayName is docs/API.md, "System lifecycle": 1–128 printable characters, starting
// and ending with a letter or digit.
func validDisplayName(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	r := []rune(s)
	if len(r) < 1 || len(r) > 128 {
		return false
	}
	for _, c := range r {
		if !unicode.IsPrint(c) {
			return false
		}
	}
	alnum := func(c rune) bool { return unicode.IsLetter(c) || unicode.IsDigit(c) }
	return alnum(r[0]) && alnum(r[len(r)-1])
}

// FuzzGatewayIDsAndNames registers systems with fuzzed caller-given ids
// and display names through the gateway: what is accepted follows the
// id pattern and the display name rules, a plainly valid pair is never
// refused as invalid, and nothing is a 5xx.
func FuzzGatewayIDsAndNames(f *testing.F) {
	for _, s := range []struct{ id, name string }{
		{"sys-1", "SF prod"}, {"", "No id"}, {"a", "a"}, {"A", "Upper id"}, {"1a", "digit first"}, {"a-", "dash last"},
		{strings.Repeat("a", 63), "longest id"}, {strings.Repeat("a", 64), "too long id"}, {"a_b", "underscore"},
		{"ok-id", " leading space"}, {"ok-id2", "trailing space "}, {"ok-id3", strings.Repeat("n", 128)},
		{"ok-id4", strings.Repeat("n", 129)}, {"ok-id5", "tab\tinside"}, {"ok-id6", "Ümlaut Ärger"}, {"ok-id7", "日本語"},
		{"ok-id8", "-dash"}, {"ok-id9", "emoji 🙂"}, {"ok-id10", "\u200bzero width"}, {"ok-id11", "a\u0000b"},
		{"é", "accent id"}, {"a..b", "dots"}, {"a/b", "slash"}, {"a%2Fb", "escaped"},
	} {
		f.Add(s.id, s.name)
	}
	g := newGatewayTarget(f)
	f.Fuzz(func(t *testing.T, id, name string) {
		q := ""
		if id != "" {
			q = "?systemId=" + url.QueryEscape(id)
		}
		body, _ := json.Marshal(map[string]string{"displayName": name, "type": systemTypes[g.tried.Load()%int64(len(systemTypes))]})
		g.tried.Add(1)
		r := httpCall(t, g.st.HTTP, "POST", g.st.BaseURL+"/v1/globalAccounts/fuzz/systems"+q, g.jwt, string(body))
		switch {
		case r.Status == 200:
			out, err := keepRegistration(g.lb, r.Body)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.TrimPrefix(out.System.Name, "globalAccounts/fuzz/systems/")
			if !designID.MatchString(got) || (id != "" && got != id) {
				t.Fatalf("id %q accepted as %q", id, got)
			}
			if !validDisplayName(out.System.DisplayName) {
				t.Fatalf("display name %q accepted (stored %q)", name, out.System.DisplayName)
			}
		case r.Status == 400 && r.Reason == "INVALID_ARGUMENT":
			if (id == "" || designID.MatchString(id)) && plainName.MatchString(name) {
				t.Fatalf("valid id %q and display name %q refused: %s", id, name, r.Body)
			}
		case r.Status == 400 && r.Reason == "MALFORMED_REQUEST":
			// json.Marshal replaced invalid UTF-8; the gateway may still refuse.
		case r.Status == 409 && (r.Reason == "SYSTEM_ID_TAKEN" || r.Reason == "SYSTEM_NAME_TAKEN"):
		case r.Status == 429 && r.Reason == "TOKEN_QUOTA_EXCEEDED":
		default:
			t.Fatalf("id %q, display name %q: %d %s %.200s", id, name, r.Status, r.Reason, r.Body)
		}
	})
}

// TestBadInputIsAlways4xx sends bad input to every route of docs/API.md, "Routes"
// through the gateway of a real stack: malformed JSON, unknown fields,
// wrong types, a 5 MB body, negative or huge pageSize, odd characters in
// ids, broken filters and masks. Every answer must be a 4xx with the JSON
// status body and a reason; never a 5xx, never a hang (the client has a
// deadline).
func TestBadInputIsAlways4xx(t *testing.T) {
	t.Parallel()
	s := stacktest.StartHealthy(t, stacktest.Options{})
	w := walkTarget{baseURL: s.BaseURL, jwt: s.AdminJWT("bad")}

	// A system and a formation to aim at.
	code, body := walkCall(t, w, "POST", "/v1/globalAccounts/bad/systems?systemId=s1", `{"displayName":"S1","type":"sap-commerce-cloud"}`, true)
	walkWant(t, "register", code, 200, body)
	code, body = walkCall(t, w, "POST", "/v1/globalAccounts/bad/formations?formationId=f1", `{"displayName":"F1","formationType":"eventing-between-sap-cloud-systems"}`, true)
	walkWant(t, "create formation", code, 200, body)

	big := `{"displayName":"` + strings.Repeat("x", 5<<20) + `"}`
	bodies := []string{`{"displayName":`, `{"nope":1}`, `[1]`, `"str"`, `{"displayName":5}`, `{"displayName":{"a":1}}`,
		`{"system":5}`, `{"integrationToken":["a"]}`, `{"environment":"MARS"}`, "{\"displayName\":\"\xff\"}", big}
	oddIDs := []string{"%E2%80%8B", "a..b", "UPPER", strings.Repeat("x", 300), "a%2Fb", "%00", "%27%3B%20DROP", "%F0%9F%98%80", "-", "a%20b", "%25"}

	type req struct{ method, path, body string }
	var reqs []req
	add := func(method, path, body string) { reqs = append(reqs, req{method, path, body}) }

	bodyRoutes := []req{
		{"POST", "/v1/globalAccounts/bad/systems", ""},
		{"PATCH", "/v1/globalAccounts/bad/systems/s1", ""},
		{"POST", "/v1/globalAccounts/bad/systems/s1:generateIntegrationToken", ""},
		{"POST", "/v1/systems:pair", ""},
		{"POST", "/v1/systems:reportPairingFailure", ""},
		{"POST", "/v1/globalAccounts/bad/formations", ""},
		{"PATCH", "/v1/globalAccounts/bad/formations/f1", ""},
		{"POST", "/v1/globalAccounts/bad/formations/f1:assignSystem", ""},
		{"POST", "/v1/globalAccounts/bad/formations/f1:unassignSystem", ""},
	}
	for _, r := range bodyRoutes {
		for _, b := range bodies {
			add(r.method, r.path, b)
		}
	}
	for _, id := range oddIDs {
		add("GET", "/v1/globalAccounts/bad/systems/"+id, "")
		add("PATCH", "/v1/globalAccounts/bad/systems/"+id, `{"description":"x"}`)
		add("DELETE", "/v1/globalAccounts/bad/systems/"+id, "")
		add("POST", "/v1/globalAccounts/bad/systems/"+id+":generateIntegrationToken", `{}`)
		add("GET", "/v1/globalAccounts/bad/formations/"+id, "")
		add("DELETE", "/v1/globalAccounts/bad/formations/"+id, "")
		add("POST", "/v1/globalAccounts/bad/formations/"+id+":assignSystem", `{"system":"globalAccounts/bad/systems/s1"}`)
		add("POST", "/v1/globalAccounts/bad/formations/f1:assignSystem", `{"system":"globalAccounts/bad/systems/`+id+`"}`)
		add("GET", "/v1/globalAccounts/"+id+"/systems", "")
		add("POST", "/v1/globalAccounts/bad/systems?systemId="+id, `{"displayName":"Odd","type":"sap-commerce-cloud"}`)
		add("POST", "/v1/globalAccounts/bad/formations?formationId="+id, `{"displayName":"Odd","formationType":"eventing-between-sap-cloud-systems"}`)
	}
	for _, list := range []string{"/v1/globalAccounts/bad/systems", "/v1/globalAccounts/bad/formations"} {
		for _, q := range []string{"pageSize=-1", "pageSize=-99999999999", "pageSize=99999999999", "pageSize=abc", "pageSize=1e3",
			"pageToken=garbage", "pageToken=%FF%FE", "pageToken=" + strings.Repeat("A", 4000),
			"filter=state%20%3D%20NOPE", "filter=(((", "filter=type%20%3D%20%22", "filter=nope%20%3D%201", "filter=" + strings.Repeat("state%20%3D%20PENDING%20AND%20", 500) + "x"} {
			add("GET", list+"?"+q, "")
		}
	}
	for _, q := range []string{"updateMask=nope", "updateMask=name", "updateMask=,,", "updateMask=displayName&etag=1"} {
		add("PATCH", "/v1/globalAccounts/bad/systems/s1?"+q, `{"displayName":"S1 new","etag":"\"999\""}`)
		add("PATCH", "/v1/globalAccounts/bad/formations/f1?"+q, `{"displayName":"F1 new","etag":"\"999\""}`)
	}
	add("POST", "/v1/globalAccounts/bad/systems?requestId="+strings.Repeat("r", 65), `{"displayName":"R","type":"sap-commerce-cloud"}`)
	add("POST", "/v1/globalAccounts/bad/systems?requestId=bad%20id", `{"displayName":"R","type":"sap-commerce-cloud"}`)
	add("POST", "/v1/globalAccounts/bad/systems", `{"displayName":"`+strings.Repeat("n", 200)+`","type":"sap-commerce-cloud"}`)
	add("POST", "/v1/globalAccounts/bad/systems", `{"displayName":" lead","type":"nope"}`)
	add("POST", "/v1/systems:pair", `{"integrationToken":"lsit_`+strings.Repeat("A", 49)+`","systemType":"sap-commerce-cloud"}`)
	add("POST", "/v1/systems:pair", `{"integrationToken":""}`)
	add("GET", "/v1/nothing", "")
	add("PUT", "/v1/systemTypes", `{}`)

	for _, r := range reqs {
		code, body := walkCall(t, w, r.method, r.path, r.body, true)
		short := r.path
		if len(short) > 120 {
			short = short[:120] + "…"
		}
		if code < 400 || code > 499 {
			t.Errorf("%s %s (body %.60q): HTTP %d, want a 4xx: %.300s", r.method, short, r.body, code, body)
			continue
		}
		var st struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Details []struct {
				Reason string `json:"reason"`
			} `json:"details"`
		}
		if err := json.Unmarshal(body, &st); err != nil || st.Message == "" || len(st.Details) == 0 || st.Details[0].Reason == "" {
			t.Errorf("%s %s: HTTP %d without the JSON status body and a reason: %.300s", r.method, short, code, body)
		}
		if strings.Contains(string(body), "lsit_") {
			t.Errorf("%s %s: the answer echoes a token", r.method, short)
		}
	}
	t.Logf("%d bad requests sent", len(reqs))

	// The limits that do take big values.
	code, body = walkCall(t, w, "GET", "/v1/globalAccounts/bad/systems?pageSize=2000", "", true)
	if code != http.StatusOK {
		t.Errorf("pageSize=2000 (treated as 1000): HTTP %d: %s", code, body)
	}
}
