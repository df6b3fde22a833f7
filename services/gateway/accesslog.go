package gateway

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
)

// requestInfo is what the access log learns while a request is handled.
// route is set and read on the request's goroutine (grpc-gateway runs its
// middlewares and unary handlers on the calling goroutine), so it needs no
// lock.
type requestInfo struct {
	route    string // the route pattern, e.g. /v1/{name=globalAccounts/*/systems/*}
	tooLarge atomic.Bool
}

type infoKey struct{}

func infoOf(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(infoKey{}).(*requestInfo)
	return ri
}

// setRoute records the route pattern of r for the access log.
func setRoute(r *http.Request, route string) {
	if ri := infoOf(r.Context()); ri != nil {
		ri.route = route
	}
}

// recordRoute is a grpc-gateway middleware that records the matched
// pattern (never the path itself, which holds ids).
func recordRoute(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if p, ok := runtime.HTTPPattern(r.Context()); ok {
			setRoute(r, p.String())
		}
		next(w, r, params)
	}
}

// statusWriter counts what is written.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush passes a flush on.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// accessLog logs one line per request: method, route pattern, status,
// duration and response bytes. It never logs the body, the query (which
// could hold a token), the path (ids) or any header.
func (g *Gateway) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{}
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, ri))
		defer func() {
			route := ri.route
			if route == "" {
				route = "(no route)"
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			g.logger.LogAttrs(r.Context(), level, "http request",
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Duration("duration", time.Since(start)),
				slog.Int64("bytes", sw.bytes),
			)
		}()
		next.ServeHTTP(sw, r)
	})
}

// clientAddr is the host of the request's RemoteAddr: the address the rate
// limit counts. X-Forwarded-For is deliberately not trusted (any client can
// set it); behind a proxy, the proxy's address is the client.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
