package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// requestInfo is what the access log learns while a request is handled.
// route is set and read on the request's goroutine (grpc-gateway runs its
// middlewares and unary handlers on the calling goroutine), so it needs no
// lock.
type requestInfo struct {
	route    string // the route pattern, e.g. /v1/{name=globalAccounts/*/systems/*}
	tooLarge atomic.Bool
	// sub and ga name the caller of a request the gateway authenticates
	// itself (the event watch); the services log the callers of the rest.
	sub, ga string
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
			elapsed := time.Since(start)
			method := methodLabel(r.Method)
			g.metrics.observe(method, route, status, elapsed)
			// The server span (when tracing) is named after the route, never the path.
			if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
				span.SetName(method + " " + route)
				span.SetAttributes(attribute.String("http.route", route))
			}
			attrs := []slog.Attr{
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Duration("duration", elapsed),
				slog.Int64("bytes", sw.bytes),
			}
			if ri.sub != "" {
				attrs = append(attrs, slog.String("sub", ri.sub), slog.String("ga", ri.ga))
			}
			g.logger.LogAttrs(r.Context(), level, "http request", attrs...)
		}()
		next.ServeHTTP(sw, r)
	})
}
