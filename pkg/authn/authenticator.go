package authn

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

// Metadata keys and constants of the credentials on the wire.
const (
	// MetadataKey is the gRPC metadata key of the caller's bearer JWT
	// ("authorization: Bearer <jwt>"); the gateway forwards the HTTP
	// Authorization header there.
	MetadataKey = "authorization"
	// ServiceMetadataKey is the gRPC metadata key of the service credential
	// (the bare JWT). It is never read from MetadataKey.
	ServiceMetadataKey = "x-landscape-service"
	// ServiceAudience is the aud claim of every service credential. A JWT
	// with this audience is refused in the authorization header.
	ServiceAudience = "landscape-internal"
	// ServiceSubjectPrefix starts the sub claim of a service credential:
	// "service:<name>".
	ServiceSubjectPrefix = "service:"
	// ClockSkew is the leeway allowed on exp, nbf and iat.
	ClockSkew = 30 * time.Second
	// ServiceTokenTTL is the lifetime of a service credential's JWT.
	ServiceTokenTTL = 5 * time.Minute
)

// Config says which credentials are accepted.
type Config struct {
	HS256Secret   string // shared secret for HS256 JWTs (development)
	KeysFile      string // PEM public keys or a JWKS file (RS256/ES256)
	Issuer        string // checked when set
	Audience      string // checked when set
	ServiceSecret string // secret of the service credential
}

// Authenticator verifies credentials. It is safe for concurrent use; keys
// are parsed once, in New.
type Authenticator struct {
	userKeys   keySet
	userParser *jwt.Parser // nil when no user key is configured

	serviceKey    []byte
	serviceParser *jwt.Parser // nil when no service secret is configured

	users, services verifiedCache // JWTs that verified, until they expire
	noCache         bool          // for benchmarks of the full verification
}

// New checks cfg and loads keys. It fails when no key at all is configured
// (no HS256 secret, no keys file, no service secret), when the keys file is
// unreadable or holds no usable key, and when the HS256 secret equals the
// service secret (a user secret must not mint service credentials).
func New(cfg Config) (*Authenticator, error) {
	if cfg.HS256Secret == "" && cfg.KeysFile == "" && cfg.ServiceSecret == "" {
		return nil, errors.New("authn: no key configured: set the HS256 secret, a keys file (PEM or JWKS) or the service secret")
	}
	if cfg.HS256Secret != "" && cfg.HS256Secret == cfg.ServiceSecret {
		return nil, errors.New("authn: the HS256 secret and the service secret must differ")
	}
	a := &Authenticator{}
	if cfg.HS256Secret != "" {
		a.userKeys.hs = []byte(cfg.HS256Secret)
	}
	if cfg.KeysFile != "" {
		if err := a.userKeys.loadFile(cfg.KeysFile); err != nil {
			return nil, err
		}
	}
	if methods := a.userKeys.methods(); len(methods) > 0 {
		opts := []jwt.ParserOption{
			jwt.WithValidMethods(methods),
			jwt.WithLeeway(ClockSkew),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithStrictDecoding(), // one encoding per JWT: no malleable base64
		}
		if cfg.Issuer != "" {
			opts = append(opts, jwt.WithIssuer(cfg.Issuer))
		}
		if cfg.Audience != "" {
			opts = append(opts, jwt.WithAudience(cfg.Audience))
		}
		a.userParser = jwt.NewParser(opts...)
	}
	if cfg.ServiceSecret != "" {
		a.serviceKey = []byte(cfg.ServiceSecret)
		a.serviceParser = jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithLeeway(ClockSkew),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithAudience(ServiceAudience),
			jwt.WithStrictDecoding(),
		)
	}
	return a, nil
}

// Authenticate reads the credential from the incoming gRPC metadata of ctx
// (authorization: Bearer <jwt>, or the service credential) according to
// policy and returns ctx with the Caller. Errors are apperr UNAUTHENTICATED
// or PERMISSION_DENIED.
func (a *Authenticator) Authenticate(ctx context.Context, policy Policy) (context.Context, error) {
	if policy == Public {
		return ctx, nil
	}
	if svc := metadata.ValueFromIncomingContext(ctx, ServiceMetadataKey); len(svc) > 0 {
		if len(svc) > 1 {
			return ctx, apperr.New(apperr.Unauthenticated, "send one service credential, not several")
		}
		c, err := a.verifyService(svc[0])
		if err != nil {
			return ctx, err
		}
		return WithCaller(ctx, c), nil
	}
	auth := metadata.ValueFromIncomingContext(ctx, MetadataKey)
	if policy == Internal {
		if len(auth) > 0 {
			return ctx, apperr.New(apperr.PermissionDenied, "this is an internal RPC: only Landscape services may call it")
		}
		return ctx, apperr.New(apperr.Unauthenticated, "this is an internal RPC: call it with the service credential")
	}
	if policy != User {
		return ctx, apperr.New(apperr.Internal, "unknown authentication policy")
	}
	switch len(auth) {
	case 0:
		return ctx, errNoJWT
	case 1:
	default:
		return ctx, apperr.New(apperr.Unauthenticated, "send one Authorization header: Bearer <JWT>")
	}
	raw, ok := bearer(auth[0])
	if !ok {
		return ctx, apperr.New(apperr.Unauthenticated, "the Authorization header must read: Bearer <JWT>")
	}
	c, err := a.verifyUser(raw)
	if err != nil {
		return ctx, err
	}
	return WithCaller(ctx, c), nil
}

var errNoJWT = apperr.New(apperr.Unauthenticated, "a bearer JWT is required: send Authorization: Bearer <JWT>")

// bearer returns the token of an "Bearer <token>" header value; the scheme
// is case-insensitive (RFC 6750).
func bearer(v string) (string, bool) {
	const scheme = "bearer "
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	t := v[len(scheme):]
	return t, t != ""
}

// userClaims are the claims of a user JWT (DESIGN 3.1).
type userClaims struct {
	jwt.RegisteredClaims
	GlobalAccount string   `json:"ga"`
	Roles         []string `json:"roles"`
}

// verifyUser verifies a user JWT and returns its caller.
func (a *Authenticator) verifyUser(raw string) (Caller, error) {
	if a.userParser == nil {
		return Caller{}, apperr.New(apperr.Unauthenticated, "this service accepts no user JWT: call it with the service credential")
	}
	if c, ok := a.users.get(raw, time.Now()); ok && !a.noCache {
		return c, nil
	}
	var cl userClaims
	if _, err := a.userParser.ParseWithClaims(raw, &cl, a.userKeys.keyFunc); err != nil {
		return Caller{}, jwtError(err)
	}
	for _, aud := range cl.Audience {
		if aud == ServiceAudience {
			return Caller{}, apperr.New(apperr.Unauthenticated, "a service credential is not a user JWT: send it in "+ServiceMetadataKey)
		}
	}
	c := Caller{Subject: cl.Subject, GlobalAccount: cl.GlobalAccount}
	for _, r := range cl.Roles {
		switch role := Role(r); role {
		case RoleGlobalAccountAdmin, RoleSystemLandscapeAdmin, RoleSystemLandscapeViewer:
			c.Roles = append(c.Roles, role)
		}
	}
	if len(c.Roles) == 0 {
		return Caller{}, apperr.New(apperr.PermissionDenied, "the JWT has no known role: ask for one of "+
			string(RoleGlobalAccountAdmin)+", "+string(RoleSystemLandscapeAdmin)+", "+string(RoleSystemLandscapeViewer))
	}
	a.users.put(raw, c, cl.ExpiresAt.Time)
	return c, nil
}

// verifyService verifies a service credential and returns its caller.
func (a *Authenticator) verifyService(raw string) (Caller, error) {
	if a.serviceParser == nil {
		return Caller{}, apperr.New(apperr.Unauthenticated, "this service accepts no service credential: send Authorization: Bearer <JWT>")
	}
	if t, ok := bearer(raw); ok {
		raw = t
	}
	if c, ok := a.services.get(raw, time.Now()); ok && !a.noCache {
		return c, nil
	}
	var cl jwt.RegisteredClaims
	_, err := a.serviceParser.ParseWithClaims(raw, &cl, func(*jwt.Token) (any, error) { return a.serviceKey, nil })
	if err != nil {
		if errors.Is(err, jwt.ErrTokenInvalidAudience) {
			return Caller{}, apperr.New(apperr.Unauthenticated, "the service credential is not for internal calls: use authn.ServiceCredential")
		}
		return Caller{}, serviceError(err)
	}
	name, ok := strings.CutPrefix(cl.Subject, ServiceSubjectPrefix)
	if !ok || name == "" {
		return Caller{}, apperr.New(apperr.Unauthenticated, "the service credential names no service: use authn.ServiceCredential")
	}
	c := Caller{Subject: cl.Subject, Service: true}
	a.services.put(raw, c, cl.ExpiresAt.Time)
	return c, nil
}

// jwtError turns a verification failure into an UNAUTHENTICATED error that
// tells the caller what to do. It never includes the token.
func jwtError(err error) *apperr.Error {
	msg := "the JWT does not verify: send Authorization: Bearer <JWT> with a JWT from the configured issuer"
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		msg = "the bearer JWT is malformed: send Authorization: Bearer <JWT> with a signed JWT (header.payload.signature)"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		msg = "the JWT is signed with an algorithm or key this service does not accept: use a JWT from the configured issuer"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		msg = "the JWT signature is invalid or its algorithm is not accepted: use a JWT from the configured issuer"
	case errors.Is(err, jwt.ErrTokenExpired):
		msg = "the JWT has expired: get a new one"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		msg = "the JWT is not valid yet (nbf): check the clocks or retry later"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		msg = "the JWT is issued in the future (iat): check the clocks"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		msg = "the JWT's issuer (iss) is not accepted: get a JWT from the configured issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		msg = "the JWT's audience (aud) does not name this service: get a JWT for it"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && strings.Contains(err.Error(), "iss claim"):
		msg = "the JWT has no issuer (iss): get a JWT from the configured issuer"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && strings.Contains(err.Error(), "aud claim"):
		msg = "the JWT has no audience (aud): get a JWT for this service"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		msg = "the JWT lacks a required claim (exp): get a JWT with an expiry"
	}
	return apperr.New(apperr.Unauthenticated, msg).WithCause(errors.New(safeCause(err)))
}

// serviceError is jwtError for the service credential.
func serviceError(err error) *apperr.Error {
	msg := "the service credential does not verify: check the service secret"
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		msg = "the service credential is malformed: use authn.ServiceCredential"
	case errors.Is(err, jwt.ErrTokenExpired):
		msg = "the service credential has expired: use authn.ServiceCredential, which renews it"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		msg = "the service credential lacks a required claim (exp): use authn.ServiceCredential"
	}
	return apperr.New(apperr.Unauthenticated, msg).WithCause(errors.New(safeCause(err)))
}

// safeCause is the error text of a golang-jwt error. Those errors name the
// failed check, never the token itself.
func safeCause(err error) string { return err.Error() }

// ServiceCredential returns per-RPC credentials that authenticate calls
// from service (e.g. "formation") to other Landscape services. They send a
// HS256 JWT signed with secret (aud "landscape-internal", sub
// "service:<service>", valid 5 minutes, cached and renewed a minute before
// it expires) in the metadata key ServiceMetadataKey.
func ServiceCredential(secret, service string) credentials.PerRPCCredentials {
	return &serviceCred{secret: []byte(secret), service: service}
}

// MintHS256 signs a JWT with the HS256 secret: for landscape dev-token and
// for tests.
func MintHS256(secret, subject, globalAccount string, roles []string, ttl time.Duration) (string, error) {
	return Mint([]byte(secret), Claims{Subject: subject, GlobalAccount: globalAccount, Roles: roles, TTL: ttl})
}
