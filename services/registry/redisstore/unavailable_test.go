package redisstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/registry/catalog"
	"github.com/landscape-dev/landscape/services/registry/redisstore"
	"github.com/landscape-dev/landscape/services/registry/system"
)

// A Redis that is down answers UNAVAILABLE within the call's deadline, and
// a registration whose commit failed revokes exactly the token it issued.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	port, err := testkit.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	rdb, err := redisconn.Open("redis://127.0.0.1:" + strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	cat, _ := catalog.Load()
	toks := newFakeTokens()
	svc := system.NewService(redisstore.New(rdb, "down"), toks, cat, system.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	t0 := time.Now()
	_, err = svc.Get(ctx, "acme", "x")
	if reasonOf(err) != apperr.Unavailable {
		t.Fatalf("get: %v", err)
	}
	_, err = svc.Register(ctx, system.RegisterInput{GlobalAccount: "acme", DisplayName: "X", Type: "sap-successfactors"})
	if reasonOf(err) != apperr.Unavailable {
		t.Fatalf("register: %v", err)
	}
	if time.Since(t0) > 3*time.Second {
		t.Fatalf("took %v", time.Since(t0))
	}
	toks.mu.Lock()
	defer toks.mu.Unlock()
	if len(toks.revoked) != 1 || len(toks.tokens) != 1 {
		t.Fatalf("revoked %v of %d issued", toks.revoked, len(toks.tokens))
	}
	for _, tk := range toks.tokens {
		if tk.name != toks.revoked[0] || !tk.revoked {
			t.Fatalf("revoked another token: %v", toks.revoked)
		}
	}
}
