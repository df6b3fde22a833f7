package redisstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/seal"
	"github.com/landscape-dev/landscape/pkg/webhook"
	"github.com/landscape-dev/landscape/services/registry/catalog"
	"github.com/landscape-dev/landscape/services/registry/system"
)

// anyURL accepts every webhook URL (the egress guard has its own tests).
type anyURL struct{}

func (anyURL) CheckURL(context.Context, string) error { return nil }

// signedUnder reports whether a notification signed with the secrets the
// registry hands the delivery engine verifies under secret.
func signedUnder(t *testing.T, svc *system.Service, secret string, now time.Time) bool {
	t.Helper()
	secrets, err := svc.WebhookSecrets(t.Context(), "acme", "s4")
	if err != nil {
		t.Fatal(err)
	}
	h, body := http.Header{}, []byte(`{"type":"peers.changed"}`)
	webhook.SetHeaders(h, secrets, "msg_rot", now, body)
	return webhook.VerifyRequest([]string{secret}, h, body, now) == nil
}

// TestRotateWebhookSecret: the new secret is returned once; the old one
// keeps signing beside it for RotationGrace and verifies nothing after;
// neither is ever readable again (a read, Redis, an event, a log line).
func TestRotateWebhookSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := make([]byte, seal.KeyBytes)
	_, _ = rand.Read(key)
	sealer, err := seal.New(key)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	now := func() time.Time { return time.Unix(0, e.clock.Add(1000)).UTC() }
	svc := system.NewService(e.store, e.tokens, cat, system.Options{
		Now: now, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Webhooks: system.WebhookOptions{Sealer: sealer, Guard: anyURL{}},
	})
	ctx := t.Context()
	reg, err := svc.Register(ctx, system.RegisterInput{GlobalAccount: "acme", SystemID: "s4", DisplayName: "S4", Type: "sap-s4hana-cloud"})
	if err != nil {
		t.Fatal(err)
	}
	paired, err := svc.Pair(ctx, system.PairInput{Token: reg.Token.Secret, SystemType: "sap-s4hana-cloud", BaseURL: "https://s4.example.com",
		Webhook: &system.Webhook{URL: "https://hooks.example.com/s4", Mode: system.WebhookSync}})
	if err != nil {
		t.Fatal(err)
	}
	first := paired.WebhookSecret
	if _, err := webhook.Key(first); err != nil {
		t.Fatalf("pairing secret %q: %v", first, err)
	}
	if _, _, err := svc.RotateWebhookSecret(ctx, "acme", "nope"); err == nil {
		t.Fatal("rotating a missing system succeeded")
	}
	rotated, second, err := svc.RotateWebhookSecret(ctx, "acme", "s4")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := webhook.Key(second); err != nil || second == first {
		t.Fatalf("rotated secret %q (first %q): %v", second, first, err)
	}
	if rotated.WebhookSecret != "" && rotated.WebhookSecret != second {
		t.Fatalf("the rotated system carries another secret")
	}

	at := now()
	if !signedUnder(t, svc, second, at) || !signedUnder(t, svc, first, at) {
		t.Fatal("during the grace period both secrets must verify")
	}
	e.clock.Add(int64(system.RotationGrace + time.Second))
	at = now()
	if !signedUnder(t, svc, second, at) {
		t.Fatal("the new secret does not verify after the grace period")
	}
	if signedUnder(t, svc, first, at) {
		t.Fatal("the old secret still verifies after the grace period")
	}
	// A second rotation drops the expired one for good.
	if _, third, err := svc.RotateWebhookSecret(ctx, "acme", "s4"); err != nil || !signedUnder(t, svc, third, now()) || signedUnder(t, svc, first, now()) {
		t.Fatalf("second rotation: %v", err)
	}

	got, err := svc.Get(ctx, "acme", "s4")
	if err != nil || got.WebhookSecret != "" || got.Webhook == nil {
		t.Fatalf("get: %+v %v", got, err)
	}
	// Nothing under the test's prefix holds a secret in plain text: the
	// records, the outbox and its events.
	keys, err := e.rdb.Keys(ctx, e.prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		var dump string
		switch e.rdb.Type(ctx, k).Val() {
		case "string":
			dump = e.rdb.Get(ctx, k).Val()
		case "hash":
			for f, v := range e.rdb.HGetAll(ctx, k).Val() {
				dump += f + "=" + v + "\n"
			}
		case "stream":
			for _, m := range e.rdb.XRange(ctx, k, "-", "+").Val() {
				for f, v := range m.Values {
					dump += f + "=" + v.(string) + "\n"
				}
			}
		}
		for _, s := range []string{first, second, strings.TrimPrefix(second, webhook.SecretPrefix)} {
			if strings.Contains(dump, s) {
				t.Errorf("key %s holds a webhook secret in plain text", k)
			}
		}
	}
	if strings.Contains(logs.String(), "whsec_") || strings.Contains(logs.String(), strings.TrimPrefix(first, webhook.SecretPrefix)) {
		t.Errorf("a log line holds a webhook secret:\n%s", logs.String())
	}
}
