package grpcserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/landscape-dev/landscape/pkg/authn"
)

// benchCalls makes unary calls over loopback to the server that build returns.
func benchCalls(b *testing.B, build func() (serve func(net.Listener) error, stop func())) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	serve, stop := build()
	go serve(lis)
	defer stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	in, out := wrapperspb.String("x"), new(wrapperspb.StringValue)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := conn.Invoke(ctx, "/"+testService+"/Do", in, out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnaryBareGRPC is the baseline: a plain grpc.Server, no interceptors.
func BenchmarkUnaryBareGRPC(b *testing.B) {
	benchCalls(b, func() (func(net.Listener) error, func()) {
		s := grpc.NewServer()
		s.RegisterService(&testDesc, &testImpl{})
		return s.Serve, s.Stop
	})
}

// BenchmarkUnaryKit is the same call through the kit's interceptor chain
// (recovery, error mapping and JSON logging to io.Discard, no authenticator).
func BenchmarkUnaryKit(b *testing.B) {
	benchCalls(b, func() (func(net.Listener) error, func()) {
		s := New(slog.New(slog.NewJSONHandler(io.Discard, nil)), nil)
		s.Register(&testDesc, &testImpl{}, map[string]authn.Policy{"Do": authn.Public})
		return s.Server.Serve, s.Stop
	})
}
