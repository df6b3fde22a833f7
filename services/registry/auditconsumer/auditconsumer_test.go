package auditconsumer

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/eventctx"
)

func event(t *testing.T, ctxName, name, subject string, payload proto.Message, attrs eventctx.Attrs) cloudevent.Event {
	t.Helper()
	msg, err := cloudevent.New(cloudevent.Spec{Context: ctxName, Name: name}, "acme", subject, payload, time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := cloudevent.Decode(msg.WithAttrs(attrs).Body)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestEntry(t *testing.T) {
	t.Parallel()
	sys := "globalAccounts/acme/systems/s1"
	for _, tc := range []struct {
		name, ctx, event, subject string
		payload                   proto.Message
		wantResource              string
		wantRevision              int64
	}{
		{"system, its webhook secret dropped", "registry", "system.registered", sys,
			&registryv1.SystemRegistered{Revision: 3, System: &registryv1.System{Name: sys, DisplayName: "S1", State: registryv1.System_REGISTERED, WebhookSecret: "whsec_never"}},
			`{"name":"globalAccounts/acme/systems/s1","displayName":"S1","state":"REGISTERED"}`, 3},
		{"token", "token", "token.consumed", "globalAccounts/acme/integrationTokens/t1",
			&tokenv1.TokenConsumed{Revision: 2, Token: &tokenv1.Token{Name: "globalAccounts/acme/integrationTokens/t1", Subject: sys, State: tokenv1.Token_CONSUMED}},
			`{"name":"globalAccounts/acme/integrationTokens/t1","subject":"globalAccounts/acme/systems/s1","state":"CONSUMED"}`, 2},
		{"assignment: the assignment", "formation", "assignment.created", "globalAccounts/acme/formations/f1/assignments/s1",
			&formationv1.AssignmentCreated{Revision: 7, Formation: "globalAccounts/acme/formations/f1", Assignment: &formationv1.Assignment{System: sys, State: formationv1.Assignment_PENDING}},
			`{"system":"globalAccounts/acme/systems/s1","state":"PENDING"}`, 7},
		{"formation state change", "formation", "formation.state_changed", "globalAccounts/acme/formations/f1",
			&formationv1.FormationStateChanged{Revision: 4, Formation: &formationv1.Formation{Name: "globalAccounts/acme/formations/f1"}, PreviousState: formationv1.Formation_PENDING},
			`{"name":"globalAccounts/acme/formations/f1"}`, 4},
	} {
		ev := event(t, tc.ctx, tc.event, tc.subject, tc.payload, eventctx.Attrs{{Name: "actor", Value: "user:alice"}, {Name: "causedby", Value: "01abc"}})
		e, err := Entry(ev)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !sameJSON(t, e.Resource, tc.wantResource) || e.Revision != tc.wantRevision || e.Actor != "user:alice" || e.CausedBy != "01abc" ||
			e.ID != ev.ID || e.Subject != tc.subject || e.GlobalAccount != "acme" || e.Type != ev.Type || !e.Time.Equal(ev.Time) {
			t.Errorf("%s: %+v (resource %s)", tc.name, e, e.Resource)
		}
		if strings.Contains(string(e.Resource), "whsec_") {
			t.Errorf("%s: a secret in the resource", tc.name)
		}
	}
}

func TestEntityOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"landscape.registry.v1.SystemRegistrationFailed": "system",
		"landscape.formation.v1.AssignmentStateChanged":  "assignment",
		"landscape.token.v1.TokenIssued":                 "token",
		"Odd":                                            "odd",
	} {
		if got := entityOf(in); got != want {
			t.Errorf("entityOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEntryRefuses(t *testing.T) {
	t.Parallel()
	for _, ev := range []cloudevent.Event{
		{ID: "bad id!", Type: "x.Y", Data: []byte(`{}`)},
		{ID: "01abc", Type: "x.Y", Data: []byte(`[1]`)},
		{ID: "01abc", Type: "x.Y", Data: []byte(`{"revision":"x"}`)},
	} {
		if _, err := Entry(ev); err == nil {
			t.Errorf("Entry(%+v): no error", ev)
		}
	}
}

func sameJSON(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("resource %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(a, b)
}
