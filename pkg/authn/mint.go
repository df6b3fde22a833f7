package authn

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are what Mint signs into a user JWT.
type Claims struct {
	Subject       string
	GlobalAccount string
	Roles         []string
	TTL           time.Duration // exp = now + TTL; must be positive
	Issuer        string        // optional iss
	Audience      []string      // optional aud
	KeyID         string        // optional kid header (JWKS)
}

// Mint signs a user JWT: HS256 with a []byte secret, RS256 with an
// *rsa.PrivateKey, ES256 with a P-256 *ecdsa.PrivateKey. It is for
// landscape dev-token and tests; production JWTs come from an issuer.
func Mint(key any, c Claims) (string, error) {
	var m jwt.SigningMethod
	switch k := key.(type) {
	case []byte:
		if len(k) == 0 {
			return "", errors.New("authn: mint: empty secret")
		}
		m = jwt.SigningMethodHS256
	case *rsa.PrivateKey:
		m = jwt.SigningMethodRS256
	case *ecdsa.PrivateKey:
		m = jwt.SigningMethodES256
	default:
		return "", fmt.Errorf("authn: mint: unsupported key type %T", key)
	}
	if c.TTL <= 0 {
		return "", fmt.Errorf("authn: mint: ttl %v is not positive", c.TTL)
	}
	now := time.Now()
	cl := userClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.Subject,
			Issuer:    c.Issuer,
			Audience:  c.Audience,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(c.TTL)),
		},
		GlobalAccount: c.GlobalAccount,
		Roles:         c.Roles,
	}
	if cl.Roles == nil {
		cl.Roles = []string{}
	}
	t := jwt.NewWithClaims(m, cl)
	if c.KeyID != "" {
		t.Header["kid"] = c.KeyID
	}
	s, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("authn: mint: %w", err)
	}
	return s, nil
}
