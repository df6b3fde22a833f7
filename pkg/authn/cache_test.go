package authn

import (
	"strconv"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

func TestVerifiedCache(t *testing.T) {
	t.Parallel()
	now := time.Now()
	exp := now.Add(time.Minute)
	var c verifiedCache
	c.put("tok", Caller{Subject: "a", Roles: []Role{RoleSystemLandscapeViewer}}, exp)

	tests := []struct {
		name string
		raw  string
		at   time.Time
		hit  bool
	}{
		{"before exp", "tok", now, true},
		{"within skew after exp", "tok", exp.Add(ClockSkew - time.Second), true},
		{"after exp and skew", "tok", exp.Add(ClockSkew), false},
		{"other token", "tok2", now, false},
		{"prefix of token", "to", now, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := c.get(tc.raw, tc.at)
			if ok != tc.hit || (ok && got.Subject != "a") {
				t.Fatalf("get = %+v, %v; want hit %v", got, ok, tc.hit)
			}
		})
	}

	t.Run("roles are copied", func(t *testing.T) {
		t.Parallel()
		got, _ := c.get("tok", now)
		got.Roles[0] = RoleGlobalAccountAdmin
		again, _ := c.get("tok", now)
		if again.Roles[0] != RoleSystemLandscapeViewer {
			t.Fatal("a caller changed the cached entry")
		}
	})
}

func TestVerifiedCacheBounded(t *testing.T) {
	t.Parallel()
	var c verifiedCache
	exp := time.Now().Add(time.Hour)
	for i := range 3 * maxCached {
		c.put(strconv.Itoa(i), Caller{Subject: "s"}, exp)
	}
	if n := len(c.m); n > maxCached {
		t.Fatalf("cache holds %d entries; bound is %d", n, maxCached)
	}
	if _, ok := c.get(strconv.Itoa(3*maxCached-1), time.Now()); !ok {
		t.Fatal("the newest entry is missing")
	}
}

// TestCachedJWTStillChecked: refusals are not cached, and a cached JWT gives
// the same caller again.
func TestCachedJWTStillChecked(t *testing.T) {
	t.Parallel()
	a := mustNew(t, Config{HS256Secret: hsSecret, ServiceSecret: svcSecret})
	noRole, err := MintHS256(hsSecret, "x", "acme", []string{"nobody"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	good, err := MintHS256(hsSecret, "x", "acme", []string{string(RoleGlobalAccountAdmin)}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := a.Authenticate(incoming(MetadataKey, "Bearer "+noRole), User); reasonOf(err) != apperr.PermissionDenied {
			t.Fatalf("no-role JWT: %v", err)
		}
		ctx, err := a.Authenticate(incoming(MetadataKey, "Bearer "+good), User)
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := FromContext(ctx); c.Subject != "x" || len(c.Roles) != 1 {
			t.Fatalf("caller = %+v", c)
		}
		// A cached user JWT is still refused for an internal RPC and in the
		// service header.
		if _, err := a.Authenticate(incoming(MetadataKey, "Bearer "+good), Internal); reasonOf(err) != apperr.PermissionDenied {
			t.Fatalf("internal: %v", err)
		}
		if _, err := a.Authenticate(incoming(ServiceMetadataKey, good), Internal); reasonOf(err) != apperr.Unauthenticated {
			t.Fatalf("service header: %v", err)
		}
	}
}
