package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// Formation types of the catalog (docs/API.md, "Formations").
const (
	kymaFormation     = "side-by-side-extensibility-with-kyma"
	eventingFormation = "eventing-between-sap-cloud-systems"
)

// newFormation creates a formation in f's global account.
func (f *fixture) newFormation(t testing.TB, typ string, env formationv1.Formation_Environment) *formationv1.Formation {
	t.Helper()
	form, err := f.st.Formation.CreateFormation(f.ctx, &formationv1.CreateFormationRequest{
		Parent:    "globalAccounts/" + f.ga,
		Formation: &formationv1.Formation{DisplayName: fmt.Sprintf("Formation %d", f.n.Add(1)), FormationType: typ, Environment: env},
	})
	if err != nil {
		t.Fatalf("create formation: %v", err)
	}
	return form
}

func (f *fixture) assign(form *formationv1.Formation, system string) (*formationv1.Formation, error) {
	return f.st.Formation.AssignSystem(f.ctx, &formationv1.AssignSystemRequest{Name: form.GetName(), System: system})
}

func (f *fixture) formation(t testing.TB, name string) *formationv1.Formation {
	t.Helper()
	form, err := f.st.Formation.GetFormation(f.ctx, &formationv1.GetFormationRequest{Name: name})
	if err != nil {
		t.Fatalf("get formation %s: %v", name, err)
	}
	return form
}

// rest calls the gateway with an admin JWT and decodes the JSON answer.
func (f *fixture) rest(t testing.TB, method, path, body string) (int, map[string]any) {
	t.Helper()
	r := httpCall(t, f.st.HTTP, method, f.st.BaseURL+path, f.st.AdminJWT(f.ga), body)
	out := map[string]any{}
	_ = json.Unmarshal(r.Body, &out)
	return r.Status, out
}

// registered registers a system of typ and pairs it.
func (f *fixture) registered(t testing.TB, typ string) string {
	t.Helper()
	res := f.register(t, typ)
	if _, err := f.pair(res.GetIntegrationToken().GetToken(), typ); err != nil {
		t.Fatalf("pair %s: %v", typ, err)
	}
	return res.GetSystem().GetName()
}

// waitFormation polls until the formation is in state want.
func (f *fixture) waitFormation(t testing.TB, name string, want formationv1.Formation_State) *formationv1.Formation {
	t.Helper()
	var last *formationv1.Formation
	testkit.Eventually(t, 15*time.Second, fmt.Sprintf("formation %s %s", name, want), func() bool {
		last = f.formation(t, name)
		return last.GetState() == want
	})
	return last
}

func TestFormationCreateRules(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	viewer := stacktest.Ctx(t.Context(), f.st.JWT(f.ga, "system-landscape-viewer"))

	types, err := f.st.Formation.ListFormationTypes(viewer, &formationv1.ListFormationTypesRequest{})
	if err != nil || len(types.GetFormationTypes()) != 2 {
		t.Fatalf("ListFormationTypes: %v %v", types, err)
	}
	for _, ft := range types.GetFormationTypes() {
		if len(ft.GetAllowedSystemTypes()) != 6 {
			t.Errorf("%s allows %v", ft.GetName(), ft.GetAllowedSystemTypes())
		}
		switch ft.GetName() {
		case "formationTypes/" + kymaFormation:
			if ft.GetEnvironment() != formationv1.Formation_KYMA || ft.GetExclusive() {
				t.Errorf("kyma type %v", ft)
			}
		case "formationTypes/" + eventingFormation:
			if ft.GetEnvironment() != formationv1.Formation_ENVIRONMENT_UNSPECIFIED || !ft.GetExclusive() {
				t.Errorf("eventing type %v", ft)
			}
		default:
			t.Errorf("unexpected type %s", ft.GetName())
		}
	}
	_, err = f.st.Formation.ListFormationTypes(stacktest.Ctx(t.Context(), f.st.JWT(f.ga, "unknown-role")), &formationv1.ListFormationTypesRequest{})
	wantReason(t, "no known role", err, codes.PermissionDenied, "PERMISSION_DENIED")

	create := func(ctx context.Context, id, name, typ string, env formationv1.Formation_Environment) (*formationv1.Formation, error) {
		return f.st.Formation.CreateFormation(ctx, &formationv1.CreateFormationRequest{
			Parent: "globalAccounts/acme", FormationId: id,
			Formation: &formationv1.Formation{DisplayName: name, FormationType: typ, Environment: env},
		})
	}
	form, err := create(f.ctx, "ext", "Extensions", kymaFormation, 0)
	if err != nil {
		t.Fatal(err)
	}
	if form.GetName() != "globalAccounts/acme/formations/ext" || form.GetEnvironment() != formationv1.Formation_KYMA ||
		form.GetState() != formationv1.Formation_READY || form.GetEtag() != "1" {
		t.Fatalf("created %v", form)
	}
	for _, tc := range []struct {
		what          string
		ctx           context.Context
		id, name, typ string
		env           formationv1.Formation_Environment
		code          codes.Code
		reason, field string // field: the BadRequest violation's, if any
	}{
		{"id taken", f.ctx, "ext", "Other", kymaFormation, 0, codes.AlreadyExists, "FORMATION_ID_TAKEN", ""},
		{"name taken", f.ctx, "", "EXTENSIONS", eventingFormation, 0, codes.AlreadyExists, "FORMATION_NAME_TAKEN", ""},
		{"unknown type", f.ctx, "", "Unknown", "no-such-type", 0, codes.InvalidArgument, "FORMATION_TYPE_UNKNOWN", ""},
		{"environment fixed by the type", f.ctx, "", "Wrong env", kymaFormation, formationv1.Formation_CLOUD_FOUNDRY, codes.InvalidArgument, "INVALID_ARGUMENT", "environment"},
		{"display name", f.ctx, "", " bad name", kymaFormation, 0, codes.InvalidArgument, "INVALID_ARGUMENT", ""},
		{"bad id", f.ctx, "Bad_ID", "Fine", kymaFormation, 0, codes.InvalidArgument, "INVALID_ARGUMENT", ""},
		{"no type", f.ctx, "", "No type", "", 0, codes.InvalidArgument, "INVALID_ARGUMENT", ""},
		{"viewer writes", viewer, "", "Viewer", kymaFormation, 0, codes.PermissionDenied, "PERMISSION_DENIED", ""},
	} {
		_, err := create(tc.ctx, tc.id, tc.name, tc.typ, tc.env)
		wantReason(t, tc.what, err, tc.code, tc.reason)
		if got := violationField(err); tc.field != "" && got != tc.field {
			t.Fatalf("%s: violation field %q, want %s", tc.what, got, tc.field)
		}
	}
	other := stacktest.Ctx(t.Context(), f.st.AdminJWT("other"))
	_, err = f.st.Formation.GetFormation(other, &formationv1.GetFormationRequest{Name: form.GetName()})
	wantReason(t, "another global account", err, codes.PermissionDenied, "PERMISSION_DENIED")
	_, err = f.st.Formation.GetFormation(f.ctx, &formationv1.GetFormationRequest{Name: "globalAccounts/acme/formations/nope"})
	wantReason(t, "missing", err, codes.NotFound, "FORMATION_NOT_FOUND")

	ev, err := create(f.ctx, "", "Eventing", eventingFormation, 0)
	if err != nil || ev.GetEnvironment() != formationv1.Formation_ENVIRONMENT_UNSPECIFIED {
		t.Fatalf("eventing without environment: %v %v", ev, err)
	}
	if _, err := create(f.ctx, "", "Eventing CF", eventingFormation, formationv1.Formation_CLOUD_FOUNDRY); err != nil {
		t.Fatalf("eventing with a chosen environment: %v", err)
	}

	// Update: display name only, etag checked.
	_, err = f.st.Formation.UpdateFormation(f.ctx, &formationv1.UpdateFormationRequest{
		Formation:  &formationv1.Formation{Name: form.GetName(), DisplayName: "Renamed", Etag: "99"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	})
	wantReason(t, "stale etag", err, codes.Aborted, "ETAG_MISMATCH")
	up, err := f.st.Formation.UpdateFormation(f.ctx, &formationv1.UpdateFormationRequest{
		Formation:  &formationv1.Formation{Name: form.GetName(), DisplayName: "Renamed", Etag: form.GetEtag(), State: formationv1.Formation_ERROR},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	})
	if err != nil || up.GetDisplayName() != "Renamed" || up.GetEtag() != "2" || up.GetState() != formationv1.Formation_READY {
		t.Fatalf("update: %v %v", up, err)
	}
	_, err = f.st.Formation.UpdateFormation(f.ctx, &formationv1.UpdateFormationRequest{
		Formation: &formationv1.Formation{Name: form.GetName(), DisplayName: "eventing"},
	})
	wantReason(t, "rename to a taken name", err, codes.AlreadyExists, "FORMATION_NAME_TAKEN")

	_, err = f.st.Formation.UpdateFormation(f.ctx, &formationv1.UpdateFormationRequest{
		Formation:  &formationv1.Formation{Name: form.GetName(), DisplayName: "X"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"colour"}},
	})
	wantReason(t, "unknown mask path", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	if got := violationField(err); got != "updateMask" {
		t.Fatalf("violation field %q", got)
	}
	// Through the gateway: PATCH with updateMask in the query, then GET as JSON.
	code, body := f.rest(t, http.MethodPatch, "/v1/"+form.GetName()+"?updateMask=displayName", `{"displayName":"Via REST","etag":"2"}`)
	if code != http.StatusOK || body["displayName"] != "Via REST" || body["etag"] != "3" {
		t.Fatalf("PATCH = %d %v", code, body)
	}
	code, body = f.rest(t, http.MethodPatch, "/v1/"+form.GetName(), `{"displayName":"Stale","etag":"2"}`)
	if code != http.StatusConflict {
		t.Fatalf("PATCH with a stale etag = %d %v", code, body)
	}
	code, body = f.rest(t, http.MethodGet, "/v1/"+form.GetName(), "")
	if code != http.StatusOK || body["state"] != "READY" || body["environment"] != "KYMA" || body["formationType"] != kymaFormation {
		t.Fatalf("GET = %d %v", code, body)
	}

	// Lists.
	_, err = f.st.Formation.ListFormations(f.ctx, &formationv1.ListFormationsRequest{Parent: "globalAccounts/acme", PageSize: -1})
	wantReason(t, "negative page size", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	for _, bad := range []string{"colour = RED", "state = BROKEN", `formationType = "nope"`, "state = READY OR state = ERROR"} {
		_, err = f.st.Formation.ListFormations(f.ctx, &formationv1.ListFormationsRequest{Parent: "globalAccounts/acme", Filter: bad})
		wantReason(t, "filter "+bad, err, codes.InvalidArgument, "INVALID_ARGUMENT")
		if got := violationField(err); got != "filter" {
			t.Fatalf("filter %q: field %q", bad, got)
		}
	}
	var names []string
	token := ""
	for {
		page, err := f.st.Formation.ListFormations(viewer, &formationv1.ListFormationsRequest{
			Parent: "globalAccounts/acme", PageSize: 2, PageToken: token, Filter: `formationType = "` + eventingFormation + `" AND state = READY`})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range page.GetFormations() {
			names = append(names, x.GetDisplayName())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if strings.Join(names, ",") != "Eventing,Eventing CF" {
		t.Fatalf("list = %v", names)
	}
}

func TestFormationAssignRulesInOrder(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	kyma := f.newFormation(t, kymaFormation, 0)
	ev1 := f.newFormation(t, eventingFormation, 0)
	ev2 := f.newFormation(t, eventingFormation, 0)
	evCF := f.newFormation(t, eventingFormation, formationv1.Formation_CLOUD_FOUNDRY)

	s4 := f.registered(t, "sap-s4hana-cloud")
	s4Pending := f.register(t, "sap-s4hana-cloud").GetSystem().GetName()
	c4c := f.register(t, "sap-cloud-for-customer").GetSystem().GetName()
	failed := f.register(t, "sap-commerce-cloud")
	if _, err := f.st.Registry.ReportPairingFailure(context.Background(), &registryv1.ReportPairingFailureRequest{
		IntegrationToken: failed.GetIntegrationToken().GetToken(), Message: "certificate rejected"}); err != nil {
		t.Fatal(err)
	}

	// 1: the system exists in the same global account.
	_, err := f.assign(kyma, "globalAccounts/acme/systems/nope")
	wantReason(t, "rule 1 unknown system", err, codes.NotFound, "SYSTEM_NOT_FOUND")
	_, err = f.assign(kyma, strings.Replace(s4, "globalAccounts/acme/", "globalAccounts/other/", 1))
	wantReason(t, "rule 1 another global account", err, codes.NotFound, "SYSTEM_NOT_FOUND")
	_, err = f.assign(kyma, "systems/x")
	wantReason(t, "malformed system", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	if got := violationField(err); got != "system" {
		t.Fatalf("violation field %q", got)
	}
	_, err = f.st.Formation.AssignSystem(f.ctx, &formationv1.AssignSystemRequest{Name: "globalAccounts/acme/formations/nope", System: s4})
	wantReason(t, "no formation", err, codes.NotFound, "FORMATION_NOT_FOUND")

	got, err := f.assign(kyma, s4)
	if err != nil {
		t.Fatal(err)
	}
	if a := got.GetAssignments()[0]; a.GetState() != formationv1.Assignment_READY || !a.GetApiAccessEnabled() ||
		a.GetSystemType() != "sap-s4hana-cloud" || a.GetSystem() != s4 || got.GetState() != formationv1.Formation_READY {
		t.Fatalf("assign registered: %v", got)
	}
	// 2: not already assigned here (checked before 3-6).
	_, err = f.assign(kyma, s4)
	wantReason(t, "rule 2", err, codes.AlreadyExists, "SYSTEM_ALREADY_ASSIGNED")
	// 3: not in ERROR (checked before 4: a commerce system is KYMA-only, evCF is CLOUD_FOUNDRY).
	_, err = f.assign(evCF, failed.GetSystem().GetName())
	wantReason(t, "rule 3", err, codes.FailedPrecondition, "SYSTEM_IN_ERROR")
	// 4: the type is available in the formation's environment (before 5).
	if _, err := f.assign(ev1, c4c); err != nil {
		t.Fatal(err)
	}
	_, err = f.assign(evCF, c4c)
	wantReason(t, "rule 4", err, codes.FailedPrecondition, "ENVIRONMENT_NOT_SUPPORTED")
	// 5: exclusive type: in no other formation of it (before 6).
	if _, err := f.assign(ev1, s4); err != nil {
		t.Fatal(err)
	}
	_, err = f.assign(ev2, s4)
	wantReason(t, "rule 5", err, codes.FailedPrecondition, "SYSTEM_IN_EXCLUSIVE_FORMATION")
	// 6: a type that may not join before pairing must be REGISTERED.
	_, err = f.assign(kyma, s4Pending)
	wantReason(t, "rule 6", err, codes.FailedPrecondition, "SYSTEM_NOT_PAIRED")
	got, err = f.assign(kyma, c4c)
	if err != nil || got.GetState() != formationv1.Formation_PENDING || got.GetAssignments()[1].GetApiAccessEnabled() {
		t.Fatalf("CX system before pairing: %v %v", got, err)
	}

	_, err = f.st.Formation.UnassignSystem(f.ctx, &formationv1.UnassignSystemRequest{Name: ev2.GetName(), System: s4})
	wantReason(t, "unassign not assigned", err, codes.NotFound, "SYSTEM_NOT_ASSIGNED")
	if _, err := f.st.Formation.UnassignSystem(f.ctx, &formationv1.UnassignSystemRequest{Name: ev1.GetName(), System: s4}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.assign(ev2, s4); err != nil {
		t.Fatalf("exclusive slot freed by unassign: %v", err)
	}

	// Through the gateway: the same rule as HTTP 400 with its reason.
	body, _ := json.Marshal(map[string]string{"system": s4Pending})
	res := httpCall(t, f.st.HTTP, http.MethodPost, f.st.BaseURL+"/v1/"+kyma.GetName()+":assignSystem", f.st.AdminJWT("acme"), string(body))
	var st struct {
		Details []struct {
			Reason string `json:"reason"`
		} `json:"details"`
	}
	_ = json.Unmarshal(res.Body, &st)
	if res.Status != http.StatusBadRequest || len(st.Details) == 0 || st.Details[0].Reason != "SYSTEM_NOT_PAIRED" {
		t.Fatalf("gateway: %d %+v", res.Status, st)
	}
}

// formationEvents reads the formation context's stream from the start and
// returns "<event>@<revision> <subject>" for subjects under prefix.
func formationEvents(t *testing.T, js jetstream.JetStream, prefix string) []string {
	t.Helper()
	ctx := t.Context()
	c, err := js.OrderedConsumer(ctx, "LANDSCAPE_FORMATION", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		batch, err := c.FetchNoWait(100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			ev, err := cloudevent.Decode(m.Data())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(ev.Subject, prefix) {
				continue
			}
			var data struct {
				Revision string `json:"revision"`
			}
			_ = json.Unmarshal(ev.Data, &data)
			name := m.Subject()[strings.Index(m.Subject(), ".acme.")+6:]
			out = append(out, name+"@"+data.Revision+" "+strings.TrimPrefix(ev.Subject, prefix))
		}
		if n == 0 {
			return out
		}
	}
}

func TestFormationCXAndFailureFlows(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	// CX flow: assigned while PENDING, then paired.
	kyma := f.newFormation(t, kymaFormation, 0)
	s4 := f.registered(t, "sap-s4hana-cloud")
	if _, err := f.assign(kyma, s4); err != nil {
		t.Fatal(err)
	}
	c4c := f.register(t, "sap-cloud-for-customer")
	got, err := f.assign(kyma, c4c.GetSystem().GetName())
	if err != nil {
		t.Fatal(err)
	}
	if got.GetState() != formationv1.Formation_PENDING || got.GetAssignments()[1].GetState() != formationv1.Assignment_PENDING {
		t.Fatalf("before pairing: %v", got)
	}
	if _, err := f.pair(c4c.GetIntegrationToken().GetToken(), "sap-cloud-for-customer"); err != nil {
		t.Fatal(err)
	}
	got = f.waitFormation(t, kyma.GetName(), formationv1.Formation_READY)
	if a := got.GetAssignments()[1]; a.GetState() != formationv1.Assignment_READY || !a.GetApiAccessEnabled() {
		t.Fatalf("after pairing: %v", a)
	}

	// Failure flow: pairing fails, then the administrator gets a new token and it pairs.
	kyma2 := f.newFormation(t, kymaFormation, 0)
	fsm := f.register(t, "sap-field-service-management")
	if _, err := f.assign(kyma2, fsm.GetSystem().GetName()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Registry.ReportPairingFailure(context.Background(), &registryv1.ReportPairingFailureRequest{
		IntegrationToken: fsm.GetIntegrationToken().GetToken(), Message: "handshake failed"}); err != nil {
		t.Fatal(err)
	}
	got = f.waitFormation(t, kyma2.GetName(), formationv1.Formation_ERROR)
	if a := got.GetAssignments()[0]; a.GetState() != formationv1.Assignment_ERROR || a.GetApiAccessEnabled() {
		t.Fatalf("after failure: %v", a)
	}
	tok, err := f.st.Registry.GenerateIntegrationToken(f.ctx, &registryv1.GenerateIntegrationTokenRequest{Name: fsm.GetSystem().GetName()})
	if err != nil {
		t.Fatal(err)
	}
	f.waitFormation(t, kyma2.GetName(), formationv1.Formation_PENDING)
	if _, err := f.pair(tok.GetToken(), "sap-field-service-management"); err != nil {
		t.Fatal(err)
	}
	f.waitFormation(t, kyma2.GetName(), formationv1.Formation_READY)

	// Every change was published, with increasing revisions per formation.
	var evs []string
	testkit.Eventually(t, 15*time.Second, "formation events relayed", func() bool {
		evs = formationEvents(t, f.st.JetStream, kyma2.GetName())
		return len(evs) >= 9
	})
	sub := "/assignments/" + strings.TrimPrefix(fsm.GetSystem().GetName(), "globalAccounts/acme/systems/")
	want := []string{
		"formation.created@1 ", "assignment.created@2 " + sub, "formation.state_changed@3 ",
		"assignment.state_changed@4 " + sub, "formation.state_changed@5 ",
		"assignment.state_changed@6 " + sub, "formation.state_changed@7 ",
		"assignment.state_changed@8 " + sub, "formation.state_changed@9 ",
	}
	if strings.Join(evs, "|") != strings.Join(want, "|") {
		t.Fatalf("events\n got %v\nwant %v", evs, want)
	}
}

func TestFormationSystemFormationsFollow(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	a := f.newFormation(t, kymaFormation, 0)
	b := f.newFormation(t, eventingFormation, 0)
	sys := f.registered(t, "sap-successfactors")
	for _, form := range []*formationv1.Formation{a, b} {
		if _, err := f.assign(form, sys); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 15*time.Second, "System.formations lists both", func() bool {
		return len(f.get(t, sys).GetFormations()) == 2
	})
	_, err := f.st.Registry.DeregisterSystem(f.ctx, &registryv1.DeregisterSystemRequest{Name: sys})
	wantReason(t, "deregister while assigned", err, codes.FailedPrecondition, "SYSTEM_IN_FORMATION")
	if _, err := f.st.Formation.UnassignSystem(f.ctx, &formationv1.UnassignSystemRequest{Name: a.GetName(), System: sys}); err != nil {
		t.Fatal(err)
	}
	// Deleting a formation removes its assignments first, each published.
	if _, err := f.st.Formation.DeleteFormation(f.ctx, &formationv1.DeleteFormationRequest{Name: b.GetName()}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 15*time.Second, "System.formations empties", func() bool {
		return len(f.get(t, sys).GetFormations()) == 0
	})
	if _, err := f.st.Registry.DeregisterSystem(f.ctx, &registryv1.DeregisterSystemRequest{Name: sys}); err != nil {
		t.Fatalf("deregister after unassign: %v", err)
	}
	evs := formationEvents(t, f.st.JetStream, b.GetName())
	if n := len(evs); n < 2 || !strings.HasPrefix(evs[n-2], "assignment.deleted@") || !strings.HasPrefix(evs[n-1], "formation.deleted@") {
		t.Fatalf("delete events %v", evs)
	}
	_, err = f.st.Formation.GetFormation(f.ctx, &formationv1.GetFormationRequest{Name: b.GetName()})
	wantReason(t, "deleted", err, codes.NotFound, "FORMATION_NOT_FOUND")
}

// waitingSystem is a formation whose one system waits for pairing, and
// that system's token.
type waitingSystem struct {
	form  *formationv1.Formation
	token string
}

// waitingFormations creates n Kyma formations, each with one new system
// of typ assigned before pairing, and pairs the systems of the first half.
func (f *fixture) waitingFormations(t testing.TB, n int, typ string) []waitingSystem {
	t.Helper()
	var ps []waitingSystem
	for range n {
		form := f.newFormation(t, kymaFormation, 0)
		res := f.register(t, typ)
		if _, err := f.assign(form, res.GetSystem().GetName()); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, waitingSystem{form, res.GetIntegrationToken().GetToken()})
	}
	for _, p := range ps[:n/2] {
		if _, err := f.pair(p.token, typ); err != nil {
			t.Fatal(err)
		}
	}
	return ps
}

// TestFormationReactionsSurviveNATSOutage cuts the formation consumer off
// mid-stream (the embedded NATS server stops under the whole stack), pairs
// systems while it is down, and brings NATS back: the registry's outbox
// publishes what was committed, the durable consumer resumes where it was,
// and no reaction is lost. (The component test in services/formation kills
// and restarts the consumer itself.)
func TestFormationReactionsSurviveNATSOutage(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	const n = 8
	ps := f.waitingFormations(t, n, "sap-commerce-cloud")
	f.st.NATSServer.Stop()
	for _, p := range ps[n/2:] {
		if _, err := f.pair(p.token, "sap-commerce-cloud"); err != nil {
			t.Fatal(err)
		}
	}
	f.st.NATSServer.Start()
	for _, p := range ps {
		f.waitFormation(t, p.form.GetName(), formationv1.Formation_READY)
	}
}

// TestFormationExclusiveRace assigns one system to several formations of
// the exclusive type at once, repeatedly: exactly one assign wins each time.
func TestFormationExclusiveRace(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	const rounds, n = 5, 6
	for round := range rounds {
		sys := f.registered(t, "sap-marketing-cloud")
		forms := make([]*formationv1.Formation, n)
		for i := range forms {
			forms[i] = f.newFormation(t, eventingFormation, 0)
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range forms {
			wg.Go(func() { _, errs[i] = f.assign(forms[i], sys) })
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
				continue
			}
			wantReason(t, "losing assign", err, codes.FailedPrecondition, "SYSTEM_IN_EXCLUSIVE_FORMATION")
		}
		if wins != 1 {
			t.Fatalf("round %d: %d assigns won, want exactly 1", round, wins)
		}
		testkit.Eventually(t, 15*time.Second, "System.formations lists the winner", func() bool {
			return len(f.get(t, sys).GetFormations()) == 1
		})
	}
}

// TestFormationConsumerDeletedMidStream deletes the formation service's
// durable consumer while registry events flow: the service sets it up
// again, the new consumer starts from the stream's beginning, every
// reaction is applied and the replayed ones change nothing (etags stay).
func TestFormationConsumerDeletedMidStream(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{})
	const n = 8
	ps := f.waitingFormations(t, n, "sap-field-service-management")
	etags := map[string]string{}
	for _, p := range ps[:n/2] {
		etags[p.form.GetName()] = f.waitFormation(t, p.form.GetName(), formationv1.Formation_READY).GetEtag()
	}
	if err := f.st.JetStream.DeleteConsumer(t.Context(), "LANDSCAPE_REGISTRY", "formation-reactions"); err != nil {
		t.Fatalf("delete consumer: %v", err)
	}
	for _, p := range ps[n/2:] {
		if _, err := f.pair(p.token, "sap-field-service-management"); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range ps[n/2:] {
		f.waitFormation(t, p.form.GetName(), formationv1.Formation_READY)
	}
	testkit.Eventually(t, 15*time.Second, "the consumer is back", func() bool {
		_, err := f.st.JetStream.Consumer(t.Context(), "LANDSCAPE_REGISTRY", "formation-reactions")
		return err == nil
	})
	for name, etag := range etags {
		if got := f.formation(t, name).GetEtag(); got != etag {
			t.Fatalf("replayed events changed %s: etag %s -> %s", name, etag, got)
		}
	}
}
