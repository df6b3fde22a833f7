package e2e

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// jwtSubject reads the sub claim of a JWT (no verification: the test
// minted it).
func jwtSubject(t testing.TB, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var cl struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(b, &cl); err != nil {
		t.Fatal(err)
	}
	return cl.Sub
}

// checkWalkthroughActors checks the actor of every event of the
// walkthrough: the admin's calls act as user:<sub>, pairing as
// token:<the integration token's resource name>, and the registry's
// reaction to the assignment (system.updated, its formations) keeps the
// admin as actor and names the assignment event as its cause. No envelope
// holds a secret.
func checkWalkthroughActors(t *testing.T, events *walkEvents, jwt, tokenName, secret string) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "system.updated (the system's formations)", func() bool {
		for _, ev := range events.all() {
			if ev.Type == "landscape.registry.v1.SystemUpdated" {
				return true
			}
		}
		return false
	})
	evs, bodies := events.all(), events.raw()
	user := "user:" + jwtSubject(t, jwt)
	tok := "token:" + tokenName
	want := map[string]string{
		"landscape.registry.v1.SystemCreated":      user,
		"landscape.token.v1.TokenIssued":           user,
		"landscape.token.v1.TokenConsumed":         tok,
		"landscape.registry.v1.SystemRegistered":   tok,
		"landscape.formation.v1.FormationCreated":  user,
		"landscape.formation.v1.AssignmentCreated": user,
		"landscape.registry.v1.SystemUpdated":      user,
	}
	ids := map[string]string{} // type -> id
	for _, ev := range evs {
		if ev.Actor == "" {
			t.Errorf("event %s (%s) has no actor", ev.Type, ev.Subject)
			continue
		}
		if w, ok := want[ev.Type]; ok && ev.Actor != w {
			t.Errorf("event %s: actor %q, want %q", ev.Type, ev.Actor, w)
		}
		ids[ev.Type] = ev.ID
	}
	for _, ev := range evs {
		switch ev.Type {
		case "landscape.registry.v1.SystemUpdated":
			if ev.CausedBy == "" || ev.CausedBy != ids["landscape.formation.v1.AssignmentCreated"] {
				t.Errorf("system.updated after the assignment: causedby %q, want the assignment.created id %q", ev.CausedBy, ids["landscape.formation.v1.AssignmentCreated"])
			}
		case "landscape.registry.v1.SystemCreated", "landscape.token.v1.TokenIssued", "landscape.token.v1.TokenConsumed",
			"landscape.registry.v1.SystemRegistered", "landscape.formation.v1.FormationCreated", "landscape.formation.v1.AssignmentCreated":
			if ev.CausedBy != "" {
				t.Errorf("event %s is a direct change but has causedby %q", ev.Type, ev.CausedBy)
			}
		}
	}
	for _, b := range bodies {
		if strings.Contains(string(b), secret) || strings.Contains(string(b), "lsit_") || strings.Contains(string(b), jwt) {
			t.Errorf("an event holds a secret: %s", b)
		}
	}
}

// TestEventActorsOnReactions: a reaction carries the actor of the event it
// reacts to and causedby = that event's id. A SAP Cloud for Customer
// system may join a formation before pairing; its pairing (actor: the
// token) makes formation turn the assignment and the formation READY.
func TestEventActorsOnReactions(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	events := walkWatch(t, f.st.JetStream)

	reg := f.register(t, "sap-cloud-for-customer")
	form := f.newFormation(t, kymaFormation, formationv1.Formation_ENVIRONMENT_UNSPECIFIED)
	if _, err := f.assign(form, reg.GetSystem().GetName()); err != nil {
		t.Fatalf("assign: %v", err)
	}
	if _, err := f.pair(reg.GetIntegrationToken().GetToken(), "sap-cloud-for-customer"); err != nil {
		t.Fatalf("pair: %v", err)
	}
	f.waitFormation(t, form.GetName(), formationv1.Formation_READY)

	tok := "token:" + reg.GetIntegrationToken().GetName()
	var registered, assignChanged, formChanged cloudevent.Event
	testkit.Eventually(t, 10*time.Second, "the reactions to the pairing", func() bool {
		for _, ev := range events.all() {
			switch ev.Type {
			case "landscape.registry.v1.SystemRegistered":
				registered = ev
			case "landscape.formation.v1.AssignmentStateChanged":
				assignChanged = ev
			case "landscape.formation.v1.FormationStateChanged":
				formChanged = ev
			}
		}
		return registered.ID != "" && assignChanged.ID != "" && formChanged.ID != ""
	})
	if registered.Actor != tok {
		t.Errorf("system.registered: actor %q, want %q", registered.Actor, tok)
	}
	for _, ev := range []cloudevent.Event{assignChanged, formChanged} {
		if ev.Actor != tok || ev.CausedBy != registered.ID {
			t.Errorf("%s: actor %q causedby %q, want %q caused by %q", ev.Type, ev.Actor, ev.CausedBy, tok, registered.ID)
		}
	}
	// The token service's event of the pairing acts as the token too.
	for _, ev := range events.all() {
		if ev.Type == "landscape.token.v1.TokenConsumed" && ev.Actor != tok {
			t.Errorf("token.consumed: actor %q, want %q", ev.Actor, tok)
		}
		if ev.Type == "landscape.token.v1.TokenIssued" && ev.Actor != "user:test-user" {
			t.Errorf("token.issued: actor %q, want user:test-user", ev.Actor)
		}
	}

	// Deregistering revokes through the token service, which keeps the
	// admin as actor.
	other := f.register(t, "sap-successfactors")
	if _, err := f.st.Registry.DeregisterSystem(f.ctx, &registryv1.DeregisterSystemRequest{Name: other.GetSystem().GetName()}); err != nil {
		t.Fatalf("deregister: %v", err)
	}
	testkit.Eventually(t, 10*time.Second, "token.revoked by the admin", func() bool {
		for _, ev := range events.all() {
			if ev.Type == "landscape.token.v1.TokenRevoked" && ev.Subject == other.GetIntegrationToken().GetName() {
				if ev.Actor != "user:test-user" {
					t.Fatalf("token.revoked: actor %q", ev.Actor)
				}
				return true
			}
		}
		return false
	})
}
