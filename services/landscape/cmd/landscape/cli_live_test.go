package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/landscape/stack"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// TestCLIMe: `landscape me` shows what the server reads from the JWT.
func TestCLIMe(t *testing.T) {
	t.Parallel()
	st := stacktest.StartHealthy(t, stacktest.Options{})
	viewer := newCLI(t, st.BaseURL, st.JWT("me-ga", string(authn.RoleSystemLandscapeViewer)))
	contains(t, "me", viewer.ok("me"), "Subject:", "test-user", "Global account:", "me-ga", "system-landscape-viewer", "Expires:")
	got := viewer.json("me")
	if str(got, "globalAccount") != "me-ga" || str(got, "subject") != "test-user" || str(got, "roles.0") != "system-landscape-viewer" || str(got, "expireTime") == "" {
		t.Errorf("me -o json: %v", got)
	}
	newCLI(t, st.BaseURL, st.JWT("me-ga")).refused(exitFailure, []string{"me"}, "PERMISSION_DENIED")
}

// routeServed reports whether the stack serves a route (it answers
// something else than ROUTE_NOT_FOUND); the routes of features that land
// separately (audit, watch, resynchronize) are tested when they are there.
func routeServed(t *testing.T, c *cliEnv, args ...string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	run(ctx, args, &out, &errb, c.getenv)
	return !strings.Contains(errb.String(), "ROUTE_NOT_FOUND")
}

// TestCLIActivity: audit, watch and resync against the live stack.
func TestCLIActivity(t *testing.T) {
	t.Parallel()
	st := stacktest.StartHealthy(t, stacktest.Options{})
	c := newCLI(t, st.BaseURL, st.AdminJWT("act"))
	// The services create the event streams as they start, after /healthz
	// may already answer 200; a watch before that is 503 (and exit 1).
	testkit.Eventually(t, 30*time.Second, "the three event streams", func() bool {
		for _, name := range []string{"registry", "token", "formation"} {
			if _, err := st.JetStream.Stream(t.Context(), cloudevent.StreamName(name)); err != nil {
				return false
			}
		}
		return true
	})

	// watch, from before the changes (--since, so that the watches need not
	// connect first): one line per event, JSON lines with -o json.
	var watchOut, watchJSON, watchErr testkit.Buffer
	since := time.Now().Add(-time.Second).UTC().Format(time.RFC3339)
	watching := routeServed(t, c, "watch", "--since", since)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 2)
	if watching {
		go func() { done <- run(ctx, []string{"watch", "--since", since}, &watchOut, &watchErr, c.getenv) }()
		go func() {
			done <- run(ctx, []string{"watch", "--since", since, "-o", "json"}, &watchJSON, &watchErr, c.getenv)
		}()
	}

	c.json("systems", "register", "--id", "s1", "--display-name", "S1", "--type", "sap-commerce-cloud")
	c.json("formations", "create", "--id", "f1", "--display-name", "F1", "--type", "side-by-side-extensibility-with-kyma")
	c.json("formations", "assign", "f1", "s1")

	if watching {
		deadline := time.Now().Add(15 * time.Second)
		for (!strings.Contains(watchOut.String(), "formations/f1") || strings.Count(watchJSON.String(), "\n") < 4) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
		for range 2 {
			if code := <-done; code != exitOK {
				t.Errorf("watch ended with %d: %s", code, watchErr.String())
			}
		}
		contains(t, "watch", watchOut.String(), "globalAccounts/act/systems/s1", "globalAccounts/act/formations/f1", "user:test-user")
		for _, line := range strings.Split(strings.TrimSpace(watchJSON.String()), "\n") {
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil || ev["specversion"] != "1.0" {
				t.Errorf("watch -o json: a line that is not a CloudEvent: %s", line)
			}
		}
		if strings.Contains(watchOut.String()+watchJSON.String(), "lsit_") {
			t.Error("watch printed a token")
		}
	} else {
		cancel()
		t.Log("events:watch is not served yet: watch is tested against a test server only (TestWatchResumesAfterADrop)")
		c.refused(exitFailure, []string{"watch"}, "ROUTE_NOT_FOUND")
	}

	// audit: the system's entries, newest first, with who made them; every
	// page unless --limit; admins only; bad filters refused.
	subject := `subject = "globalAccounts/act/systems/s1"`
	var got map[string]any
	testkit.Eventually(t, 15*time.Second, "the system's created and updated entries", func() bool {
		got = c.json("audit", "--filter", subject)
		return count(got, "auditEvents") >= 2
	})
	if str(got, "auditEvents.0.type") != "landscape.registry.v1.SystemUpdated" || str(got, "auditEvents.1.type") != "landscape.registry.v1.SystemCreated" ||
		str(got, "auditEvents.1.actor") != "user:test-user" || str(got, "auditEvents.1.resource.name") != "globalAccounts/act/systems/s1" {
		t.Errorf("audit --filter -o json: %v", got)
	}
	contains(t, "audit", c.ok("audit", "--filter", subject), "TIME", "TYPE", "globalAccounts/act/systems/s1", "user:test-user")
	if n := count(c.json("audit", "--limit", "2", "--page-size", "1"), "auditEvents"); n != 2 {
		t.Errorf("audit --limit 2 --page-size 1: %d entries", n)
	}
	all := count(c.json("audit", "--page-size", "1000"), "auditEvents")
	if n := count(c.json("audit", "--page-size", "2"), "auditEvents"); all < 5 || n != all {
		t.Errorf("audit --page-size 2 (every page): %d entries, one page of 1000: %d", n, all)
	}
	newCLI(t, st.BaseURL, st.JWT("act", string(authn.RoleSystemLandscapeViewer))).refused(exitFailure, []string{"audit"}, "PERMISSION_DENIED")
	c.refused(exitFailure, []string{"audit", "--filter", "nonsense"}, "INVALID_ARGUMENT")
	c.refused(exitFailure, []string{"audit", "--filter", `time >= "yesterday"`}, "INVALID_ARGUMENT")

	if routeServed(t, c, "formations", "resync", "f1") {
		contains(t, "formations resync", c.ok("formations", "resync", "f1"), "globalAccounts/act/formations/f1", "s1")
		if got := c.json("formations", "resync", "f1"); str(got, "name") != "globalAccounts/act/formations/f1" {
			t.Errorf("formations resync -o json: %v", got)
		}
		c.refused(exitFailure, []string{"formations", "resync", "nope"}, "FORMATION_NOT_FOUND")
	} else {
		t.Log(":resynchronize is not served yet")
		c.refused(exitFailure, []string{"formations", "resync", "f1"}, "ROUTE_NOT_FOUND")
	}
}

// TestCLIWebhookSecret: pairing with a webhook prints its secret once, and
// rotate-webhook-secret prints a new one, in both outputs.
func TestCLIWebhookSecret(t *testing.T) {
	t.Parallel()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	defer receiver.Close()
	st := stacktest.StartHealthy(t, stacktest.Options{Webhooks: stack.Webhooks{AllowInsecure: true}})
	c := newCLI(t, st.BaseURL, st.AdminJWT("hooks"))
	pairer := newCLI(t, st.BaseURL, "")
	tokA := str(c.json("systems", "register", "--id", "a", "--display-name", "A", "--type", "sap-s4hana-cloud"), "integrationToken.token")
	tokB := str(c.json("systems", "register", "--id", "b", "--display-name", "B", "--type", "sap-s4hana-cloud"), "integrationToken.token")

	out := pairer.with("LANDSCAPE_INTEGRATION_TOKEN", tokA).ok("systems", "pair", "--type", "sap-s4hana-cloud", "--base-url", "https://a.example.com",
		"--webhook-url", receiver.URL+"/hook")
	contains(t, "systems pair --webhook-url", out, "REGISTERED", "Webhook secret:", "whsec_", "will not be shown again", receiver.URL+"/hook (SYNC)")
	got := pairer.with("LANDSCAPE_INTEGRATION_TOKEN", tokB).json("systems", "pair", "--type", "sap-s4hana-cloud", "--base-url", "https://b.example.com",
		"--webhook-url", receiver.URL+"/hook", "--webhook-mode", "async_callback")
	if !strings.HasPrefix(str(got, "webhookSecret"), "whsec_") || str(got, "webhook.mode") != "ASYNC_CALLBACK" {
		t.Errorf("systems pair --webhook-url -o json: %v", got)
	}
	if strings.Contains(c.ok("systems", "get", "a"), "whsec_") {
		t.Error("systems get shows the webhook secret")
	}
	contains(t, "systems rotate-webhook-secret", c.ok("systems", "rotate-webhook-secret", "a"), "whsec_", "will not be shown again")
	if s := str(c.json("systems", "rotate-webhook-secret", "b"), "webhookSecret"); !strings.HasPrefix(s, "whsec_") || s == str(got, "webhookSecret") {
		t.Errorf("systems rotate-webhook-secret -o json: %q", s)
	}
	newCLI(t, st.BaseURL, st.JWT("hooks", string(authn.RoleSystemLandscapeViewer))).refused(exitFailure,
		[]string{"systems", "rotate-webhook-secret", "a"}, "PERMISSION_DENIED")
}
