package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/metadata"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

const (
	hsSecret  = "dev-secret-for-tests-0123456789abcdef"
	svcSecret = "service-secret-for-tests-0123456789"
)

// testKeys are generated once per test binary: RSA generation is slow.
type testKeys struct {
	rsa, rsa2 *rsa.PrivateKey
	ec, ec2   *ecdsa.PrivateKey
}

var keys = sync.OnceValue(func() testKeys {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	var k testKeys
	var err error
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.ec2, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	return k
})

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pkixPEM(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func certPEM(t testing.TB, priv *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "issuer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwksJSON writes a JWKS with the EC keys by kid and the RSA key "r1".
func jwksJSON(t testing.TB, ecKeys map[string]*ecdsa.PublicKey, rsaKey *rsa.PublicKey) []byte {
	t.Helper()
	var ks []map[string]string
	for kid, k := range ecKeys {
		pt, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, map[string]string{"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
			"x": b64u(pt[1:33]), "y": b64u(pt[33:])})
	}
	if rsaKey != nil {
		ks = append(ks, map[string]string{"kty": "RSA", "kid": "r1", "alg": "RS256",
			"n": b64u(rsaKey.N.Bytes()), "e": b64u(big.NewInt(int64(rsaKey.E)).Bytes())})
	}
	// A key of another kind is skipped, not an error.
	ks = append(ks, map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": b64u(make([]byte, 32))})
	b, err := json.Marshal(map[string]any{"keys": ks})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sign signs arbitrary claims with method and key, for forged tokens.
func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func userClaimsMap(roles ...string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"sub": "alice", "ga": "acme", "roles": roles,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func incoming(kv ...string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs(kv...))
}

func mustNew(t testing.TB, cfg Config) *Authenticator {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func reasonOf(err error) apperr.Reason {
	var e *apperr.Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func svcToken(t testing.TB, secret, service string) string {
	t.Helper()
	md, err := ServiceCredential(secret, service).GetRequestMetadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return md[ServiceMetadataKey]
}

func TestNew(t *testing.T) {
	t.Parallel()
	k := keys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalECPrivateKey(k.ec)
	if err != nil {
		t.Fatal(err)
	}
	pemMix := append(pkixPEM(t, &k.rsa.PublicKey), pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa2.PublicKey)})...)
	pemMix = append(pemMix, certPEM(t, k.ec)...)

	tests := []struct {
		name    string
		cfg     func(t *testing.T) Config
		wantErr string // "" = success
	}{
		{"no key", func(*testing.T) Config { return Config{Issuer: "x"} }, "no key configured"},
		{"hs only", func(*testing.T) Config { return Config{HS256Secret: hsSecret} }, ""},
		{"service only", func(*testing.T) Config { return Config{ServiceSecret: svcSecret} }, ""},
		{"same secrets", func(*testing.T) Config { return Config{HS256Secret: "s", ServiceSecret: "s"} }, "must differ"},
		{"missing file", func(t *testing.T) Config { return Config{KeysFile: filepath.Join(t.TempDir(), "nope.pem")} }, "read keys file"},
		{"empty file", func(t *testing.T) Config { return Config{KeysFile: writeFile(t, "k.pem", nil)} }, "no PEM block"},
		{"garbage file", func(t *testing.T) Config { return Config{KeysFile: writeFile(t, "k.pem", []byte("hello"))} }, "no PEM block"},
		{"PEM mix", func(t *testing.T) Config { return Config{KeysFile: writeFile(t, "k.pem", pemMix)} }, ""},
		{"PEM private key", func(t *testing.T) Config {
			return Config{KeysFile: writeFile(t, "k.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: privDER}))}
		}, "never a private key"},
		{"PEM small RSA", func(t *testing.T) Config {
			return Config{KeysFile: writeFile(t, "k.pem", pkixPEM(t, &small.PublicKey))}
		}, "at least 2048"},
		{"PEM P-384", func(t *testing.T) Config { return Config{KeysFile: writeFile(t, "k.pem", pkixPEM(t, &p384.PublicKey))} }, "only P-256"},
		{"PEM trailing junk", func(t *testing.T) Config {
			return Config{KeysFile: writeFile(t, "k.pem", append(pkixPEM(t, &k.ec.PublicKey), "junk"...))}
		}, "not PEM"},
		{"JWKS", func(t *testing.T) Config {
			return Config{KeysFile: writeFile(t, "k.json", jwksJSON(t, map[string]*ecdsa.PublicKey{"e1": &k.ec.PublicKey}, &k.rsa.PublicKey))}
		}, ""},
		{"JWKS bad json", func(t *testing.T) Config { return Config{KeysFile: writeFile(t, "k.json", []byte(`{"keys": [`))} }, "not a JWKS"},
		{"JWKS no usable key", func(t *testing.T) Config { return Config{KeysFile: writeFile(t, "k.json", []byte(`{"keys":[]}`))} }, "no RS256"},
		{"JWKS point off curve", func(t *testing.T) Config {
			return Config{KeysFile: writeFile(t, "k.json", []byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"a","x":"`+
				b64u(make([]byte, 32))+`","y":"`+b64u(append(make([]byte, 31), 1))+`"}]}`))}
		}, "not a point"},
		{"JWKS private key", func(t *testing.T) Config {
			return Config{KeysFile: writeFile(t, "k.json", []byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"a","x":"AA","y":"AA","d":"AA"}]}`))}
		}, "private key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := New(tc.cfg(t))
			if tc.wantErr == "" {
				if err != nil || a == nil {
					t.Fatalf("New = %v, %v; want success", a, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New error = %v; want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	k := keys()
	rsaPEM := writeFile(t, "rsa.pem", pkixPEM(t, &k.rsa.PublicKey))
	jwks := writeFile(t, "jwks.json", jwksJSON(t, map[string]*ecdsa.PublicKey{"e1": &k.ec.PublicKey, "e2": &k.ec2.PublicKey}, nil))

	hs := mustNew(t, Config{HS256Secret: hsSecret, ServiceSecret: svcSecret})
	hsNoSvc := mustNew(t, Config{HS256Secret: hsSecret})
	svcOnly := mustNew(t, Config{ServiceSecret: svcSecret})
	rsOnly := mustNew(t, Config{KeysFile: rsaPEM})
	esJWKS := mustNew(t, Config{KeysFile: jwks, ServiceSecret: svcSecret})
	issAud := mustNew(t, Config{HS256Secret: hsSecret, Issuer: "https://issuer", Audience: "landscape"})

	valid, err := MintHS256(hsSecret, "alice", "acme", []string{"global-account-admin", "made-up"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour).Unix()
	base := userClaimsMap("system-landscape-viewer")
	rsaPubPEM := pkixPEM(t, &k.rsa.PublicKey)
	svc := svcToken(t, svcSecret, "formation")
	userWithSvcSecret, _ := MintHS256(svcSecret, "service:formation", "", []string{"global-account-admin"}, time.Hour)
	noneTok := func(c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	type tc struct {
		name   string
		a      *Authenticator
		policy Policy
		md     []string
		want   apperr.Reason // "" = accepted
		msg    string        // part of the message
		caller *Caller       // checked when accepted
	}
	bearer := func(s string) []string { return []string{MetadataKey, "Bearer " + s} }
	tests := []tc{
		// HS256 users.
		{name: "hs valid, unknown role dropped", a: hs, policy: User, md: bearer(valid),
			caller: &Caller{Subject: "alice", GlobalAccount: "acme", Roles: []Role{RoleGlobalAccountAdmin}}},
		{name: "bearer scheme case-insensitive", a: hs, policy: User, md: []string{MetadataKey, "bearer " + valid}},
		{name: "no JWT", a: hs, policy: User, want: apperr.Unauthenticated, msg: "send Authorization: Bearer <JWT>"},
		{name: "no metadata at all", a: hs, policy: User, md: nil, want: apperr.Unauthenticated},
		{name: "not bearer", a: hs, policy: User, md: []string{MetadataKey, "Basic " + valid}, want: apperr.Unauthenticated, msg: "Bearer <JWT>"},
		{name: "bearer with nothing", a: hs, policy: User, md: []string{MetadataKey, "Bearer "}, want: apperr.Unauthenticated},
		{name: "two authorization values", a: hs, policy: User, md: append(bearer(valid), bearer(valid)...), want: apperr.Unauthenticated, msg: "one"},
		{name: "garbage", a: hs, policy: User, md: bearer("not-a-jwt"), want: apperr.Unauthenticated, msg: "malformed"},
		{name: "truncated", a: hs, policy: User, md: bearer(valid[:len(valid)-5]), want: apperr.Unauthenticated},
		{name: "expired", a: hs, policy: User, md: bearer(sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", with(base, "exp", past))),
			want: apperr.Unauthenticated, msg: "expired: get a new one"},
		{name: "expired within skew", a: hs, policy: User,
			md: bearer(sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", with(base, "exp", time.Now().Add(-10*time.Second).Unix())))},
		{name: "nbf in future", a: hs, policy: User, md: bearer(sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", with(base, "nbf", time.Now().Add(time.Minute).Unix()))),
			want: apperr.Unauthenticated, msg: "not valid yet"},
		{name: "nbf within skew", a: hs, policy: User, md: bearer(sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", with(base, "nbf", time.Now().Add(20*time.Second).Unix())))},
		{name: "iat in future", a: hs, policy: User, md: bearer(sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", with(base, "iat", time.Now().Add(time.Minute).Unix()))),
			want: apperr.Unauthenticated, msg: "iat"},
		{name: "no exp", a: hs, policy: User, md: bearer(sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", with(base, "exp", nil))),
			want: apperr.Unauthenticated, msg: "exp"},
		{name: "wrong secret", a: hs, policy: User, md: bearer(sign(t, jwt.SigningMethodHS256, []byte("other"), "", base)),
			want: apperr.Unauthenticated, msg: "signature"},
		{name: "tampered payload", a: hs, policy: User, md: bearer(tamper(t, valid)), want: apperr.Unauthenticated},
		{name: "alg none", a: hs, policy: User, md: bearer(noneTok(base)), want: apperr.Unauthenticated},
		{name: "alg none with signature", a: hs, policy: User, md: bearer(noneTok(base) + "c2ln"), want: apperr.Unauthenticated},
		{name: "HS384 not accepted", a: hs, policy: User, md: bearer(sign(t, jwt.SigningMethodHS384, []byte(hsSecret), "", base)), want: apperr.Unauthenticated},
		{name: "roles is a string", a: hs, policy: User, md: bearer(sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", with(base, "roles", "global-account-admin"))),
			want: apperr.Unauthenticated},
		{name: "unknown role only", a: hs, policy: User, md: bearer(sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", with(base, "roles", []string{"superuser"}))),
			want: apperr.PermissionDenied, msg: "no known role"},
		{name: "no roles claim", a: hs, policy: User, md: bearer(sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", with(base, "roles", nil))),
			want: apperr.PermissionDenied},
		{name: "user JWT without service secret configured", a: hsNoSvc, policy: User, md: bearer(valid)},
		{name: "user JWT where only service secret is configured", a: svcOnly, policy: User, md: bearer(valid), want: apperr.Unauthenticated, msg: "no user JWT"},

		// Issuer and audience.
		{name: "iss/aud ok", a: issAud, policy: User, md: bearer(sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", with(base, "iss", "https://issuer", "aud", []string{"x", "landscape"})))},
		{name: "iss missing", a: issAud, policy: User, md: bearer(sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", with(base, "aud", "landscape"))),
			want: apperr.Unauthenticated, msg: "issuer"},
		{name: "aud missing", a: issAud, policy: User, md: bearer(sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", with(base, "iss", "https://issuer"))),
			want: apperr.Unauthenticated, msg: "audience"},
		{name: "iss wrong", a: issAud, policy: User, md: bearer(sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", with(base, "iss", "https://evil", "aud", "landscape"))),
			want: apperr.Unauthenticated, msg: "issuer"},
		{name: "aud wrong", a: issAud, policy: User, md: bearer(sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", with(base, "iss", "https://issuer", "aud", "other"))),
			want: apperr.Unauthenticated, msg: "audience"},

		// RS256 via PEM; HS/RS confusion.
		{name: "rs256 PEM", a: rsOnly, policy: User, md: bearer(sign(t, jwt.SigningMethodRS256, k.rsa, "", base)),
			caller: &Caller{Subject: "alice", GlobalAccount: "acme", Roles: []Role{RoleSystemLandscapeViewer}}},
		{name: "rs256 PEM ignores unknown kid", a: rsOnly, policy: User, md: bearer(sign(t, jwt.SigningMethodRS256, k.rsa, "whatever", base))},
		{name: "rs256 other key", a: rsOnly, policy: User, md: bearer(sign(t, jwt.SigningMethodRS256, k.rsa2, "", base)), want: apperr.Unauthenticated},
		{name: "HS/RS confusion", a: rsOnly, policy: User, md: bearer(sign(t, jwt.SigningMethodHS256, rsaPubPEM, "", base)), want: apperr.Unauthenticated},
		{name: "HS/RS confusion, DER key", a: rsOnly, policy: User, md: bearer(sign(t, jwt.SigningMethodHS256, x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey), "", base)),
			want: apperr.Unauthenticated},
		{name: "ES256 to RSA-only", a: rsOnly, policy: User, md: bearer(sign(t, jwt.SigningMethodES256, k.ec, "", base)), want: apperr.Unauthenticated},
		{name: "PS256 with the RSA key", a: rsOnly, policy: User, md: bearer(sign(t, jwt.SigningMethodPS256, k.rsa, "", base)), want: apperr.Unauthenticated},

		// ES256 via JWKS.
		{name: "es256 kid e1", a: esJWKS, policy: User, md: bearer(sign(t, jwt.SigningMethodES256, k.ec, "e1", base))},
		{name: "es256 kid e2", a: esJWKS, policy: User, md: bearer(sign(t, jwt.SigningMethodES256, k.ec2, "e2", base))},
		{name: "es256 no kid tries all", a: esJWKS, policy: User, md: bearer(sign(t, jwt.SigningMethodES256, k.ec2, "", base))},
		{name: "es256 wrong kid", a: esJWKS, policy: User, md: bearer(sign(t, jwt.SigningMethodES256, k.ec2, "e1", base)), want: apperr.Unauthenticated},
		{name: "es256 unknown kid", a: esJWKS, policy: User, md: bearer(sign(t, jwt.SigningMethodES256, k.ec, "zz", base)), want: apperr.Unauthenticated},
		{name: "HS256 to ES-only", a: esJWKS, policy: User, md: bearer(valid), want: apperr.Unauthenticated},
		{name: "HS256 with EC point as secret", a: esJWKS, policy: User, md: bearer(sign(t, jwt.SigningMethodHS256, pkixPEM(t, &k.ec.PublicKey), "e1", base)),
			want: apperr.Unauthenticated},

		// Public.
		{name: "public, nothing", a: hs, policy: Public},
		{name: "public ignores bad JWT", a: hs, policy: Public, md: bearer("garbage")},

		// Service credential.
		{name: "service for Internal", a: hs, policy: Internal, md: []string{ServiceMetadataKey, svc},
			caller: &Caller{Subject: "service:formation", Service: true}},
		{name: "service for User", a: hs, policy: User, md: []string{ServiceMetadataKey, svc},
			caller: &Caller{Subject: "service:formation", Service: true}},
		{name: "service with Bearer prefix", a: hs, policy: Internal, md: []string{ServiceMetadataKey, "Bearer " + svc}},
		{name: "service to service-only server", a: svcOnly, policy: Internal, md: []string{ServiceMetadataKey, svc}},
		{name: "service via JWKS server", a: esJWKS, policy: Internal, md: []string{ServiceMetadataKey, svc}},
		{name: "service wins over a bad user JWT", a: hs, policy: User, md: append([]string{ServiceMetadataKey, svc}, bearer("garbage")...)},
		{name: "invalid service credential is not skipped", a: hs, policy: User, md: append([]string{ServiceMetadataKey, "garbage"}, bearer(valid)...),
			want: apperr.Unauthenticated},
		{name: "user JWT refused for Internal", a: hs, policy: Internal, md: bearer(valid), want: apperr.PermissionDenied, msg: "internal RPC"},
		{name: "nothing for Internal", a: hs, policy: Internal, want: apperr.Unauthenticated, msg: "service credential"},
		{name: "service credential in authorization", a: hs, policy: User, md: bearer(svc), want: apperr.Unauthenticated},
		{name: "service credential in authorization, Internal", a: hs, policy: Internal, md: bearer(svc), want: apperr.PermissionDenied},
		{name: "user JWT signed with service secret in service header", a: hs, policy: Internal, md: []string{ServiceMetadataKey, userWithSvcSecret},
			want: apperr.Unauthenticated},
		{name: "user JWT signed with service secret in authorization", a: hs, policy: User, md: bearer(userWithSvcSecret), want: apperr.Unauthenticated},
		{name: "user JWT in service header", a: hs, policy: User, md: []string{ServiceMetadataKey, valid}, want: apperr.Unauthenticated},
		{name: "service credential with wrong secret", a: hs, policy: Internal, md: []string{ServiceMetadataKey, svcToken(t, "wrong-secret", "formation")},
			want: apperr.Unauthenticated},
		{name: "service credential, server has no service secret", a: hsNoSvc, policy: Internal, md: []string{ServiceMetadataKey, svc}, want: apperr.Unauthenticated},
		{name: "service credential expired", a: hs, policy: Internal, md: []string{ServiceMetadataKey, sign(t, jwt.SigningMethodHS256, []byte(svcSecret), "",
			jwt.MapClaims{"sub": "service:x", "aud": ServiceAudience, "exp": past})}, want: apperr.Unauthenticated, msg: "expired"},
		{name: "service credential without service name", a: hs, policy: Internal, md: []string{ServiceMetadataKey, sign(t, jwt.SigningMethodHS256, []byte(svcSecret), "",
			jwt.MapClaims{"sub": "formation", "aud": ServiceAudience, "exp": time.Now().Add(time.Minute).Unix()})}, want: apperr.Unauthenticated},
		{name: "two service credentials", a: hs, policy: Internal, md: []string{ServiceMetadataKey, svc, ServiceMetadataKey, svc}, want: apperr.Unauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := incoming(tc.md...)
			if tc.md == nil {
				ctx = t.Context()
			}
			got, err := tc.a.Authenticate(ctx, tc.policy)
			if tc.want != "" {
				if reasonOf(err) != tc.want {
					t.Fatalf("err = %v; want reason %s", err, tc.want)
				}
				var e *apperr.Error
				errors.As(err, &e)
				if !strings.Contains(e.Message, tc.msg) {
					t.Errorf("message %q; want it to contain %q", e.Message, tc.msg)
				}
				for i := 1; i < len(tc.md); i += 2 {
					if tok := strings.TrimPrefix(tc.md[i], "Bearer "); len(tok) > 8 && strings.Contains(err.Error(), tok) {
						t.Errorf("error %q echoes the credential", err)
					}
				}
				if got != ctx {
					t.Errorf("ctx changed on error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			c, ok := FromContext(got)
			if tc.policy == Public {
				// A public call has no caller, only its client (ClientFrom).
				if ok {
					t.Fatalf("Public put a caller in ctx: %v", c)
				}
				return
			}
			if !ok {
				t.Fatal("no caller in ctx")
			}
			if tc.caller != nil && (c.Subject != tc.caller.Subject || c.GlobalAccount != tc.caller.GlobalAccount ||
				c.Service != tc.caller.Service || !slices.Equal(c.Roles, tc.caller.Roles)) {
				t.Fatalf("caller = %+v; want %+v", c, *tc.caller)
			}
		})
	}
}

// tamper changes the payload of a JWT, keeping its signature.
func tamper(t testing.TB, tok string) string {
	t.Helper()
	p := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(p[1])
	if err != nil {
		t.Fatal(err)
	}
	p[1] = b64u([]byte(strings.Replace(string(b), `"acme"`, `"evil"`, 1)))
	return strings.Join(p, ".")
}

func TestAuthorize(t *testing.T) {
	t.Parallel()
	viewer := Caller{Subject: "v", GlobalAccount: "acme", Roles: []Role{RoleSystemLandscapeViewer}}
	admin := Caller{Subject: "a", GlobalAccount: "acme", Roles: []Role{RoleSystemLandscapeAdmin}}
	gaAdmin := Caller{Subject: "g", GlobalAccount: "acme", Roles: []Role{RoleSystemLandscapeViewer, RoleGlobalAccountAdmin}}
	service := Caller{Subject: "service:registry", Service: true}
	tests := []struct {
		name   string
		caller *Caller
		ga     string
		access Access
		want   apperr.Reason
	}{
		{"viewer read", &viewer, "acme", Read, ""},
		{"viewer write", &viewer, "acme", Write, apperr.PermissionDenied},
		{"admin write", &admin, "acme", Write, ""},
		{"ga admin write", &gaAdmin, "acme", Write, ""},
		{"viewer admin read", &viewer, "acme", Admin, apperr.PermissionDenied},
		{"admin admin read", &admin, "acme", Admin, ""},
		{"ga admin admin read", &gaAdmin, "acme", Admin, ""},
		{"admin of another ga admin read", &admin, "other", Admin, apperr.PermissionDenied},
		{"admin of another ga", &admin, "other", Read, apperr.PermissionDenied},
		{"ga admin of another ga", &gaAdmin, "other", Write, apperr.PermissionDenied},
		{"service any ga", &service, "other", Write, ""},
		{"no caller", nil, "acme", Read, apperr.Unauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			if tc.caller != nil {
				ctx = WithCaller(ctx, *tc.caller)
			}
			if err := Authorize(ctx, tc.ga, tc.access); reasonOf(err) != tc.want {
				t.Fatalf("Authorize = %v; want %q", err, tc.want)
			}
		})
	}
}

// TestAuthenticateThenAuthorize runs a minted viewer JWT through both steps.
func TestAuthenticateThenAuthorize(t *testing.T) {
	t.Parallel()
	a := mustNew(t, Config{HS256Secret: hsSecret})
	tok, err := MintHS256(hsSecret, "bob", "acme", []string{string(RoleSystemLandscapeViewer)}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := a.Authenticate(incoming(MetadataKey, "Bearer "+tok), User)
	if err != nil {
		t.Fatal(err)
	}
	if err := Authorize(ctx, "acme", Read); err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := Authorize(ctx, "acme", Write); reasonOf(err) != apperr.PermissionDenied {
		t.Fatalf("write: %v; want PERMISSION_DENIED", err)
	}
}

func TestServiceCredential(t *testing.T) {
	t.Parallel()
	t.Run("cached and renewed", func(t *testing.T) {
		t.Parallel()
		c := ServiceCredential(svcSecret, "registry")
		if c.RequireTransportSecurity() {
			t.Fatal("RequireTransportSecurity = true")
		}
		md1, err := c.GetRequestMetadata(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		md2, _ := c.GetRequestMetadata(t.Context())
		if md1[ServiceMetadataKey] == "" || md1[ServiceMetadataKey] != md2[ServiceMetadataKey] {
			t.Fatal("token not cached")
		}
		if _, ok := md1[MetadataKey]; ok || len(md1) != 1 {
			t.Fatalf("metadata keys = %v; want only %s", md1, ServiceMetadataKey)
		}
		sc := c.(*serviceCred)
		later := time.Now().Add(ServiceTokenTTL - 30*time.Second)
		t3, err := sc.current(later)
		if err != nil || t3 == md1[ServiceMetadataKey] {
			t.Fatalf("token not renewed before expiry (err %v)", err)
		}
		var cl jwt.RegisteredClaims
		if _, _, err := jwt.NewParser().ParseUnverified(t3, &cl); err != nil {
			t.Fatal(err)
		}
		if cl.Subject != "service:registry" || !slices.Equal([]string(cl.Audience), []string{ServiceAudience}) ||
			cl.ExpiresAt.Sub(later.Truncate(time.Second)) != ServiceTokenTTL {
			t.Fatalf("claims = %+v", cl)
		}
	})
	t.Run("no secret", func(t *testing.T) {
		t.Parallel()
		if _, err := ServiceCredential("", "registry").GetRequestMetadata(t.Context()); err == nil {
			t.Fatal("no error without a secret")
		}
	})
}

func TestMint(t *testing.T) {
	t.Parallel()
	k := keys()
	a := mustNew(t, Config{HS256Secret: hsSecret, Issuer: "iss", Audience: "aud",
		KeysFile: writeFile(t, "k.json", jwksJSON(t, map[string]*ecdsa.PublicKey{"e1": &k.ec.PublicKey}, &k.rsa.PublicKey))})
	c := Claims{Subject: "s", GlobalAccount: "acme", Roles: []string{"global-account-admin"}, TTL: time.Minute, Issuer: "iss", Audience: []string{"aud"}}
	for _, tc := range []struct {
		name string
		key  any
		kid  string
	}{{"HS256", []byte(hsSecret), ""}, {"RS256", k.rsa, "r1"}, {"ES256", k.ec, "e1"}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := c
			c.KeyID = tc.kid
			tok, err := Mint(tc.key, c)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Authenticate(incoming(MetadataKey, "Bearer "+tok), User); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := MintHS256("", "s", "g", nil, time.Minute); err == nil {
		t.Error("MintHS256 with no secret succeeded")
	}
	if _, err := MintHS256(hsSecret, "s", "g", nil, 0); err == nil {
		t.Error("MintHS256 with no ttl succeeded")
	}
}

// TestStrictJWT: what golang-jwt leaves open is refused (crit, no sub,
// string dates, lifetimes beyond --jwt-max-lifetime), and each refusal
// says why.
func TestStrictJWT(t *testing.T) {
	t.Parallel()
	a := mustNew(t, Config{HS256Secret: hsSecret})
	short := mustNew(t, Config{HS256Secret: hsSecret, MaxLifetime: time.Hour})
	now := time.Now()
	base := userClaimsMap("system-landscape-viewer")
	withHeader := func(c jwt.MapClaims, k string, v any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
		tok.Header[k] = v
		s, err := tok.SignedString([]byte(hsSecret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", c) }
	hundredYears := now.Add(100 * 365 * 24 * time.Hour).Unix()
	tests := []struct {
		name string
		a    *Authenticator
		tok  string
		msg  string // "" = accepted
	}{
		{"valid", a, hs(base), ""},
		{"crit with an unknown extension", a, withHeader(base, "crit", []string{"exp-ext"}), "crit"},
		{"crit empty", a, withHeader(base, "crit", []string{}), "crit"},
		{"no sub", a, hs(with(base, "sub", nil)), "subject (sub)"},
		{"empty sub", a, hs(with(base, "sub", "")), "subject (sub)"},
		{"exp a hundred years ahead", a, hs(with(base, "exp", hundredYears)), "lives longer"},
		{"exp a hundred years ahead without iat", a, hs(with(base, "exp", hundredYears, "iat", nil)), "lives longer"},
		{"exp 25h after iat", a, hs(with(base, "iat", now.Unix(), "exp", now.Add(25*time.Hour).Unix())), "lives longer"},
		{"exactly 24h", a, hs(with(base, "iat", now.Unix(), "exp", now.Add(24*time.Hour).Unix())), ""},
		{"old iat, short remaining life still too long", a, hs(with(base, "iat", now.Add(-48*time.Hour).Unix(), "exp", now.Add(time.Hour).Unix())), "lives longer"},
		{"without iat, 23h left", a, hs(with(base, "iat", nil, "exp", now.Add(23*time.Hour).Unix())), ""},
		{"--jwt-max-lifetime 1h: 2h refused", short, hs(with(base, "exp", now.Add(2*time.Hour).Unix())), "1h0m0s"},
		{"--jwt-max-lifetime 1h: 30m accepted", short, hs(with(base, "exp", now.Add(30*time.Minute).Unix())), ""},
		{"exp as a string", a, hs(with(base, "exp", strconv.FormatInt(now.Add(time.Hour).Unix(), 10))), "must be numbers"},
		{"iat as a string", a, hs(with(base, "iat", strconv.FormatInt(now.Unix(), 10))), "must be numbers"},
		{"nbf as a string", a, hs(with(base, "nbf", strconv.FormatInt(now.Unix(), 10))), "must be numbers"},
		{"exp fractional", a, hs(with(base, "exp", float64(now.Add(time.Hour).Unix())+0.5)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := tt.a.AuthenticateUser([]string{"Bearer " + tt.tok})
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.Subject != "alice" {
					t.Errorf("subject %q", c.Subject)
				}
				return
			}
			if reasonOf(err) != apperr.Unauthenticated {
				t.Fatalf("err = %v, want UNAUTHENTICATED", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not say %q", err.Error(), tt.msg)
			}
			if strings.Contains(err.Error(), tt.tok) {
				t.Error("the message holds the token")
			}
			// A refused token is not cached: asking again refuses again.
			if _, err := tt.a.AuthenticateUser([]string{"Bearer " + tt.tok}); err == nil {
				t.Error("accepted the second time")
			}
		})
	}
	if _, err := New(Config{HS256Secret: hsSecret, MaxLifetime: -time.Second}); err == nil {
		t.Error("New accepted a negative longest lifetime")
	}
}
