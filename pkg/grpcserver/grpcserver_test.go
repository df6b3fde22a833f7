package grpcserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

const testService = "landscape.test.v1.TestService"

// testImpl answers Do according to the request text; "slow" waits for
// release (or the call's end).
type testImpl struct {
	started chan struct{}
	release chan struct{}
}

// doer is the handler type of the test service.
type doer interface {
	Do(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error)
}

func (s *testImpl) Do(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	switch in.GetValue() {
	case "panic":
		panic("boom in handler")
	case "notfound":
		return nil, apperr.New(apperr.SystemNotFound, "system not found", "system", "globalAccounts/a/systems/b")
	case "invalid":
		return nil, apperr.Invalid("system.displayName", "must not be empty")
	case "internal":
		return nil, apperr.Internalf("decode record: secret-cause-xyz")
	case "whoami":
		c, ok := authn.FromContext(ctx)
		if !ok {
			return wrapperspb.String("nobody"), nil
		}
		return wrapperspb.String(c.Subject), nil
	case "slow":
		close(s.started)
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return wrapperspb.String("done:" + in.GetValue()), nil
}

var testDesc = descFor(testService)

// descFor describes a service with one method, Do, answered by testImpl.
func descFor(service string) grpc.ServiceDesc {
	return grpc.ServiceDesc{
		ServiceName: service,
		HandlerType: (*doer)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Do",
			Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
				in := new(wrapperspb.StringValue)
				if err := dec(in); err != nil {
					return nil, err
				}
				info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + service + "/Do"}
				h := func(ctx context.Context, req any) (any, error) {
					return srv.(doer).Do(ctx, req.(*wrapperspb.StringValue))
				}
				if icpt == nil {
					return h(ctx, in)
				}
				return icpt(ctx, in, info, h)
			},
		}},
	}
}

// logLines decodes the JSON log lines of logs.
func logLines(t *testing.T, logs *testkit.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// running is a Server serving on a loopback port for a test.
type running struct {
	addr   string
	cancel context.CancelFunc // ends Serve's context
	served chan error         // Serve's result
	once   sync.Once
	err    error
}

// serve runs srv on a loopback port; it is stopped at the end of the test.
func serve(t *testing.T, srv *Server) *running {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{addr: lis.Addr().String(), cancel: cancel, served: make(chan error, 1)}
	go func() { r.served <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() { _ = r.stop() })
	return r
}

// stop ends Serve's context and returns what Serve returned.
func (r *running) stop() error {
	r.cancel()
	r.once.Do(func() { r.err = <-r.served })
	return r.err
}

// dial connects to addr without transport security, closed at the end of
// the test.
func dial(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

type harness struct {
	srv  *Server
	impl *testImpl
	conn *grpc.ClientConn
	logs *testkit.Buffer
	run  *running
}

// start runs a server with the test service on 127.0.0.1:0.
func start(t *testing.T) *harness {
	t.Helper()
	logs := &testkit.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := &harness{
		srv:  New(logger, nil),
		impl: &testImpl{started: make(chan struct{}), release: make(chan struct{})},
		logs: logs,
	}
	h.srv.Register(&testDesc, h.impl, map[string]authn.Policy{"Do": authn.Public})
	h.run = serve(t, h.srv)
	h.conn = dial(t, h.run.addr)
	return h
}

func (h *harness) do(ctx context.Context, what string) (*wrapperspb.StringValue, error) {
	out := new(wrapperspb.StringValue)
	err := h.conn.Invoke(ctx, "/"+testService+"/Do", wrapperspb.String(what), out)
	return out, err
}

func (h *harness) health(ctx context.Context, service string) (healthpb.HealthCheckResponse_ServingStatus, error) {
	r, err := healthpb.NewHealthClient(h.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	return r.GetStatus(), err
}

// logFor returns the log line of the call that ended with code/reason.
func (h *harness) logFor(t *testing.T, msg, code string) map[string]any {
	t.Helper()
	for _, l := range logLines(t, h.logs) {
		if l["msg"] == msg && l["code"] == code {
			return l
		}
	}
	t.Fatalf("no %q line with code %s in:\n%s", msg, code, h.logs.String())
	return nil
}

func TestCallsEndToEnd(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := t.Context()

	out, err := h.do(ctx, "hello-body-text")
	if err != nil || out.GetValue() != "done:hello-body-text" {
		t.Fatalf("Do = %v, %v", out, err)
	}

	tests := []struct {
		what, msg string
		code      codes.Code
		reason    apperr.Reason
		level     string
		badReq    bool
	}{
		{what: "notfound", msg: "system not found", code: codes.NotFound, reason: apperr.SystemNotFound, level: "WARN"},
		{what: "invalid", msg: "invalid system.displayName: must not be empty", code: codes.InvalidArgument, reason: apperr.InvalidArgument, level: "WARN", badReq: true},
		{what: "internal", msg: "internal error", code: codes.Internal, reason: apperr.Internal, level: "ERROR"},
		{what: "panic", msg: "internal error", code: codes.Internal, reason: apperr.Internal, level: "ERROR"},
	}
	for _, tt := range tests {
		_, err := h.do(ctx, tt.what)
		st := status.Convert(err)
		if st.Code() != tt.code || st.Message() != tt.msg {
			t.Errorf("%s: status = %v %q, want %v %q", tt.what, st.Code(), st.Message(), tt.code, tt.msg)
		}
		info := ErrorInfo(st)
		if info.GetDomain() != Domain || info.GetReason() != string(tt.reason) {
			t.Errorf("%s: ErrorInfo = %v", tt.what, info)
		}
		if (badRequest(st) != nil) != tt.badReq {
			t.Errorf("%s: BadRequest = %v, want present %v", tt.what, badRequest(st), tt.badReq)
		}
		if strings.Contains(st.Message(), "secret-cause") || strings.Contains(st.Message(), "boom") {
			t.Errorf("%s: message leaks the cause: %q", tt.what, st.Message())
		}
	}

	// One log line per call, at the right level, with the cause only for
	// internal errors, and never the request body.
	ok := h.logFor(t, "grpc call", "OK")
	for _, k := range []string{"method", "duration", "peer"} {
		if ok[k] == nil || ok[k] == "" {
			t.Errorf("OK line has no %s: %v", k, ok)
		}
	}
	if ok["level"] != "INFO" || ok["method"] != "/"+testService+"/Do" {
		t.Errorf("OK line = %v", ok)
	}
	nf := h.logFor(t, "grpc call", "NotFound")
	if nf["level"] != "WARN" || nf["reason"] != "SYSTEM_NOT_FOUND" || nf["error"] != nil {
		t.Errorf("NotFound line = %v", nf)
	}
	in := h.logFor(t, "grpc call", "Internal")
	if in["level"] != "ERROR" || in["reason"] != "INTERNAL" || !strings.Contains(in["error"].(string), "secret-cause-xyz") {
		t.Errorf("Internal line = %v", in)
	}
	p := h.logFor(t, "grpc call panicked", "Internal")
	if p["level"] != "ERROR" || !strings.Contains(p["stack"].(string), "grpcserver") || p["error"] != "boom in handler" {
		t.Errorf("panic line = %v", p)
	}
	if strings.Contains(h.logs.String(), "hello-body-text") {
		t.Error("a request body was logged")
	}
}

func TestHealthAndReflection(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := t.Context()

	for _, svc := range []string{testService, ""} {
		if st, err := h.health(ctx, svc); err != nil || st != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Fatalf("health(%q) after Register = %v, %v; want NOT_SERVING", svc, st, err)
		}
	}
	h.srv.SetServing(testService, true)
	for _, svc := range []string{testService, ""} {
		if st, _ := h.health(ctx, svc); st != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health(%q) = %v, want SERVING", svc, st)
		}
	}
	// A second service not serving takes the whole server down.
	h.srv.SetServing("landscape.other.v1.Other", false)
	if st, _ := h.health(ctx, ""); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("overall = %v, want NOT_SERVING", st)
	}
	if st, _ := h.health(ctx, testService); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("test service = %v, want SERVING", st)
	}
	h.srv.SetServing("landscape.other.v1.Other", true)
	if st, _ := h.health(ctx, ""); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("overall = %v, want SERVING", st)
	}

	// Reflection v1 lists the services.
	stream, err := reflectionv1.NewServerReflectionClient(h.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	got := strings.Join(names, ",")
	for _, want := range []string{testService, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"} {
		if !strings.Contains(got, want) {
			t.Errorf("reflection lists %s, missing %s", got, want)
		}
	}
	stream.CloseSend()
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	s := New(nil, nil)
	s.Register(&testDesc, &testImpl{}, map[string]authn.Policy{"Do": authn.Internal})
	for m, want := range map[string]authn.Policy{
		"/" + testService + "/Do":                                        authn.Internal,
		"/" + testService + "/Unknown":                                   authn.User,
		"/landscape.other.v1.Other/Get":                                  authn.User,
		"/grpc.health.v1.Health/Check":                                   authn.Public,
		"/grpc.health.v1.Health/Watch":                                   authn.Public,
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      authn.Public,
		"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": authn.Public,
	} {
		if got := s.policy(m); got != want {
			t.Errorf("policy(%s) = %v, want %v", m, got, want)
		}
	}
}

func TestWatchDependency(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := t.Context()
	var up atomic.Bool
	var checks atomic.Int64
	check := func(context.Context) error {
		checks.Add(1)
		if up.Load() {
			return nil
		}
		return errors.New("redis down")
	}
	go h.srv.watch(ctx, testService, check, 5*time.Millisecond)

	serving := func(want healthpb.HealthCheckResponse_ServingStatus) func() bool {
		return func() bool { st, _ := h.health(ctx, testService); return st == want }
	}
	// Down for many checks: logged once.
	testkit.Eventually(t, 5*time.Second, "several failed checks", func() bool { return checks.Load() >= 5 })
	if st, _ := h.health(ctx, ""); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("overall = %v, want NOT_SERVING", st)
	}
	up.Store(true)
	testkit.Eventually(t, 5*time.Second, "SERVING once the check passes", serving(healthpb.HealthCheckResponse_SERVING))
	n := checks.Load()
	testkit.Eventually(t, 5*time.Second, "more passing checks", func() bool { return checks.Load() >= n+5 })
	up.Store(false)
	testkit.Eventually(t, 5*time.Second, "NOT_SERVING once the check fails", serving(healthpb.HealthCheckResponse_NOT_SERVING))

	var down, upLines int
	for _, l := range logLines(t, h.logs) {
		switch l["msg"] {
		case "dependency down":
			down++
		case "dependency up":
			upLines++
		}
	}
	if down != 2 || upLines != 1 {
		t.Errorf("transitions logged: %d down, %d up; want 2 and 1:\n%s", down, upLines, h.logs.String())
	}
}

func TestWatchDependencyChecksAtOnce(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := t.Context()
	// The public method with its one-second interval: the first check runs
	// immediately, not after a second.
	h.srv.WatchDependency(ctx, testService, func(context.Context) error { return nil })
	testkit.Eventually(t, 500*time.Millisecond, "first check right away", func() bool {
		st, _ := h.health(ctx, testService)
		return st == healthpb.HealthCheckResponse_SERVING
	})
}

func TestGracefulDrain(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := t.Context()
	h.srv.SetServing(testService, true)

	type result struct {
		out *wrapperspb.StringValue
		err error
	}
	res := make(chan result, 1)
	go func() {
		out, err := h.do(ctx, "slow")
		res <- result{out, err}
	}()
	<-h.impl.started

	h.run.cancel() // Serve's ctx ends while the call is in flight
	testkit.Eventually(t, 5*time.Second, "shutdown started", func() bool {
		select {
		case <-h.srv.done:
			return true
		default:
			return false
		}
	})
	if st, _ := h.srv.health.Check(ctx, &healthpb.HealthCheckRequest{}); st.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("overall during drain = %v, want NOT_SERVING", st.GetStatus())
	}
	h.srv.SetServing(testService, true) // ignored once shutting down
	if st, _ := h.srv.health.Check(ctx, &healthpb.HealthCheckRequest{Service: testService}); st.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("service during drain = %v, want NOT_SERVING", st.GetStatus())
	}
	select {
	case err := <-h.run.served:
		t.Fatalf("Serve returned %v with a call in flight", err)
	default:
	}

	close(h.impl.release)
	r := <-res
	if r.err != nil || r.out.GetValue() != "done:slow" {
		t.Fatalf("call in flight = %v, %v; want it to complete", r.out, r.err)
	}
	if err := h.run.stop(); err != nil {
		t.Fatalf("Serve = %v, want nil", err)
	}
}

func TestDrainTimeoutCutsCalls(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv := New(logger, nil)
	srv.drain = 50 * time.Millisecond
	impl := &testImpl{started: make(chan struct{}), release: make(chan struct{})}
	srv.Register(&testDesc, impl, map[string]authn.Policy{"Do": authn.Public})
	run := serve(t, srv)
	conn := dial(t, run.addr)
	res := make(chan error, 1)
	go func() {
		res <- conn.Invoke(t.Context(), "/"+testService+"/Do", wrapperspb.String("slow"), new(wrapperspb.StringValue))
	}()
	<-impl.started
	if err := run.stop(); err != nil {
		t.Fatalf("Serve = %v, want nil after cutting calls", err)
	}
	if err := <-res; status.Code(err) == codes.OK {
		t.Fatal("a call still running after the drain timeout must fail")
	}
}
