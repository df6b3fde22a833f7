package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
)

// handleError writes a failed call as the JSON status body
// {"code","message","details"} (docs/API.md, "Errors"). Errors from a service carry
// their ErrorInfo (and BadRequest) already and pass through with the HTTP
// status of their code. Errors grpc-gateway raises itself before any
// service is called (a body or parameter it cannot decode) carry no
// ErrorInfo: they become MALFORMED_REQUEST, or REQUEST_TOO_LARGE when the
// body went over the limit.
func (g *Gateway) handleError(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if isTooLarge(r) {
		writeRefusal(w, r, refusalTooLarge())
		return
	}
	var hse *runtime.HTTPStatusError
	if errors.As(err, &hse) {
		if hse.HTTPStatus >= 400 && hse.HTTPStatus < 500 {
			writeRefusal(w, r, malformed(hse.Err))
			return
		}
		err = hse.Err
	}
	st := status.Convert(err)
	if st.Code() == codes.OK { // cannot happen; never answer 200 for an error
		st = status.New(codes.Internal, "internal error")
	}
	reason := grpcserver.ErrorInfo(st).GetReason()
	if reason == "" {
		// A status without an ErrorInfo did not come from a service's
		// interceptors (they map every error, grpcserver.Status).
		if ts, ok := grpcserver.TransportStatus(st.Code()); ok {
			st = ts // the service could not be reached or the call ran out of time
		} else {
			switch st.Code() {
			case codes.InvalidArgument:
				// Only grpc-gateway's decoding answers InvalidArgument
				// without an ErrorInfo.
				writeRefusal(w, r, malformed(err))
				return
			case codes.Unimplemented:
				// Kept as is: the server does not offer this RPC.
			default:
				g.logger.ErrorContext(ctx, "service answered without an ErrorInfo", "code", st.Code().String())
				st = appStatus(apperr.Internal, "internal error")
			}
		}
	}
	httpStatus := runtime.HTTPStatusFromCode(st.Code())
	// A status rebuilt above never has reason RATE_LIMITED.
	if st.Code() == codes.ResourceExhausted && reason == string(apperr.RateLimited) {
		w.Header().Set("Retry-After", "1")
	}
	writeStatus(w, r, httpStatus, st)
}

// handleRoutingError answers a path no route knows (404) or a known path
// with another method (405), both with reason ROUTE_NOT_FOUND.
func (g *Gateway) handleRoutingError(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if httpStatus == http.StatusMethodNotAllowed && !g.templates.known(r.URL.Path) {
		// An unknown custom method on a resource (…/systems/s1:explode):
		// no route, whatever the method.
		httpStatus = http.StatusNotFound
	}
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		writeRefusal(w, r, refusalMethod(r))
	case http.StatusNotFound:
		writeRefusal(w, r, refusal{
			http: grpcserver.HTTPStatus(apperr.RouteNotFound),
			st:   appStatus(apperr.RouteNotFound, "no route "+r.Method+" "+safePath(r)+": see /openapi.json for the routes"),
		})
	default: // 400: a path that does not start with "/"
		writeRefusal(w, r, malformed(errors.New("the request path is not valid")))
	}
}

// refusal is an answer of the gateway itself: an HTTP status and the
// status body.
type refusal struct {
	http int
	st   *status.Status
}

func refusalTooLarge() refusal {
	return refusal{
		http: grpcserver.HTTPStatus(apperr.RequestTooLarge),
		st: appStatus(apperr.RequestTooLarge,
			"the request body is larger than "+strconv.Itoa(MaxBodyBytes)+" bytes (1 MiB)",
			"limitBytes", strconv.Itoa(MaxBodyBytes)),
	}
}

func refusalMethod(r *http.Request) refusal {
	return refusal{
		http: http.StatusMethodNotAllowed,
		st: appStatus(apperr.RouteNotFound,
			"method "+r.Method+" is not allowed on "+safePath(r)+": see /openapi.json for the routes"),
	}
}

// malformed is MALFORMED_REQUEST (400) with what was wrong.
func malformed(err error) refusal {
	msg := "the request is malformed"
	if err != nil {
		detail := status.Convert(err).Message()
		if detail == "" {
			detail = err.Error()
		}
		msg += ": " + cleanDecodeMessage(detail)
	}
	return refusal{
		http: grpcserver.HTTPStatus(apperr.MalformedRequest),
		st:   appStatus(apperr.MalformedRequest, msg),
	}
}

// secretPattern finds integration tokens and JWT-like strings, which must
// never be echoed in an error (docs/API.md, "Integration tokens" and "Errors").
var secretPattern = regexp.MustCompile(`lsit_[0-9A-Za-z]*|eyJ[0-9A-Za-z_\-]*(\.[0-9A-Za-z_\-]*)*`)

// protoFieldPattern finds proto field names in grpc-gateway's parameter
// errors ("parsing field \"page_size\""), shown in their JSON form.
var protoFieldPattern = regexp.MustCompile(`field "[a-z0-9_.]+"`)

// lowerCamel turns page_size into pageSize (and a.b_c into a.bC).
func lowerCamel(s string) string {
	var b strings.Builder
	up := false
	for _, r := range s {
		if r == '_' {
			up = true
			continue
		}
		if up && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}

// cleanDecodeMessage makes a decoder message readable and safe: no
// "proto:" prefix, no secrets, bounded length.
func cleanDecodeMessage(m string) string {
	m = strings.TrimPrefix(m, "proto:")
	m = strings.TrimSpace(strings.ReplaceAll(m, "\u00a0", " "))
	m = secretPattern.ReplaceAllString(m, "[redacted]")
	m = protoFieldPattern.ReplaceAllStringFunc(m, func(f string) string {
		return `field "` + lowerCamel(strings.TrimSuffix(strings.TrimPrefix(f, `field "`), `"`)) + `"`
	})
	if len(m) > 300 {
		m = m[:300] + "…"
	}
	if m == "" || m == "EOF" || strings.Contains(m, "unexpected EOF") {
		return "the JSON body is incomplete: " + m
	}
	return m
}

// safePath is the request path for a message, bounded and without secrets.
func safePath(r *http.Request) string {
	p := secretPattern.ReplaceAllString(r.URL.Path, "[redacted]")
	if len(p) > 200 {
		p = p[:200] + "…"
	}
	return strconv.Quote(p)
}

// appStatus is the status a service would answer for reason: the code of
// the reason, msg, and an ErrorInfo of domain "landscape" with the metadata
// given as key, value pairs.
func appStatus(reason apperr.Reason, msg string, kv ...string) *status.Status {
	return grpcserver.Status(apperr.New(reason, msg, kv...))
}

func writeRefusal(w http.ResponseWriter, r *http.Request, f refusal) {
	writeStatus(w, r, f.http, f.st)
}

// writeRateLimited answers 429 RATE_LIMITED with Retry-After (seconds).
func writeRateLimited(w http.ResponseWriter, r *http.Request, retryAfterSeconds int) {
	if retryAfterSeconds < 1 {
		retryAfterSeconds = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	writeStatus(w, r, grpcserver.HTTPStatus(apperr.RateLimited), appStatus(apperr.RateLimited,
		"too many pairing requests from this address; retry after "+strconv.Itoa(retryAfterSeconds)+"s",
		"retryAfterSeconds", strconv.Itoa(retryAfterSeconds)))
}

// writeStatus writes the JSON status body.
func writeStatus(w http.ResponseWriter, r *http.Request, httpStatus int, st *status.Status) {
	body, err := jsonMarshaler.Marshal(st.Proto())
	if err != nil {
		body = []byte(`{"code":13,"message":"internal error"}`)
		httpStatus = http.StatusInternalServerError
	}
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(httpStatus)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// limitedBody records that the body went over MaxBodyBytes, which the
// decoder's error no longer says once grpc-gateway turned it into a status.
type limitedBody struct {
	io.ReadCloser
	flag *atomic.Bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var mbe *http.MaxBytesError
	if err != nil && errors.As(err, &mbe) && b.flag != nil {
		b.flag.Store(true)
	}
	return n, err
}

func tooLargeFlag(r *http.Request) *atomic.Bool {
	if ri := infoOf(r.Context()); ri != nil {
		return &ri.tooLarge
	}
	return nil
}

func isTooLarge(r *http.Request) bool {
	ri := infoOf(r.Context())
	return ri != nil && ri.tooLarge.Load()
}
