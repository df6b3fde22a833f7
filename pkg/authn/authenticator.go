package authn

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/credentials"
)

// Config says which credentials are accepted.
type Config struct {
	HS256Secret   string // shared secret for HS256 JWTs (development)
	KeysFile      string // PEM public keys or a JWKS file (RS256/ES256)
	Issuer        string // checked when set
	Audience      string // checked when set
	ServiceSecret string // secret of the service credential
}

// Authenticator verifies credentials.
type Authenticator struct {
	cfg Config
}

// New checks cfg and loads keys.
func New(cfg Config) (*Authenticator, error) {
	// TODO(kit): load and validate keys.
	return &Authenticator{cfg: cfg}, errors.New("authn: not built yet")
}

// Authenticate reads the credential from the incoming gRPC metadata of ctx
// (authorization: Bearer <jwt>, or the service credential) according to
// policy and returns ctx with the Caller. Errors are apperr UNAUTHENTICATED
// or PERMISSION_DENIED.
func (a *Authenticator) Authenticate(ctx context.Context, policy Policy) (context.Context, error) {
	// TODO(kit)
	return ctx, errors.New("authn: not built yet")
}

// ServiceCredential returns per-RPC credentials that authenticate calls
// from service (e.g. "formation") to other Landscape services.
func ServiceCredential(secret, service string) credentials.PerRPCCredentials {
	// TODO(kit)
	return nil
}

// MintHS256 signs a JWT with the HS256 secret: for landscape dev-token and
// for tests.
func MintHS256(secret, subject, globalAccount string, roles []string, ttl time.Duration) (string, error) {
	// TODO(kit)
	return "", errors.New("authn: not built yet")
}
