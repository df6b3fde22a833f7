package grpcserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/mtls"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

// TestMutualTLS: a token-like server (all methods Internal) over mutual
// TLS accepts only the registry's certificate with the service
// credential; other services' certificates, no certificate, a certificate
// of another CA and plaintext are refused; health needs no certificate;
// and a CA added to the files is taken without a restart.
func TestMutualTLS(t *testing.T) {
	t.Parallel()
	const serviceSecret = "service-secret-for-mtls-tests-0123456789"
	auth, err := authn.New(authn.Config{ServiceSecret: serviceSecret})
	if err != nil {
		t.Fatal(err)
	}
	ca, other := testkit.NewCA(t, "landscape test CA"), testkit.NewCA(t, "another CA")
	dir := t.TempDir()
	files := func(name string, c testkit.ServiceCert, caPEM []byte) mtls.Files {
		cert, key, caFile := testkit.WriteFiles(t, filepath.Join(dir, name), c, caPEM)
		return mtls.Files{Cert: cert, Key: key, CA: caFile}
	}
	source := func(f mtls.Files) *mtls.Source {
		s, err := mtls.Load(f, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tokenFiles := files("token", ca.Issue(t, "token"), ca.CertPEM)
	server := source(tokenFiles)
	if server.Identity() != "token" {
		t.Fatalf("identity %q", server.Identity())
	}
	ctx, cancel := context.WithCancel(t.Context())
	go server.Watch(ctx, 20*time.Millisecond)

	srv := New(slog.New(slog.DiscardHandler), auth, grpc.Creds(server.ServerCredentials()))
	desc := descFor("landscape.test.v1.Token")
	srv.Register(&desc, &testImpl{}, map[string]authn.Policy{"Do": authn.Internal})
	srv.RestrictInternal("registry")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() { cancel(); <-served })

	dial := func(creds credentials.TransportCredentials, service string) *grpc.ClientConn {
		opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
		if service != "" {
			opts = append(opts, grpc.WithPerRPCCredentials(authn.ServiceCredential(serviceSecret, service)))
		}
		conn, err := grpc.NewClient(lis.Addr().String(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	call := func(conn *grpc.ClientConn) error {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		return conn.Invoke(ctx, "/landscape.test.v1.Token/Do", wrapperspb.String("whoami"), new(wrapperspb.StringValue))
	}
	tlsOnly := tlsWithoutClientCert(t, ca.CertPEM)
	if _, err := mtls.Load(mtls.Files{Cert: tokenFiles.Cert}, nil); err == nil {
		t.Error("Load took a certificate without key and CA")
	}

	registry := dial(source(files("registry", ca.Issue(t, "registry"), ca.CertPEM)).ClientCredentials(), "registry")
	if err := call(registry); err != nil {
		t.Fatalf("registry over mTLS: %v", err)
	}
	for _, c := range []struct {
		name string
		conn *grpc.ClientConn
		code codes.Code
	}{
		{"formation's certificate", dial(source(files("formation", ca.Issue(t, "formation"), ca.CertPEM)).ClientCredentials(), "registry"), codes.PermissionDenied},
		{"no client certificate", dial(tlsOnly, "registry"), codes.PermissionDenied},
		{"another CA's registry certificate", dial(source(files("rogue", other.Issue(t, "registry"), ca.CertPEM)).ClientCredentials(), "registry"), codes.Unavailable},
		{"plaintext", dial(insecure.NewCredentials(), "registry"), codes.Unavailable},
		{"registry certificate without the service credential", dial(source(files("registry2", ca.Issue(t, "registry"), ca.CertPEM)).ClientCredentials(), ""), codes.Unauthenticated},
	} {
		if got := status.Code(call(c.conn)); got != c.code {
			t.Errorf("%s: %v, want %v", c.name, got, c.code)
		}
	}
	// Health needs no client certificate (probes), only TLS.
	if _, err := healthpb.NewHealthClient(dial(tlsOnly, "")).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health over TLS without a client certificate: %v", err)
	}

	// Rotation: the registry gets a certificate of the new CA; once the
	// token service's CA file lists both CAs, it is accepted — no restart.
	rotated := dial(source(files("registry3", other.Issue(t, "registry"), append(append([]byte{}, ca.CertPEM...), other.CertPEM...))).ClientCredentials(), "registry")
	testkit.WriteFiles(t, filepath.Join(dir, "token"), ca.Issue(t, "token"), append(append([]byte{}, ca.CertPEM...), other.CertPEM...))
	testkit.Eventually(t, 30*time.Second, "the token service to take the new CA", func() bool { return call(rotated) == nil })
}

// tlsWithoutClientCert is TLS that verifies the server (named token) with
// caPEM but presents no certificate.
func tlsWithoutClientCert(t *testing.T, caPEM []byte) credentials.TransportCredentials {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA PEM")
	}
	return credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "token", MinVersion: tls.VersionTLS13})
}
