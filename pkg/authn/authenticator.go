package authn

import (
	"context"
	"encoding/base64"
	"encoding/json"
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
	// DefaultMaxLifetime is the longest lifetime of a user JWT accepted
	// when Config.MaxLifetime is zero.
	DefaultMaxLifetime = 24 * time.Hour
)

// Config says which credentials are accepted.
type Config struct {
	HS256Secret   string // shared secret for HS256 JWTs (development)
	KeysFile      string // PEM public keys or a JWKS file (RS256/ES256)
	Issuer        string // checked when set
	Audience      string // checked when set
	ServiceSecret string // secret of the service credential
	// MaxLifetime is the longest lifetime of a user JWT: exp - iat, or
	// exp - now when it has no iat. Zero means DefaultMaxLifetime.
	MaxLifetime time.Duration
}

// Authenticator verifies credentials. It is safe for concurrent use; keys
// are parsed once, in New.
type Authenticator struct {
	userKeys    keySet
	userParser  *jwt.Parser // nil when no user key is configured
	maxLifetime time.Duration

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
	if cfg.MaxLifetime < 0 {
		return nil, errors.New("authn: the longest JWT lifetime must not be negative")
	}
	a := &Authenticator{maxLifetime: cfg.MaxLifetime}
	if a.maxLifetime == 0 {
		a.maxLifetime = DefaultMaxLifetime
	}
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
		return withClient(ctx, a.client(ctx, time.Now())), nil
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
	c, err := a.AuthenticateUser(auth)
	if err != nil {
		return ctx, err
	}
	return WithCaller(ctx, c), nil
}

// AuthenticateUser verifies the user JWT in the values of an Authorization
// header (exactly one, "Bearer <JWT>") and returns its caller: for a
// handler that is not a gRPC call (the gateway's event watch), checked
// exactly as the services check their calls. Errors are apperr
// UNAUTHENTICATED or PERMISSION_DENIED.
func (a *Authenticator) AuthenticateUser(auth []string) (Caller, error) {
	switch len(auth) {
	case 0:
		return Caller{}, errNoJWT
	case 1:
	default:
		return Caller{}, apperr.New(apperr.Unauthenticated, "send one Authorization header: Bearer <JWT>")
	}
	raw, ok := bearer(auth[0])
	if !ok {
		return Caller{}, apperr.New(apperr.Unauthenticated, "the Authorization header must read: Bearer <JWT>")
	}
	return a.verifyUser(raw)
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

// userClaims are the claims of a user JWT (docs/API.md, "Authentication").
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
	tok, err := a.userParser.ParseWithClaims(raw, &cl, a.userKeys.keyFunc)
	if err != nil {
		return Caller{}, jwtError(err)
	}
	if err := a.strict(tok, raw, &cl, time.Now()); err != nil {
		return Caller{}, err
	}
	for _, aud := range cl.Audience {
		if aud == ServiceAudience {
			return Caller{}, apperr.New(apperr.Unauthenticated, "a service credential is not a user JWT: send it in "+ServiceMetadataKey)
		}
	}
	c := Caller{Subject: cl.Subject, GlobalAccount: cl.GlobalAccount, ExpireTime: cl.ExpiresAt.Time}
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

// strict holds a verified user JWT to what the library leaves open: no
// crit header (Landscape understands no JWS extension, so every listed one
// is unknown, RFC 7515 section 4.1.11), a subject, numeric dates (a string
// "exp" is refused, not converted), and a lifetime of at most maxLifetime.
func (a *Authenticator) strict(tok *jwt.Token, raw string, cl *userClaims, now time.Time) error {
	if _, ok := tok.Header["crit"]; ok {
		return apperr.New(apperr.Unauthenticated, "the JWT header lists critical extensions (crit) this service does not understand: get a JWT without crit")
	}
	if strings.TrimSpace(cl.Subject) == "" {
		return apperr.New(apperr.Unauthenticated, "the JWT has no subject (sub): get a JWT that names its caller")
	}
	if !numericDates(raw) {
		return apperr.New(apperr.Unauthenticated, "the JWT's exp, iat and nbf must be numbers (seconds since 1970), not strings")
	}
	from := now
	if cl.IssuedAt != nil {
		from = cl.IssuedAt.Time
	}
	if life := cl.ExpiresAt.Sub(from); life > a.maxLifetime {
		return apperr.New(apperr.Unauthenticated, "the JWT lives longer than this service accepts ("+a.maxLifetime.String()+" from iat, or from now without iat): get a shorter-lived JWT")
	}
	return nil
}

// numericDates reports whether the date claims of a JWT's payload (the
// signature of which has been verified) are JSON numbers where present.
func numericDates(raw string) bool {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return false
	}
	for _, name := range []string{"exp", "iat", "nbf"} {
		v, ok := claims[name]
		if !ok {
			continue
		}
		var n json.Number
		if len(v) == 0 || v[0] == '"' || json.Unmarshal(v, &n) != nil {
			return false
		}
	}
	return true
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

// failure is one kind of verification failure and what the caller is told
// about it: err is the golang-jwt error, detail a text its message must
// also hold ("" for any).
type failure struct {
	err    error
	detail string
	msg    string
}

// userFailures are the failures of a user JWT, most specific first.
var userFailures = []failure{
	{jwt.ErrTokenMalformed, "", "the bearer JWT is malformed: send Authorization: Bearer <JWT> with a signed JWT (header.payload.signature)"},
	{jwt.ErrTokenUnverifiable, "", "the JWT is signed with an algorithm or key this service does not accept: use a JWT from the configured issuer"},
	{jwt.ErrTokenSignatureInvalid, "", "the JWT signature is invalid or its algorithm is not accepted: use a JWT from the configured issuer"},
	{jwt.ErrTokenExpired, "", "the JWT has expired: get a new one"},
	{jwt.ErrTokenNotValidYet, "", "the JWT is not valid yet (nbf): check the clocks or retry later"},
	{jwt.ErrTokenUsedBeforeIssued, "", "the JWT is issued in the future (iat): check the clocks"},
	{jwt.ErrTokenInvalidIssuer, "", "the JWT's issuer (iss) is not accepted: get a JWT from the configured issuer"},
	{jwt.ErrTokenInvalidAudience, "", "the JWT's audience (aud) does not name this service: get a JWT for it"},
	{jwt.ErrTokenRequiredClaimMissing, "iss claim", "the JWT has no issuer (iss): get a JWT from the configured issuer"},
	{jwt.ErrTokenRequiredClaimMissing, "aud claim", "the JWT has no audience (aud): get a JWT for this service"},
	{jwt.ErrTokenRequiredClaimMissing, "", "the JWT lacks a required claim (exp): get a JWT with an expiry"},
}

// serviceFailures are the failures of the service credential.
var serviceFailures = []failure{
	{jwt.ErrTokenMalformed, "", "the service credential is malformed: use authn.ServiceCredential"},
	{jwt.ErrTokenExpired, "", "the service credential has expired: use authn.ServiceCredential, which renews it"},
	{jwt.ErrTokenRequiredClaimMissing, "", "the service credential lacks a required claim (exp): use authn.ServiceCredential"},
}

// jwtError turns a verification failure of a user JWT into an
// UNAUTHENTICATED error that tells the caller what to do.
func jwtError(err error) *apperr.Error {
	return unauthenticated(err, userFailures,
		"the JWT does not verify: send Authorization: Bearer <JWT> with a JWT from the configured issuer")
}

// serviceError is jwtError for the service credential.
func serviceError(err error) *apperr.Error {
	return unauthenticated(err, serviceFailures, "the service credential does not verify: check the service secret")
}

// unauthenticated is an UNAUTHENTICATED error with the message of the first
// of failures that err is, else fallback. It never includes the token.
func unauthenticated(err error, failures []failure, fallback string) *apperr.Error {
	msg := fallback
	for _, f := range failures {
		if errors.Is(err, f.err) && strings.Contains(err.Error(), f.detail) {
			msg = f.msg
			break
		}
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
