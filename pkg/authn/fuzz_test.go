package authn

import (
	"crypto/ecdsa"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

// FuzzVerify feeds arbitrary strings to both credential paths: nothing may
// panic, every refusal is UNAUTHENTICATED or PERMISSION_DENIED, and only the
// one valid seed is ever accepted. The seeds run with every go test;
// explore with: go test -run '^$' -fuzz FuzzVerify ./pkg/authn
func FuzzVerify(f *testing.F) {
	k := keys()
	a := mustNew(f, Config{HS256Secret: hsSecret, ServiceSecret: svcSecret,
		KeysFile: writeFile(f, "jwks.json", jwksJSON(f, map[string]*ecdsa.PublicKey{"e1": &k.ec.PublicKey}, &k.rsa.PublicKey))})
	valid, err := MintHS256(hsSecret, "alice", "acme", []string{string(RoleSystemLandscapeAdmin)}, 24*time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, userClaimsMap("system-landscape-admin")).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		valid,
		valid[:len(valid)/2],
		valid[:len(valid)-1],
		valid + "A",
		strings.ToUpper(valid),
		none,
		none + strings.Split(valid, ".")[2],
		"garbage",
		"",
		"..",
		"e30.e30.",
		"eyJhbGciOiJIUzI1NiJ9." + strings.Repeat("A", 200) + ".x",
		sign(f, jwt.SigningMethodES256, k.ec, "e1", with(userClaimsMap("x"), "roles", 42)),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range []struct {
			policy Policy
			key    string
			val    string
		}{
			{User, MetadataKey, "Bearer " + s},
			{Internal, ServiceMetadataKey, s},
		} {
			_, err := a.Authenticate(incoming(p.key, p.val), p.policy)
			if err == nil {
				if p.policy != User || s != valid {
					t.Fatalf("accepted %q in %s", s, p.key)
				}
				continue
			}
			if r := reasonOf(err); r != apperr.Unauthenticated && r != apperr.PermissionDenied {
				t.Fatalf("reason %q for %q", r, s)
			}
			if p.policy == User && s == valid {
				t.Fatalf("valid seed refused: %v", err)
			}
		}
	})
}
