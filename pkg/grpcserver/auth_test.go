package grpcserver

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

// TestAuthPolicies runs the interceptor chain with the real authenticator.
func TestAuthPolicies(t *testing.T) {
	t.Parallel()
	const userSecret, serviceSecret = "user-secret-for-tests", "service-secret-for-tests"
	auth, err := authn.New(authn.Config{HS256Secret: userSecret, ServiceSecret: serviceSecret})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.Buffer{}
	srv := New(slog.New(slog.NewJSONHandler(logs, nil)), auth)
	impl := &testImpl{}
	userDesc, publicDesc, internalDesc := descFor("landscape.test.v1.User"), descFor("landscape.test.v1.Public"), descFor("landscape.test.v1.Internal")
	srv.Register(&userDesc, impl, nil) // not named: User
	srv.Register(&publicDesc, impl, map[string]authn.Policy{"Do": authn.Public})
	srv.Register(&internalDesc, impl, map[string]authn.Policy{"Do": authn.Internal})
	addr := serve(t, srv).addr
	anon := dial(t, addr)
	svc := dial(t, addr, grpc.WithPerRPCCredentials(authn.ServiceCredential(serviceSecret, "formation")))
	jwt, err := authn.MintHS256(userSecret, "alice", "acme", []string{string(authn.RoleSystemLandscapeViewer)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	withJWT := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+jwt)

	tests := []struct {
		name    string
		ctx     context.Context
		conn    *grpc.ClientConn
		service string
		code    codes.Code
		reason  string
		caller  string
	}{
		{name: "user without JWT", ctx: t.Context(), conn: anon, service: "landscape.test.v1.User", code: codes.Unauthenticated, reason: "UNAUTHENTICATED"},
		{name: "user with JWT", ctx: withJWT, conn: anon, service: "landscape.test.v1.User", code: codes.OK, caller: "alice"},
		{name: "user with service credential", ctx: t.Context(), conn: svc, service: "landscape.test.v1.User", code: codes.OK, caller: "service:formation"},
		{name: "public without JWT", ctx: t.Context(), conn: anon, service: "landscape.test.v1.Public", code: codes.OK, caller: "nobody"},
		{name: "internal with JWT", ctx: withJWT, conn: anon, service: "landscape.test.v1.Internal", code: codes.PermissionDenied, reason: "PERMISSION_DENIED"},
		{name: "internal without credential", ctx: t.Context(), conn: anon, service: "landscape.test.v1.Internal", code: codes.Unauthenticated, reason: "UNAUTHENTICATED"},
		{name: "internal with service credential", ctx: t.Context(), conn: svc, service: "landscape.test.v1.Internal", code: codes.OK, caller: "service:formation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := new(wrapperspb.StringValue)
			err := tt.conn.Invoke(tt.ctx, "/"+tt.service+"/Do", wrapperspb.String("whoami"), out)
			st := status.Convert(err)
			if st.Code() != tt.code {
				t.Fatalf("code = %v (%s), want %v", st.Code(), st.Message(), tt.code)
			}
			if tt.code == codes.OK {
				if out.GetValue() != tt.caller {
					t.Errorf("caller = %q, want %q", out.GetValue(), tt.caller)
				}
				return
			}
			if info := ErrorInfo(st); info.GetReason() != tt.reason || info.GetDomain() != Domain {
				t.Errorf("ErrorInfo = %v, want reason %s", info, tt.reason)
			}
		})
	}

	// Health and reflection need no credential.
	if _, err := healthpb.NewHealthClient(anon).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health without credential: %v", err)
	}
	// Each call's log line names the authenticated caller: sub and ga
	// for a user, sub for a service; none for a public or refused call.
	for _, want := range []string{`"sub":"alice","ga":"acme"`, `"sub":"service:formation"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no log line with %s:\n%s", want, logs.String())
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, "landscape.test.v1.Public") && strings.Contains(line, `"sub"`) {
			t.Errorf("a public call's line names a caller: %s", line)
		}
	}
	// Credentials are never logged.
	if l := logs.String(); strings.Contains(l, jwt) || strings.Contains(l, userSecret) || strings.Contains(l, serviceSecret) {
		t.Errorf("a credential was logged:\n%s", l)
	}
}
