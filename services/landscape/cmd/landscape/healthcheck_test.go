package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// healthServer starts a gRPC server with the standard health service on a
// loopback port.
func healthServer(t *testing.T) (*grpc.Server, *health.Server, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return srv, hs, lis.Addr().String()
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	return addr
}

func TestCheckGRPC(t *testing.T) {
	t.Parallel()
	srv, hs, addr := healthServer(t)
	hs.SetServingStatus("landscape.registry.v1.RegistryService", healthpb.HealthCheckResponse_SERVING)

	if err := checkGRPC(t.Context(), addr, "", insecure.NewCredentials()); err != nil {
		t.Fatalf("SERVING server: %v", err)
	}
	if err := checkGRPC(t.Context(), addr, "landscape.registry.v1.RegistryService", insecure.NewCredentials()); err != nil {
		t.Fatalf("SERVING service: %v", err)
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if err := checkGRPC(t.Context(), addr, "", insecure.NewCredentials()); err == nil || !strings.Contains(err.Error(), "NOT_SERVING") {
		t.Fatalf("NOT_SERVING server: got %v, want an error naming NOT_SERVING", err)
	}
	if err := checkGRPC(t.Context(), addr, "no.such.Service", insecure.NewCredentials()); err == nil {
		t.Fatal("unknown service: want an error")
	}
	srv.Stop()
	if err := checkGRPC(t.Context(), addr, "", insecure.NewCredentials()); err == nil {
		t.Fatal("stopped server: want an error")
	}
}

func TestCheckHTTP(t *testing.T) {
	t.Parallel()
	var code atomic.Int32
	code.Store(http.StatusOK)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/healthz", http.StatusFound)
			return
		}
		w.WriteHeader(int(code.Load()))
	}))
	t.Cleanup(ts.Close)
	if err := checkHTTP(t.Context(), ts.URL+"/healthz"); err != nil {
		t.Fatalf("200: %v", err)
	}
	if err := checkHTTP(t.Context(), ts.URL+"/moved"); err == nil {
		t.Fatal("302: want an error (redirects are not followed)")
	}
	code.Store(http.StatusServiceUnavailable)
	if err := checkHTTP(t.Context(), ts.URL+"/healthz"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("503: got %v, want an error naming 503", err)
	}
}

// TestHealthcheckCommand runs `landscape healthcheck` end to end: exit
// codes, and one line on stderr when unhealthy.
func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	_, hs, addr := healthServer(t)
	hs.SetServingStatus("down.Service", healthpb.HealthCheckResponse_NOT_SERVING)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(ts.Close)
	down := closedAddr(t)

	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"healthcheck", "grpc", addr}, exitOK},
		{[]string{"healthcheck", "--timeout", "2s", "grpc", addr}, exitOK},
		{[]string{"healthcheck", "grpc", addr, "--timeout", "2s"}, exitOK}, // flags after the arguments
		{[]string{"healthcheck", "grpc", "--service", "down.Service", addr}, exitFailure},
		{[]string{"healthcheck", "grpc", addr, "--service", "down.Service"}, exitFailure},
		{[]string{"healthcheck", "grpc", addr, "--service", "no.such.Service"}, exitFailure},
		{[]string{"healthcheck", "grpc", down}, exitFailure},
		{[]string{"healthcheck", "http", ts.URL + "/healthz"}, exitOK},
		{[]string{"healthcheck", "http", ts.URL + "/other"}, exitFailure},
		{[]string{"healthcheck", "http", "http://" + down + "/healthz"}, exitFailure},
		// Usage errors.
		{[]string{"healthcheck"}, exitUsage},
		{[]string{"healthcheck", "grpc"}, exitUsage},
		{[]string{"healthcheck", "grpc", addr, "extra"}, exitUsage},
		{[]string{"healthcheck", "tcp", addr}, exitUsage},
		{[]string{"healthcheck", "grpc", "no-port"}, exitUsage},
		{[]string{"healthcheck", "http", "127.0.0.1:8080/healthz"}, exitUsage},
		{[]string{"healthcheck", "http", ts.URL, "--service", "x"}, exitUsage},
		{[]string{"healthcheck", "grpc", addr, "--timeout", "0s"}, exitUsage},
		{[]string{"healthcheck", "grpc", addr, "--no-such-flag"}, exitUsage},
		{[]string{"healthcheck", "--", "grpc", addr, "--timeout", "2s"}, exitUsage}, // after --, all positional
	} {
		code, stdout, stderr := runCmd(t, t.Context(), noEnv, tc.args...)
		if code != tc.want {
			t.Errorf("landscape %q: exit %d, want %d (stderr %q)", tc.args, code, tc.want, stderr)
			continue
		}
		if stdout != "" {
			t.Errorf("landscape %q: stdout %q, want none", tc.args, stdout)
		}
		switch code {
		case exitOK:
			if stderr != "" {
				t.Errorf("landscape %q: healthy, but stderr %q", tc.args, stderr)
			}
		case exitFailure:
			if !strings.HasPrefix(stderr, "landscape healthcheck: unhealthy: ") || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
				t.Errorf("landscape %q: stderr %q, want one line \"landscape healthcheck: unhealthy: ...\"", tc.args, stderr)
			}
		}
	}
}

// TestHealthcheckEnv checks that the settings read their environment
// variables and that a flag wins over its variable.
func TestHealthcheckEnv(t *testing.T) {
	t.Parallel()
	_, hs, addr := healthServer(t)
	hs.SetServingStatus("down.Service", healthpb.HealthCheckResponse_NOT_SERVING)
	hs.SetServingStatus("up.Service", healthpb.HealthCheckResponse_SERVING)
	env := func(k string) (string, bool) {
		if k == "LANDSCAPE_HEALTHCHECK_SERVICE" {
			return "down.Service", true
		}
		return "", false
	}
	if code, _, stderr := runCmd(t, t.Context(), env, "healthcheck", "grpc", addr); code != exitFailure || !strings.Contains(stderr, "down.Service") {
		t.Errorf("LANDSCAPE_HEALTHCHECK_SERVICE=down.Service: exit %d, stderr %q; want 1 naming down.Service", code, stderr)
	}
	if code, _, stderr := runCmd(t, t.Context(), env, "healthcheck", "grpc", addr, "--service", "up.Service"); code != exitOK {
		t.Errorf("--service up.Service over the variable: exit %d, stderr %q", code, stderr)
	}
}

func TestHealthcheckHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"healthcheck", "--help"},
		{"healthcheck", "grpc", "127.0.0.1:9090", "--help"},
		{"help", "healthcheck"},
	} {
		code, out, _ := runCmd(t, t.Context(), noEnv, args...)
		if code != exitOK {
			t.Errorf("landscape %q: exit %d", args, code)
		}
		for _, want := range []string{
			"Usage: landscape healthcheck [flags]",
			"landscape healthcheck grpc HOST:PORT",
			"landscape healthcheck http URL",
			"env LANDSCAPE_HEALTHCHECK_TIMEOUT, default 3s",
			"env LANDSCAPE_HEALTHCHECK_SERVICE",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("landscape %q: help lacks %q:\n%s", args, want, out)
			}
		}
	}
}
