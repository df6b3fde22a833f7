package grpcclient_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/landscape-dev/landscape/pkg/grpcclient"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
)

const method = "/landscape.test.v1.Probe/Deadline"

// probe answers with the time left to the call's deadline (0: none) and
// fails with PERMISSION_DENIED unless the test credential arrived.
type probe interface {
	Deadline(ctx context.Context) (*durationpb.Duration, error)
}

type probeImpl struct{}

func (probeImpl) Deadline(ctx context.Context) (*durationpb.Duration, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("x-test-cred"); len(v) != 1 || v[0] != "svc" {
		return nil, status.Error(codes.PermissionDenied, "no credential")
	}
	d, ok := ctx.Deadline()
	if !ok {
		return durationpb.New(0), nil
	}
	return durationpb.New(time.Until(d)), nil
}

var probeDesc = grpc.ServiceDesc{
	ServiceName: "landscape.test.v1.Probe",
	HandlerType: (*probe)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Deadline",
		Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, _ any) (any, error) { return srv.(probe).Deadline(ctx) }
			if icpt == nil {
				return h(ctx, in)
			}
			return icpt(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: method}, h)
		},
	}},
}

type testCred struct{}

func (testCred) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"x-test-cred": "svc"}, nil
}
func (testCred) RequireTransportSecurity() bool { return false }

func serve(t *testing.T) string {
	t.Helper()
	srv := grpcserver.New(nil, nil)
	srv.Register(&probeDesc, probeImpl{}, nil)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() { cancel(); <-done })
	return lis.Addr().String()
}

func TestDial(t *testing.T) {
	t.Parallel()
	addr := serve(t)
	tests := []struct {
		name     string
		target   string
		timeout  time.Duration
		deadline time.Duration // of the caller's ctx; 0: none
		min, max time.Duration // time left seen by the server
	}{
		{name: "default timeout applied", target: addr, timeout: time.Minute, min: 50 * time.Second, max: time.Minute},
		{name: "caller deadline kept", target: addr, timeout: time.Minute, deadline: 20 * time.Second, min: 10 * time.Second, max: 20 * time.Second},
		{name: "no default timeout", target: addr, timeout: 0, min: 0, max: 0},
		{name: "dns target", target: "dns:///" + addr, timeout: time.Minute, min: 50 * time.Second, max: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn, err := grpcclient.Dial(tt.target, testCred{}, tt.timeout)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx := t.Context()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			out := new(durationpb.Duration)
			if err := conn.Invoke(ctx, method, &emptypb.Empty{}, out); err != nil {
				t.Fatal(err)
			}
			if left := out.AsDuration(); left < tt.min || left > tt.max {
				t.Errorf("server saw %v left, want within [%v, %v]", left, tt.min, tt.max)
			}
		})
	}
}

func TestPeerDownIsUnavailable(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now
	conn, err := grpcclient.Dial(addr, nil, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Invoke(t.Context(), method, &emptypb.Empty{}, new(durationpb.Duration))
	if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
		t.Fatalf("call to a closed port = %v, want UNAVAILABLE or DEADLINE_EXCEEDED", err)
	}
	st := grpcserver.Status(err)
	var reason string
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			reason = i.GetReason()
		}
	}
	if reason != "UNAVAILABLE" {
		t.Errorf("Status of a peer failure: reason %q, want UNAVAILABLE", reason)
	}
}
