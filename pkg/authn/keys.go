package authn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"

	"github.com/golang-jwt/jwt/v5"
)

// minRSABits is the smallest RSA modulus accepted.
const minRSABits = 2048

// keySet holds the parsed user keys: the HS256 secret and the public keys of
// the keys file. Parsed once in New; read-only afterwards.
type keySet struct {
	hs []byte

	rsa   []pubKey // RS256
	ec    []pubKey // ES256 (P-256)
	rsaVS jwt.VerificationKeySet
	ecVS  jwt.VerificationKeySet
}

// pubKey is one public key and its JWKS key id ("" for PEM keys).
type pubKey struct {
	kid string
	key any // *rsa.PublicKey or *ecdsa.PublicKey
}

// methods lists the JWT algorithms the set can verify.
func (s *keySet) methods() []string {
	var m []string
	if len(s.hs) > 0 {
		m = append(m, jwt.SigningMethodHS256.Alg())
	}
	if len(s.rsa) > 0 {
		m = append(m, jwt.SigningMethodRS256.Alg())
	}
	if len(s.ec) > 0 {
		m = append(m, jwt.SigningMethodES256.Alg())
	}
	return m
}

var errNoKey = errors.New("no key for this JWT")

// keyFunc picks the verification key by the JWT's algorithm: the HS256
// secret only for HS256, RSA keys only for RS256, EC keys only for ES256,
// so that one kind of key is never used as another. With a kid, only the
// key with that kid is tried; without, every key of the kind.
func (s *keySet) keyFunc(t *jwt.Token) (any, error) {
	var keys []pubKey
	var all jwt.VerificationKeySet
	switch t.Method {
	case jwt.SigningMethodHS256:
		if len(s.hs) == 0 {
			return nil, errNoKey
		}
		return s.hs, nil
	case jwt.SigningMethodRS256:
		keys, all = s.rsa, s.rsaVS
	case jwt.SigningMethodES256:
		keys, all = s.ec, s.ecVS
	default:
		return nil, errNoKey
	}
	if len(keys) == 0 {
		return nil, errNoKey
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		if len(keys) == 1 {
			return keys[0].key, nil
		}
		return all, nil
	}
	for _, k := range keys {
		if k.kid == kid {
			return k.key, nil
		}
	}
	// PEM keys have no kid: a JWT with a kid may still be verified by them.
	var unnamed jwt.VerificationKeySet
	for _, k := range keys {
		if k.kid == "" {
			unnamed.Keys = append(unnamed.Keys, k.key)
		}
	}
	if len(unnamed.Keys) == 0 {
		return nil, errNoKey
	}
	return unnamed, nil
}

// add adds a public key, checking it is usable.
func (s *keySet) add(kid string, key any) error {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("RSA key of %d bits: at least %d are needed", k.N.BitLen(), minRSABits)
		}
		s.rsa = append(s.rsa, pubKey{kid: kid, key: k})
		s.rsaVS.Keys = append(s.rsaVS.Keys, k)
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return fmt.Errorf("EC key on curve %s: only P-256 (ES256) is supported", k.Curve.Params().Name)
		}
		s.ec = append(s.ec, pubKey{kid: kid, key: k})
		s.ecVS.Keys = append(s.ecVS.Keys, k)
	default:
		return fmt.Errorf("unsupported key type %T: use RSA or EC P-256", key)
	}
	return nil
}

// loadFile reads a PEM or a JWKS file.
func (s *keySet) loadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("authn: read keys file: %w", err)
	}
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		err = s.loadJWKS(trimmed)
	} else {
		err = s.loadPEM(trimmed)
	}
	if err != nil {
		return fmt.Errorf("authn: keys file %s: %w", path, err)
	}
	return nil
}

// loadPEM reads PUBLIC KEY, RSA PUBLIC KEY and CERTIFICATE blocks.
func (s *keySet) loadPEM(b []byte) error {
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		n++
		var key any
		var err error
		switch blk.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(blk.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(blk.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(blk.Bytes); err == nil {
				key = cert.PublicKey
			}
		default:
			return fmt.Errorf("PEM block %d is %q: only PUBLIC KEY, RSA PUBLIC KEY and CERTIFICATE are read (never a private key)", n, blk.Type)
		}
		if err != nil {
			return fmt.Errorf("PEM block %d (%s): %w", n, blk.Type, err)
		}
		if err := s.add("", key); err != nil {
			return fmt.Errorf("PEM block %d (%s): %w", n, blk.Type, err)
		}
	}
	if n == 0 {
		return errors.New("no PEM block and not a JWKS: give PEM public keys or a JWKS JSON file")
	}
	if len(bytes.TrimSpace(b)) > 0 {
		return errors.New("text after the last PEM block is not PEM")
	}
	return nil
}

// jwk is one JSON Web Key (RFC 7517/7518), public part only.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	D   string `json:"d"`
}

// loadJWKS reads the RSA (RS256) and EC P-256 (ES256) keys of a JWKS. Keys
// for encryption or other algorithms are skipped; a JWKS without a usable
// key, or with a private key, is an error.
func (s *keySet) loadJWKS(b []byte) error {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return fmt.Errorf("not a JWKS: %w", err)
	}
	used := 0
	for i, k := range set.Keys {
		if k.D != "" {
			return fmt.Errorf("JWKS key %d (kid %q) is a private key: publish only public keys", i, k.Kid)
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var key any
		var err error
		switch {
		case k.Kty == "RSA" && (k.Alg == "" || k.Alg == "RS256"):
			key, err = k.rsaKey()
		case k.Kty == "EC" && k.Crv == "P-256" && (k.Alg == "" || k.Alg == "ES256"):
			key, err = k.ecKey()
		default:
			continue
		}
		if err == nil {
			err = s.add(k.Kid, key)
		}
		if err != nil {
			return fmt.Errorf("JWKS key %d (kid %q): %w", i, k.Kid, err)
		}
		used++
	}
	if used == 0 {
		return errors.New("the JWKS has no RS256 (RSA) or ES256 (EC P-256) signing key")
	}
	return nil
}

func b64(field, s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s is not base64url: %w", field, err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%s is empty", field)
	}
	return b, nil
}

// members decodes the two base64url members of a public key (RSA: n and
// e; EC: x and y), named a and b in errors.
func members(a, av, b, bv string) ([]byte, []byte, error) {
	x, err := b64(a, av)
	if err != nil {
		return nil, nil, err
	}
	y, err := b64(b, bv)
	if err != nil {
		return nil, nil, err
	}
	return x, y, nil
}

func (k jwk) rsaKey() (*rsa.PublicKey, error) {
	n, e, err := members("n", k.N, "e", k.E)
	if err != nil {
		return nil, err
	}
	if len(e) > 4 {
		return nil, errors.New("e is too large")
	}
	var ev int
	for _, c := range e {
		ev = ev<<8 | int(c)
	}
	if ev < 3 || ev%2 == 0 {
		return nil, errors.New("e is not a valid RSA exponent")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ev}, nil
}

func (k jwk) ecKey() (*ecdsa.PublicKey, error) {
	x, y, err := members("x", k.X, "y", k.Y)
	if err != nil {
		return nil, err
	}
	if len(x) != 32 || len(y) != 32 {
		return nil, errors.New("x and y of a P-256 key must be 32 bytes each")
	}
	pt := append(append([]byte{4}, x...), y...)
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt)
	if err != nil {
		return nil, fmt.Errorf("not a point on P-256: %w", err)
	}
	return key, nil
}
