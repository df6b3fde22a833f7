package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// auditEvent is an entry of GET …/auditEvents as served.
type auditEvent struct {
	ID       string         `json:"id"`
	Time     time.Time      `json:"time"`
	Type     string         `json:"type"`
	Subject  string         `json:"subject"`
	Actor    string         `json:"actor"`
	CausedBy string         `json:"causedBy"`
	Revision string         `json:"revision"`
	Resource map[string]any `json:"resource"`
}

type auditPage struct {
	AuditEvents   []auditEvent `json:"auditEvents"`
	NextPageToken string       `json:"nextPageToken"`
}

// auditGET calls the audit route with query q and jwt.
func auditGET(t testing.TB, st *stacktest.Stack, ga, jwt string, q url.Values) (httpResult, auditPage) {
	t.Helper()
	r := httpCall(t, st.HTTP, http.MethodGet, st.BaseURL+"/v1/globalAccounts/"+ga+"/auditEvents?"+q.Encode(), jwt, "")
	var p auditPage
	if r.Status == http.StatusOK {
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatalf("auditEvents: %v: %s", err, r.Body)
		}
	}
	return r, p
}

// auditAll pages through the trail with filter.
func auditAll(t testing.TB, st *stacktest.Stack, ga, jwt, filter string, size int) []auditEvent {
	t.Helper()
	var out []auditEvent
	q := url.Values{"filter": {filter}}
	if size > 0 {
		q.Set("pageSize", strconv.Itoa(size))
	}
	for range 1000 {
		r, p := auditGET(t, st, ga, jwt, q)
		if r.Status != http.StatusOK {
			t.Fatalf("auditEvents %q: %d %s", filter, r.Status, r.Body)
		}
		out = append(out, p.AuditEvents...)
		if p.NextPageToken == "" {
			return out
		}
		q.Set("pageToken", p.NextPageToken)
	}
	t.Fatal("the audit trail does not end")
	return nil
}

func types(evs []auditEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// TestAuditTrail: after the seed flow (register, pair, create a formation,
// assign), the trail of the system holds its created, registered and
// assignment entries, newest first, with their actors and causes; the
// trail is for admins of the account only; bad filters are refused; and
// nothing secret is in it.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	admin := f.st.AdminJWT(f.ga)
	user := "user:" + jwtSubject(t, admin)

	reg := f.register(t, "sap-cloud-for-customer")
	sys := reg.GetSystem().GetName()
	tok := reg.GetIntegrationToken()
	if _, err := f.pair(tok.GetToken(), "sap-cloud-for-customer"); err != nil {
		t.Fatalf("pair: %v", err)
	}
	form := f.newFormation(t, kymaFormation, formationv1.Formation_ENVIRONMENT_UNSPECIFIED)
	if _, err := f.assign(form, sys); err != nil {
		t.Fatalf("assign: %v", err)
	}

	bySystem := `subject = "` + sys + `"`
	var got []auditEvent
	want := []string{"landscape.registry.v1.SystemUpdated", "landscape.registry.v1.SystemRegistered", "landscape.registry.v1.SystemCreated"}
	testkit.Eventually(t, 15*time.Second, "the system's trail: updated (assignment), registered, created", func() bool {
		got = auditAll(t, f.st, f.ga, admin, bySystem, 0)
		return len(got) == len(want)
	})
	if strings.Join(types(got), " ") != strings.Join(want, " ") {
		t.Fatalf("the system's trail: %v, want %v", types(got), want)
	}
	updated, registered, created := got[0], got[1], got[2]
	if created.Actor != user || registered.Actor != "token:"+tok.GetName() || updated.Actor != user {
		t.Errorf("actors: created %q, registered %q, updated %q", created.Actor, registered.Actor, updated.Actor)
	}
	if created.Revision != "1" || registered.Revision != "2" || updated.Revision != "3" {
		t.Errorf("revisions: %s %s %s", created.Revision, registered.Revision, updated.Revision)
	}
	if !(updated.Time.After(registered.Time) || updated.Time.Equal(registered.Time)) || registered.Time.Before(created.Time) {
		t.Errorf("not newest first: %v %v %v", updated.Time, registered.Time, created.Time)
	}
	if registered.Resource["name"] != sys || registered.Resource["state"] != "REGISTERED" || created.Resource["state"] != "PENDING" {
		t.Errorf("resources: created %v, registered %v", created.Resource, registered.Resource)
	}
	if forms, _ := updated.Resource["formations"].([]any); len(forms) != 1 || forms[0] != form.GetName() {
		t.Errorf("the updated system's formations: %v", updated.Resource["formations"])
	}

	// The assignment entry is the cause of the system's update.
	assignments := auditAll(t, f.st, f.ga, admin, `type = "landscape.formation.v1.AssignmentCreated"`, 0)
	if len(assignments) != 1 || assignments[0].Actor != user || assignments[0].Resource["system"] != sys ||
		!strings.HasPrefix(assignments[0].Subject, form.GetName()+"/assignments/") {
		t.Fatalf("assignment entries: %+v", assignments)
	}
	if updated.CausedBy != assignments[0].ID {
		t.Errorf("system.updated causedBy %q, want the assignment entry %q", updated.CausedBy, assignments[0].ID)
	}
	// The token's entries: issued by the admin, consumed by the token.
	byToken := auditAll(t, f.st, f.ga, admin, `subject = "`+tok.GetName()+`"`, 0)
	if strings.Join(types(byToken), " ") != "landscape.token.v1.TokenConsumed landscape.token.v1.TokenIssued" ||
		byToken[0].Actor != "token:"+tok.GetName() || byToken[1].Actor != user {
		t.Errorf("the token's trail: %+v", byToken)
	}
	// By actor: what the token did.
	if got := auditAll(t, f.st, f.ga, admin, `actor = "token:`+tok.GetName()+`"`, 1); len(got) != 2 {
		t.Errorf("the token's actions: %v", types(got))
	}
	// A time range with a subject.
	since := `subject = "` + sys + `" AND time >= "` + registered.Time.Format(time.RFC3339Nano) + `" AND time < "` + updated.Time.Add(time.Nanosecond).Format(time.RFC3339Nano) + `"`
	if got := auditAll(t, f.st, f.ga, admin, since, 0); strings.Join(types(got), " ") != strings.Join(want[:2], " ") {
		t.Errorf("time range: %v", types(got))
	}

	// Paging one entry at a time gives the same as one page.
	all := auditAll(t, f.st, f.ga, admin, "", 0)
	paged := auditAll(t, f.st, f.ga, admin, "", 1)
	if len(all) < 7 || len(paged) != len(all) {
		t.Fatalf("%d entries in one page, %d one by one", len(all), len(paged))
	}
	for i := range all {
		if all[i].ID != paged[i].ID {
			t.Fatalf("entry %d differs: %s vs %s", i, all[i].ID, paged[i].ID)
		}
	}
	// Nothing secret.
	r, _ := auditGET(t, f.st, f.ga, admin, url.Values{"pageSize": {"1000"}})
	if body := string(r.Body); strings.Contains(body, tok.GetToken()) || strings.Contains(body, "lsit_") ||
		strings.Contains(body, admin) || strings.Contains(body, "webhookSecret") {
		t.Errorf("the audit trail holds a secret: %s", body)
	}

	// Who may read it.
	for _, tc := range []struct {
		name, ga, jwt string
		status        int
		reason        string
	}{
		{"system-landscape-admin", f.ga, f.st.JWT(f.ga, string(authn.RoleSystemLandscapeAdmin)), 200, ""},
		{"viewer", f.ga, f.st.JWT(f.ga, string(authn.RoleSystemLandscapeViewer)), 403, "PERMISSION_DENIED"},
		{"admin of another account", f.ga, f.st.AdminJWT("other"), 403, "PERMISSION_DENIED"},
		{"no JWT", f.ga, "", 401, "UNAUTHENTICATED"},
	} {
		if r, _ := auditGET(t, f.st, tc.ga, tc.jwt, nil); r.Status != tc.status || r.Reason != tc.reason {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.Status, r.Reason, tc.status, tc.reason)
		}
	}
	// Bad input: 400 naming the field.
	for _, q := range []url.Values{
		{"filter": {"nonsense"}},
		{"filter": {`subject = "a" OR type = "b"`}},
		{"filter": {`time >= "yesterday"`}},
		{"filter": {`time = "2026-01-01T00:00:00Z"`}},
		{"filter": {`actor = user:alice`}},
		{"filter": {`state = PENDING`}},
		{"pageToken": {"garbage"}},
		{"pageSize": {"-1"}},
	} {
		r, _ := auditGET(t, f.st, f.ga, admin, q)
		field := "filter"
		for k := range q {
			field = k
		}
		if r.Status != 400 || r.Reason != "INVALID_ARGUMENT" || !strings.Contains(string(r.Body), `"field":"`+field+`"`) {
			t.Errorf("%v: %d %s %s", q, r.Status, r.Reason, r.Body)
		}
	}
}

// TestAuditRedeliveredEventStoredOnce: an event that reaches the audit
// consumer twice (published again past JetStream's duplicate window, or
// redelivered after a lost ack) is one entry.
func TestAuditRedeliveredEventStoredOnce(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	admin := f.st.AdminJWT(f.ga)
	sys := f.register(t, "sap-commerce-cloud").GetSystem().GetName()
	bySystem := `subject = "` + sys + `"`
	var first []auditEvent
	testkit.Eventually(t, 15*time.Second, "the created entry", func() bool {
		first = auditAll(t, f.st, f.ga, admin, bySystem, 0)
		return len(first) == 1
	})
	ctx := t.Context()
	js := f.st.JetStream
	stream, err := js.Stream(ctx, cloudevent.StreamName("registry"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := stream.GetLastMsgForSubject(ctx, "landscape.registry."+f.ga+".system.created")
	if err != nil {
		t.Fatal(err)
	}
	// The same event again, under another Nats-Msg-Id so that JetStream
	// does not drop it as a duplicate.
	for i := range 3 {
		msg := &nats.Msg{Subject: raw.Subject, Data: raw.Data, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, first[0].ID+"-again-"+strconv.Itoa(i))
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	waitConsumed(t, js, "registry")
	if got := auditAll(t, f.st, f.ga, admin, bySystem, 0); len(got) != 1 || got[0].ID != first[0].ID {
		t.Errorf("after three redeliveries: %+v", got)
	}
}

// waitConsumed waits until the audit consumer of contextName has acked
// everything in its stream.
func waitConsumed(t testing.TB, js jetstream.JetStream, contextName string) {
	t.Helper()
	testkit.Eventually(t, 15*time.Second, "the audit consumer of "+contextName+" caught up", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, cloudevent.StreamName(contextName), "registry-audit-"+contextName)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
}

// TestAuditTrailSurvivesNATSOutage: changes made while NATS is down wait
// in the outboxes; once it is back the audit trail has every one of them,
// in order, with no gap.
func TestAuditTrailSurvivesNATSOutage(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	admin := f.st.AdminJWT(f.ga)
	before := f.register(t, "sap-commerce-cloud").GetSystem().GetName()
	testkit.Eventually(t, 15*time.Second, "the entry before the outage", func() bool {
		return len(auditAll(t, f.st, f.ga, admin, `subject = "`+before+`"`, 0)) == 1
	})
	f.st.NATSServer.Stop()
	var during []string
	for range 5 {
		during = append(during, f.register(t, "sap-commerce-cloud").GetSystem().GetName())
	}
	f.st.NATSServer.Start()
	after := f.register(t, "sap-commerce-cloud").GetSystem().GetName()

	wantOrder := append(append([]string{before}, during...), after)
	var created []auditEvent
	testkit.Eventually(t, 30*time.Second, "every system.created in the trail", func() bool {
		created = auditAll(t, f.st, f.ga, admin, `type = "landscape.registry.v1.SystemCreated"`, 2)
		return len(created) == len(wantOrder)
	})
	for i, e := range created {
		if want := wantOrder[len(wantOrder)-1-i]; e.Subject != want {
			t.Errorf("entry %d: %s, want %s (newest first)", i, e.Subject, want)
		}
	}
	// The token issued with each system is there too: the token service's
	// relay publishes its outbox on its own, so its entries may come later.
	var issued []auditEvent
	testkit.Eventually(t, 30*time.Second, "every token.issued in the trail", func() bool {
		issued = auditAll(t, f.st, f.ga, admin, `type = "landscape.token.v1.TokenIssued"`, 0)
		return len(issued) >= len(wantOrder)
	})
	if len(issued) != len(wantOrder) {
		t.Errorf("%d token.issued entries, want %d", len(issued), len(wantOrder))
	}
}
