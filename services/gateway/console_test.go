package gateway_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/landscape-dev/landscape/services/gateway"
)

// consoleFS is a small console: the HTML, a hashed script, a favicon.
var consoleFS = fstest.MapFS{
	"index.html":              {Data: []byte(`<!doctype html><script type="module" src="/console/assets/index-AbC123.js"></script>`)},
	"assets/index-AbC123.js":  {Data: bytes.Repeat([]byte("console.log('landscape');\n"), 200)},
	"assets/index-AbC123.css": {Data: []byte("body{margin:0}")},
	"favicon.svg":             {Data: []byte("<svg xmlns='http://www.w3.org/2000/svg'/>")},
}

func getWith(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// A transport that leaves Accept-Encoding as the test sets it.
	res, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

func TestConsoleServing(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *gateway.Config) { c.Console = consoleFS })

	cases := []struct {
		path, status, ctype, cache string
		body                       string // a part of the body
	}{
		{"/", "200", "text/html; charset=utf-8", "no-cache", "<!doctype html>"},
		{"/index.html", "200", "text/html; charset=utf-8", "no-cache", "<!doctype html>"},
		// A console path that is no file is the HTML (SPA fallback)...
		{"/console/systems/sf-prod", "200", "text/html; charset=utf-8", "no-cache", "<!doctype html>"},
		{"/console/assets/index-AbC123.js", "200", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "console.log"},
		{"/console/assets/index-AbC123.css", "200", "text/css; charset=utf-8", "public, max-age=31536000, immutable", "margin"},
		{"/console/favicon.svg", "200", "image/svg+xml", "no-cache", "<svg"},
		// ...but a missing hashed file is a 404, never the HTML.
		{"/console/assets/index-gone.js", "404", "text/plain; charset=utf-8", "no-cache", "not found"},
	}
	for _, c := range cases {
		res, b := getWith(t, e.url+c.path)
		if got := itoa(res.StatusCode); got != c.status {
			t.Errorf("GET %s: %s, want %s", c.path, got, c.status)
		}
		if got := res.Header.Get("Content-Type"); got != c.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", c.path, got, c.ctype)
		}
		if got := res.Header.Get("Cache-Control"); got != c.cache {
			t.Errorf("GET %s: Cache-Control %q, want %q", c.path, got, c.cache)
		}
		if !strings.Contains(string(b), c.body) {
			t.Errorf("GET %s: body %.60q lacks %q", c.path, b, c.body)
		}
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
			t.Errorf("GET %s: Content-Security-Policy %q", c.path, csp)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", c.path)
		}
	}
}

// The API's own paths never fall back to the console's HTML.
func TestConsoleNeverAnswersAPIPaths(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *gateway.Config) { c.Console = consoleFS })
	for _, p := range []string{"/v1/nothing", "/v1/", "/metrics", "/consolex", "/systems", "/favicon.ico"} {
		res, b := getWith(t, e.url+p)
		if strings.Contains(string(b), "<!doctype html>") || strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s answered with the console: %d %s", p, res.StatusCode, b)
		}
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}
	res, b := getWith(t, e.url+"/healthz")
	if res.StatusCode != 200 || strings.Contains(string(b), "<!doctype") {
		t.Errorf("/healthz: %d %s", res.StatusCode, b)
	}
	res, b = getWith(t, e.url+"/openapi.json")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" || b[0] != '{' {
		t.Errorf("/openapi.json: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

func TestConsoleGzipAndRevalidation(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *gateway.Config) { c.Console = consoleFS })
	url := e.url + "/console/assets/index-AbC123.js"
	res, b := getWith(t, url, "Accept-Encoding", "br, gzip")
	if res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("gzip: Content-Encoding %q Vary %q", res.Header.Get("Content-Encoding"), res.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(plain, consoleFS["assets/index-AbC123.js"].Data) {
		t.Fatalf("gunzipped body differs (%v)", err)
	}
	if len(b) >= len(plain) {
		t.Errorf("gzip did not shrink: %d >= %d", len(b), len(plain))
	}
	res, b = getWith(t, url, "Accept-Encoding", "gzip;q=0")
	if res.Header.Get("Content-Encoding") != "" || !bytes.Equal(b, plain) {
		t.Errorf("gzip;q=0 still compressed")
	}
	etag := res.Header.Get("ETag")
	if !regexp.MustCompile(`^"[A-Za-z0-9_-]+"$`).MatchString(etag) {
		t.Fatalf("ETag %q", etag)
	}
	res, _ = getWith(t, e.url+"/", "If-None-Match", etag)
	if res.StatusCode != 200 {
		t.Errorf("another file's ETag matched the HTML: %d", res.StatusCode)
	}
	res, b = getWith(t, url, "If-None-Match", etag)
	if res.StatusCode != http.StatusNotModified || len(b) != 0 {
		t.Errorf("If-None-Match: %d, %d bytes", res.StatusCode, len(b))
	}
	// Only GET and HEAD.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+"/", nil)
	pr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pr.Body.Close()
	if pr.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", pr.StatusCode)
	}
}

// The binary's own console: index.html refers to hashed files that are
// there, and no inline script is in it.
func TestEmbeddedConsole(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	res, b := getWith(t, e.url+"/")
	if res.StatusCode != 200 {
		t.Fatalf("GET /: %d", res.StatusCode)
	}
	if regexp.MustCompile(`<script(?:\s+[^>]*)?>\s*[^<\s]`).Match(b) {
		t.Errorf("index.html has an inline script: %s", b)
	}
	refs := regexp.MustCompile(`(?:src|href)="(/console/[^"]+)"`).FindAllSubmatch(b, -1)
	if len(refs) < 2 {
		t.Fatalf("index.html refers to %d console files: %s", len(refs), b)
	}
	for _, r := range refs {
		res, _ := getWith(t, e.url+string(r[1]))
		if res.StatusCode != 200 {
			t.Errorf("GET %s: %d", r[1], res.StatusCode)
		}
	}
}
