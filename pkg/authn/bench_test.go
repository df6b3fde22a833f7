package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Run: go test -run '^$' -bench . -benchmem ./pkg/authn
//
// Each Verify benchmark has a "cached" run (one JWT on every call, as a
// client does; the verified-JWT cache answers), a "full" run (signature
// and claims checked on every call) and a parallel full run. The Baseline
// benchmarks time the bare signature check of the same JWT, in the same
// run, so that noise from a shared machine shows in both.
func benchAuthenticate(b *testing.B, a *Authenticator, ctx context.Context, policy Policy) {
	b.Helper()
	run := func(name string, noCache, parallel bool) {
		b.Run(name, func(b *testing.B) {
			a.noCache = noCache
			b.ReportAllocs()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := a.Authenticate(ctx, policy); err != nil {
							b.Error(err)
							return
						}
					}
				})
				return
			}
			for b.Loop() {
				if _, err := a.Authenticate(ctx, policy); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	run("cached", false, false)
	run("full", true, false)
	run("full-parallel", true, true)
}

func BenchmarkVerifyHS256(b *testing.B) {
	a := mustNew(b, Config{HS256Secret: hsSecret})
	tok, err := MintHS256(hsSecret, "alice", "acme", []string{string(RoleSystemLandscapeAdmin)}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	benchAuthenticate(b, a, incoming(MetadataKey, "Bearer "+tok), User)
}

func BenchmarkVerifyES256(b *testing.B) {
	k := keys()
	a := mustNew(b, Config{KeysFile: writeFile(b, "jwks.json", jwksJSON(b,
		map[string]*ecdsa.PublicKey{"e1": &k.ec.PublicKey, "e2": &k.ec2.PublicKey}, &k.rsa.PublicKey))})
	tok := sign(b, jwt.SigningMethodES256, k.ec2, "e2", userClaimsMap(string(RoleSystemLandscapeAdmin)))
	benchAuthenticate(b, a, incoming(MetadataKey, "Bearer "+tok), User)
}

func BenchmarkVerifyRS256(b *testing.B) {
	k := keys()
	a := mustNew(b, Config{KeysFile: writeFile(b, "rsa.pem", pkixPEM(b, &k.rsa.PublicKey))})
	tok := sign(b, jwt.SigningMethodRS256, k.rsa, "", userClaimsMap(string(RoleSystemLandscapeAdmin)))
	benchAuthenticate(b, a, incoming(MetadataKey, "Bearer "+tok), User)
}

func BenchmarkVerifyService(b *testing.B) {
	a := mustNew(b, Config{ServiceSecret: svcSecret})
	benchAuthenticate(b, a, incoming(ServiceMetadataKey, svcToken(b, svcSecret, "formation")), Internal)
}

func BenchmarkServiceCredentialCached(b *testing.B) {
	c := ServiceCredential(svcSecret, "formation")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GetRequestMetadata(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineHMAC is the bare HMAC-SHA256 of a JWT's signing input.
func BenchmarkBaselineHMAC(b *testing.B) {
	tok, err := MintHS256(hsSecret, "alice", "acme", []string{string(RoleSystemLandscapeAdmin)}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	input := []byte(tok[:strings.LastIndexByte(tok, '.')])
	b.ReportAllocs()
	for b.Loop() {
		m := hmac.New(sha256.New, []byte(hsSecret))
		m.Write(input)
		m.Sum(nil)
	}
}

// BenchmarkBaselineECDSA is the bare P-256 check of a JWT's signature.
func BenchmarkBaselineECDSA(b *testing.B) {
	k := keys()
	tok := sign(b, jwt.SigningMethodES256, k.ec, "", userClaimsMap(string(RoleSystemLandscapeAdmin)))
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.Sum256([]byte(tok[:i]))
	b.ReportAllocs()
	for b.Loop() {
		if !jwt.SigningMethodES256.Hash.Available() || len(sig) != 64 {
			b.Fatal("bad signature")
		}
		if !ecdsaVerify(&k.ec.PublicKey, h[:], sig) {
			b.Fatal("does not verify")
		}
	}
}

func ecdsaVerify(pub *ecdsa.PublicKey, h, sig []byte) bool {
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, h, r, s)
}
