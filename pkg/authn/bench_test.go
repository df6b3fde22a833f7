package authn

import (
	"context"
	"crypto/ecdsa"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Run: go test -run '^$' -bench . -benchmem ./pkg/authn
func benchAuthenticate(b *testing.B, a *Authenticator, ctx context.Context, policy Policy) {
	b.Helper()
	b.ReportAllocs()
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := a.Authenticate(ctx, policy); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := a.Authenticate(ctx, policy); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
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
