package gateway

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

// The console (docs/API.md, "Web console") is served at / (its HTML) and
// below /console/ (its built files). No other path reaches it, so /v1,
// /healthz, /openapi.json and /metrics never fall back to the HTML.
const (
	consolePrefix = "/console/"
	// consoleAssets holds the files whose names carry a content hash.
	consoleAssets = "/console/assets/"
)

// consoleCSP allows the console's own scripts, styles, images and fonts and
// its calls to the API; no inline script, no framing. UI5 Web Components
// write their theme's CSS variables into style elements, hence the
// 'unsafe-inline' for styles only.
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// consoleTypes are the media types of the console's files, fixed here
// rather than taken from the machine's mime.types.
var consoleTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".svg":   "image/svg+xml",
	".json":  "application/json",
	".png":   "image/png",
	".woff2": "font/woff2",
	".map":   "application/json",
}

// compressible names the types worth gzipping.
var compressible = map[string]bool{".html": true, ".js": true, ".css": true, ".svg": true, ".json": true, ".map": true}

// consoleFile is one built file, read once, with its gzip form made on
// first use.
type consoleFile struct {
	body    []byte
	etag    string
	ctype   string
	once    sync.Once
	gzipped []byte // nil when gzip does not make it smaller
}

func (f *consoleFile) gz() []byte {
	f.once.Do(func() {
		var b bytes.Buffer
		w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		_, _ = w.Write(f.body)
		_ = w.Close()
		if b.Len() < len(f.body) {
			f.gzipped = b.Bytes()
		}
	})
	return f.gzipped
}

// console serves the embedded console files.
type console struct {
	files map[string]*consoleFile // by path below the console's root: "index.html", "assets/x.js"
}

// newConsole reads every file of fsys. A nil fsys serves no console.
func newConsole(fsys fs.FS) (*console, error) {
	c := &console{files: map[string]*consoleFile{}}
	if fsys == nil {
		return c, nil
	}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ctype, ok := consoleTypes[path.Ext(p)]
		if !ok {
			ctype = "application/octet-stream"
		}
		c.files[p] = &consoleFile{body: body, ctype: ctype, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	return c, err
}

// isConsolePath reports whether the console answers for p: / and
// /index.html (the HTML) and everything below /console/.
func isConsolePath(p string) bool {
	return p == "/" || p == "/index.html" || strings.HasPrefix(p, consolePrefix) || p == "/console"
}

func (c *console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setRoute(r, "/console")
	if !getOrHead(w, r) {
		return
	}
	p := r.URL.Path
	name := "index.html"
	immutable := false
	switch {
	case p == "/console":
		http.Redirect(w, r, "/", http.StatusMovedPermanently)
		return
	case strings.HasPrefix(p, consoleAssets):
		// Hashed files: a missing one is a 404, never the HTML (a script
		// tag must not receive a page).
		name = strings.TrimPrefix(p, consolePrefix)
		immutable = true
	case strings.HasPrefix(p, consolePrefix):
		// Other files below /console/ (favicon.svg); a path that is no
		// file is a console page: the HTML (the console routes by the
		// fragment, but a pasted path still opens it).
		if _, ok := c.files[strings.TrimPrefix(p, consolePrefix)]; ok {
			name = strings.TrimPrefix(p, consolePrefix)
		}
	}
	f, ok := c.files[name]
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Frame-Options", "DENY")
	if !ok {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("not found\n"))
		return
	}
	h.Set("Content-Type", f.ctype)
	if immutable {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("ETag", f.etag)
	body := f.body
	if compressible[path.Ext(name)] {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			if gz := f.gz(); gz != nil {
				h.Set("Content-Encoding", "gzip")
				body = gz
			}
		}
	}
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// acceptsGzip reports whether the client takes gzip (q=0 refuses it).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") || strings.TrimSpace(enc) == "*" {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
