package grpcapi

import (
	"testing"

	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/authn"
)

// The adapter refuses anyone but a service even if it were registered
// without its Internal policy; the service (nil here) is never reached.
func TestOnlyServices(t *testing.T) {
	t.Parallel()
	s := New(nil, nil)
	person := authn.WithCaller(t.Context(), authn.Caller{Subject: "alice", GlobalAccount: "acme",
		Roles: []authn.Role{authn.RoleGlobalAccountAdmin}})
	for _, c := range []struct {
		name string
		want apperr.Reason
		call func() error
	}{
		{"issue anonymous", apperr.Unauthenticated, func() error {
			_, err := s.IssueToken(t.Context(), &tokenv1.IssueTokenRequest{})
			return err
		}},
		{"consume as a person", apperr.PermissionDenied, func() error {
			_, err := s.ConsumeToken(person, &tokenv1.ConsumeTokenRequest{})
			return err
		}},
		{"revoke as a person", apperr.PermissionDenied, func() error {
			_, err := s.RevokeTokens(person, &tokenv1.RevokeTokensRequest{})
			return err
		}},
	} {
		if got := apperr.ReasonOf(c.call()); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	for _, m := range tokenv1.TokenService_ServiceDesc.Methods {
		if Policies[m.MethodName] != authn.Internal {
			t.Errorf("%s is not Internal", m.MethodName)
		}
	}
}
