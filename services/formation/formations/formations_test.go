package formations

import (
	"testing"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

func TestCatalogIsTheDesignCatalog(t *testing.T) {
	t.Parallel()
	c := DefaultCatalog()
	types := c.Types()
	if len(types) != 2 {
		t.Fatalf("catalog has %d types, want 2", len(types))
	}
	kyma, ok := c.Type("side-by-side-extensibility-with-kyma")
	if !ok || kyma.Environment != Kyma || kyma.Exclusive || kyma.DisplayName != "Side-by-Side Extensibility with Kyma" {
		t.Errorf("kyma type = %+v", kyma)
	}
	ev, ok := c.Type("eventing-between-sap-cloud-systems")
	if !ok || ev.Environment != NoEnvironment || !ev.Exclusive || ev.DisplayName != "Eventing Between SAP Cloud Systems" {
		t.Errorf("eventing type = %+v", ev)
	}
	for _, ft := range types {
		for _, st := range []string{"sap-s4hana-cloud", "sap-marketing-cloud", "sap-successfactors",
			"sap-commerce-cloud", "sap-cloud-for-customer", "sap-field-service-management"} {
			if !ft.Allows(st) {
				t.Errorf("%s does not allow %s", ft.ID, st)
			}
		}
	}
	if _, err := ParseCatalog([]byte(`{"formationTypes":[{"id":"a"},{"id":"a"}]}`)); err == nil {
		t.Error("duplicate ids accepted")
	}
}

func TestDeriveState(t *testing.T) {
	t.Parallel()
	a := func(states ...State) []Assignment {
		var out []Assignment
		for _, s := range states {
			out = append(out, Assignment{State: s})
		}
		return out
	}
	for _, tc := range []struct {
		in   []Assignment
		want State
	}{
		{nil, Ready},
		{a(Ready), Ready},
		{a(Ready, Pending), Pending},
		{a(Pending, Error, Ready), Error},
		{a(Error), Error},
	} {
		if got := DeriveState(tc.in); got != tc.want {
			t.Errorf("DeriveState(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

var (
	kymaOnly = SystemType{ID: "sap-cloud-for-customer", Environments: []Environment{Kyma}, AssignableBeforePairing: true}
	cfKyma   = SystemType{ID: "sap-s4hana-cloud", Environments: []Environment{CloudFoundry, Kyma}}
)

func TestCheckAssignRulesInOrder(t *testing.T) {
	t.Parallel()
	cat := DefaultCatalog()
	kymaFT, _ := cat.Type("side-by-side-extensibility-with-kyma")
	exclFT, _ := cat.Type("eventing-between-sap-cloud-systems")
	form := func(env Environment, ids ...string) *Formation {
		f := &Formation{GlobalAccount: "acme", ID: "f1", Environment: env}
		for _, id := range ids {
			f.Assignments = append(f.Assignments, Assignment{SystemID: id, State: Ready})
		}
		return f
	}
	sys := func(typ string, st SystemState) System {
		return System{GlobalAccount: "acme", ID: "s1", Type: typ, State: st}
	}
	for _, tc := range []struct {
		name   string
		in     AssignInput
		reason apperr.Reason
		state  State
		api    bool
	}{
		{"2 already assigned wins over 3", AssignInput{Formation: form(Kyma, "s1"), FormationType: kymaFT,
			System: sys("sap-cloud-for-customer", SystemError), SystemType: kymaOnly}, apperr.SystemAlreadyAssigned, "", false},
		{"3 in error wins over 4", AssignInput{Formation: form(CloudFoundry), FormationType: exclFT,
			System: sys("sap-cloud-for-customer", SystemError), SystemType: kymaOnly}, apperr.SystemInError, "", false},
		{"4 environment wins over 5", AssignInput{Formation: form(CloudFoundry), FormationType: exclFT,
			System: sys("sap-cloud-for-customer", SystemPending), SystemType: kymaOnly, ExclusiveHolder: "f2"}, apperr.EnvironmentNotSupported, "", false},
		{"4 does not apply without environment", AssignInput{Formation: form(NoEnvironment), FormationType: exclFT,
			System: sys("sap-cloud-for-customer", SystemPending), SystemType: kymaOnly}, "", Pending, false},
		{"5 exclusive wins over 6", AssignInput{Formation: form(NoEnvironment), FormationType: exclFT,
			System: sys("sap-s4hana-cloud", SystemPending), SystemType: cfKyma, ExclusiveHolder: "f2"}, apperr.SystemInExclusiveFormation, "", false},
		{"5 only for exclusive types", AssignInput{Formation: form(Kyma), FormationType: kymaFT,
			System: sys("sap-s4hana-cloud", SystemRegistered), SystemType: cfKyma, ExclusiveHolder: "f2"}, "", Ready, true},
		{"6 not paired", AssignInput{Formation: form(Kyma), FormationType: kymaFT,
			System: sys("sap-s4hana-cloud", SystemPending), SystemType: cfKyma}, apperr.SystemNotPaired, "", false},
		{"CX system joins before pairing, PENDING, API off", AssignInput{Formation: form(Kyma), FormationType: kymaFT,
			System: sys("sap-cloud-for-customer", SystemPending), SystemType: kymaOnly}, "", Pending, false},
		{"registered system is READY with API on", AssignInput{Formation: form(Kyma), FormationType: kymaFT,
			System: sys("sap-s4hana-cloud", SystemRegistered), SystemType: cfKyma}, "", Ready, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, api, err := CheckAssign(tc.in)
			if tc.reason != "" {
				if got := apperr.ReasonOf(err); got != tc.reason {
					t.Fatalf("reason = %s (%v), want %s", got, err, tc.reason)
				}
				return
			}
			if err != nil || st != tc.state || api != tc.api {
				t.Fatalf("got %s api=%v err=%v, want %s api=%v", st, api, err, tc.state, tc.api)
			}
		})
	}
}

func TestReact(t *testing.T) {
	t.Parallel()
	pending := Assignment{SystemID: "s", State: Pending}
	errored := Assignment{SystemID: "s", State: Error}
	if a, keep := react(pending, SystemRegisteredEvent); !keep || a.State != Ready || !a.APIAccessEnabled {
		t.Errorf("registered: %+v %v", a, keep)
	}
	if a, keep := react(pending, SystemRegistrationFailedEvent); !keep || a.State != Error || a.APIAccessEnabled {
		t.Errorf("failed: %+v %v", a, keep)
	}
	if a, _ := react(errored, SystemRegistrationRestartedEvent); a.State != Pending {
		t.Errorf("restarted from error: %+v", a)
	}
	if a, _ := react(Assignment{State: Ready, APIAccessEnabled: true}, SystemRegistrationRestartedEvent); a.State != Ready {
		t.Errorf("restarted leaves READY alone: %+v", a)
	}
	if _, keep := react(pending, SystemDeregisteredEvent); keep {
		t.Error("deregistered keeps the assignment")
	}
}

// TestParseFilter pins the fields the formation service declares; the
// grammar is tested in pkg/filter.
func TestParseFilter(t *testing.T) {
	t.Parallel()
	cat := DefaultCatalog()
	const kyma, eventing = "side-by-side-extensibility-with-kyma", "eventing-between-sap-cloud-systems"
	for _, tc := range []struct {
		in   string
		want Filter
		msg  string // the violation on filter; "" when the filter is valid
	}{
		{in: ""},
		{in: "state = READY", want: Filter{State: Ready}},
		{in: "state=PENDING", want: Filter{State: Pending}},
		{in: "state = ERROR", want: Filter{State: Error}},
		{in: `formationType = "` + eventing + `"`, want: Filter{Type: eventing}},
		{in: `state = ERROR AND formationType = "` + kyma + `"`, want: Filter{State: Error, Type: kyma}},
		{in: "state = BROKEN", msg: "state must be READY, PENDING, ERROR or SYNCHRONIZING"},
		{in: `state = "READY"`, msg: "state must be READY, PENDING, ERROR or SYNCHRONIZING"},
		{in: "type = READY", msg: "unknown field; use state or formationType"},
		{in: `formationType = "nope"`, msg: "unknown formation type"},
		{in: "formationType = " + kyma, msg: "formationType must be a double-quoted formation type id"},
		{in: "state = READY AND state = ERROR", msg: "field state is given more than once"},
	} {
		got, err := ParseFilter(tc.in, cat)
		var msg string
		if err != nil {
			if e := apperr.As(err); e.Reason == apperr.InvalidArgument && len(e.Violations) == 1 && e.Violations[0].Field == "filter" {
				msg = e.Violations[0].Description
			} else {
				msg = err.Error()
			}
		}
		if msg != tc.msg || got != tc.want {
			t.Errorf("ParseFilter(%q) = %+v, %q; want %+v, %q", tc.in, got, msg, tc.want, tc.msg)
		}
	}
}
