package system

import (
	"testing"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

func known(id string) bool { return id == "sap-successfactors" || id == "sap-commerce-cloud" }

func TestParseFilter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Filter
	}{
		{"", Filter{}},
		{"   ", Filter{}},
		{"state = PENDING", Filter{State: Pending}},
		{"state=ERROR", Filter{State: Error}},
		{`type = "sap-successfactors"`, Filter{Type: "sap-successfactors"}},
		{`state = REGISTERED AND type = "sap-commerce-cloud"`, Filter{State: Registered, Type: "sap-commerce-cloud"}},
		{`type="sap-commerce-cloud" AND state=PENDING`, Filter{State: Pending, Type: "sap-commerce-cloud"}},
	} {
		got, err := ParseFilter(tc.in, known)
		if err != nil || got != tc.want {
			t.Errorf("ParseFilter(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"state", "state =", "= PENDING", "state = pending", `state = "PENDING"`, "type = sap-successfactors",
		`type = "sap-unknown"`, "name = x", "state = PENDING AND", "state = PENDING and type = \"sap-commerce-cloud\"",
		"state = PENDING OR state = ERROR", "state = PENDING AND state = ERROR", `type = "sap-successfactors`,
		"state == PENDING", "state = PENDING;", `type = "sap\"x"`, "(state = PENDING)", "state = PENDING state = ERROR",
	} {
		_, err := ParseFilter(bad, known)
		var e *apperr.Error
		if err == nil || apperr.ReasonOf(err) != apperr.InvalidArgument {
			t.Errorf("ParseFilter(%q) = %v, want INVALID_ARGUMENT", bad, err)
			continue
		}
		e = apperr.As(err)
		if len(e.Violations) != 1 || e.Violations[0].Field != "filter" {
			t.Errorf("ParseFilter(%q): violations %+v, want field filter", bad, e.Violations)
		}
	}
}
