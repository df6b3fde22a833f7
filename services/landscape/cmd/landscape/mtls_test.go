package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

// TestServicesWithMutualTLS runs `landscape certs` into a temporary
// folder, then `landscape token`, `registry`, `formation` and `gateway` as
// four commands with the --tls-*-file flags the manifests and docker
// compose set, using its files, and a NATS server (loopback only) that
// serves clients over TLS with its nats certificate, as
// deploy/compose/nats.conf does. It registers and pairs a system through
// the gateway — every call between them over mutual TLS, every event over
// NATS TLS — and checks that the token service refuses every caller but
// the registry: no client certificate, another CA's, and the formation
// service's certificate with a valid service credential.
func TestServicesWithMutualTLS(t *testing.T) {
	t.Parallel()
	_, prefix := testkit.Redis(t)
	redisURL := testkit.RedisURL(t)
	const secret, svcSecret = "mtls-cmd-hs256-secret-0123456789abcdef", "mtls-cmd-service-secret-0123456789abcdef"

	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"certs", dir}, &out, &errb, noEnv); code != exitOK {
		t.Fatalf("landscape certs %s: exit %d: %s", dir, code, errb.String())
	}
	type files struct{ cert, key, ca string }
	at := func(name string) files {
		d := filepath.Join(dir, name)
		return files{filepath.Join(d, "tls.crt"), filepath.Join(d, "tls.key"), filepath.Join(d, "ca.crt")}
	}
	caPEM, err := os.ReadFile(at("token").ca)
	if err != nil {
		t.Fatal(err)
	}
	natsFiles := at("nats")
	nats := testkit.NATSWith(t, func(o *server.Options) {
		cfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: natsFiles.cert, KeyFile: natsFiles.key, Timeout: 2})
		if err != nil {
			t.Fatal(err)
		}
		o.TLS, o.TLSConfig, o.TLSTimeout = true, cfg, 2
	})
	natsURL := "tls://" + strings.TrimPrefix(nats.URL(), "nats://")

	other := testkit.NewCA(t, "another CA")
	tlsFlags := map[string][]string{}
	written := map[string]files{}
	for _, name := range []string{"token", "registry", "formation", "gateway"} {
		f := at(name)
		written[name] = f
		tlsFlags[name] = []string{"--tls-cert-file", f.cert, "--tls-key-file", f.key, "--tls-ca-file", f.ca, "--nats-ca-file", f.ca}
	}

	tok, reg, form, gw := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	common := []string{"--redis-url", redisURL, "--redis-key-prefix", prefix, "--nats-url", natsURL,
		"--service-secret", svcSecret, "--jwt-hs256-secret", secret, "--log-level", "error", "--metrics-addr", ""}
	cmds := runCommands(t)
	args := func(name string, a ...string) []string {
		return append(append(append([]string{name}, a...), common...), tlsFlags[name]...)
	}
	cmds.start(args("token", "--grpc-addr", tok)...)
	cmds.start(args("registry", "--grpc-addr", reg, "--token-addr", tok)...)
	cmds.start(args("formation", "--grpc-addr", form, "--registry-addr", reg)...)
	cmds.start(append([]string{"gateway", "--http-addr", gw, "--registry-addr", reg, "--token-addr", tok, "--formation-addr", form,
		"--redis-url", redisURL, "--redis-key-prefix", prefix, "--log-level", "error", "--metrics-addr", "",
		"--nats-url", natsURL, "--jwt-hs256-secret", secret}, tlsFlags["gateway"]...)...)
	base := "http://" + gw
	waitHealthz(t, base, "GET /healthz = 200 with four processes over mutual TLS")
	jwt, err := authn.MintHS256(secret, "t", "mtls", []string{string(authn.RoleGlobalAccountAdmin)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	registerAndPair(t, base, "mtls", jwt)
	// The registry's events reached NATS over TLS.
	nc, err := natsgo.Connect(natsURL, natsgo.RootCAs(at("registry").ca))
	if err != nil {
		t.Fatalf("NATS over TLS with the CA of landscape certs: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		info, err := streamInfo(t, js, "LANDSCAPE_REGISTRY")
		if err == nil && info.State.Msgs > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no registry event on NATS over TLS within 15s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Callers of the token service other than the registry.
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	keyPair := func(f files) []tls.Certificate {
		c, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{c}
	}
	otherFiles := func() files {
		cert, key, caFile := testkit.WriteFiles(t, filepath.Join(dir, "other"), other.Issue(t, "registry"), other.CertPEM)
		return files{cert, key, caFile}
	}()
	revoke := func(certs []tls.Certificate) error {
		conn, err := grpc.NewClient(tok,
			grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: "token", Certificates: certs, MinVersion: tls.VersionTLS12})),
			grpc.WithPerRPCCredentials(authn.ServiceCredential(svcSecret, "registry")))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		cctx, ccancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer ccancel()
		_, err = tokenv1.NewTokenServiceClient(conn).RevokeTokens(cctx, &tokenv1.RevokeTokensRequest{})
		return err
	}
	for what, certs := range map[string][]tls.Certificate{
		"no client certificate":                nil,
		"a registry certificate of another CA": keyPair(otherFiles),
		"the formation service's certificate":  keyPair(written["formation"]),
		"the gateway's certificate":            keyPair(written["gateway"]),
	} {
		err := revoke(certs)
		if err == nil {
			t.Errorf("token service: a caller with %s and the service credential was let in", what)
			continue
		}
		if c := status.Code(err); c != codes.PermissionDenied && c != codes.Unavailable && c != codes.Unauthenticated {
			t.Errorf("token service: a caller with %s: %v, want refused", what, err)
		}
	}
	// The registry's own certificate passes the transport and the caller
	// check (the empty request may then be refused as invalid, not denied).
	if err := revoke(keyPair(written["registry"])); status.Code(err) == codes.PermissionDenied || status.Code(err) == codes.Unavailable || status.Code(err) == codes.Unauthenticated {
		t.Errorf("token service: the registry's certificate is refused: %v", err)
	}
}

func streamInfo(t *testing.T, js jetstream.JetStream, name string) (*jetstream.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return st.Info(ctx)
}
