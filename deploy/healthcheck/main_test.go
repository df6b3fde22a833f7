package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestCheckGRPC(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	addr := lis.Addr().String()

	if err := checkGRPC(t.Context(), addr, ""); err != nil {
		t.Fatalf("SERVING server: %v", err)
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if err := checkGRPC(t.Context(), addr, ""); err == nil {
		t.Fatal("NOT_SERVING server: want an error")
	}
	if err := checkGRPC(t.Context(), addr, "no.such.Service"); err == nil {
		t.Fatal("unknown service: want an error")
	}
	srv.Stop()
	if err := checkGRPC(t.Context(), addr, ""); err == nil {
		t.Fatal("stopped server: want an error")
	}
}

func TestCheckHTTP(t *testing.T) {
	t.Parallel()
	var status atomic.Int32
	status.Store(http.StatusOK)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(status.Load())) }))
	t.Cleanup(ts.Close)
	if err := checkHTTP(t.Context(), ts.URL+"/healthz"); err != nil {
		t.Fatalf("200: %v", err)
	}
	status.Store(http.StatusServiceUnavailable)
	if err := checkHTTP(t.Context(), ts.URL+"/healthz"); err == nil {
		t.Fatal("503: want an error")
	}
}
