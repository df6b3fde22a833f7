package resource

import (
	"testing"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

func violation(t *testing.T, err error) apperr.FieldViolation {
	t.Helper()
	e := apperr.As(err)
	if err == nil || e.Reason != apperr.InvalidArgument || len(e.Violations) != 1 {
		t.Fatalf("error %v, want INVALID_ARGUMENT with one violation", err)
	}
	return e.Violations[0]
}

func TestParseNames(t *testing.T) {
	t.Parallel()
	if ga, err := ParseParent("parent", "globalAccounts/acme"); err != nil || ga != "acme" {
		t.Fatalf("ParseParent: %q %v", ga, err)
	}
	for _, bad := range []string{"", "globalAccounts/", "globalAccounts/acme/", "globalAccounts/Acme", "acme", "globalaccounts/acme"} {
		_, err := ParseParent("parent", bad)
		if v := violation(t, err); v.Field != "parent" || v.Description != "must be globalAccounts/{globalAccount}" {
			t.Errorf("ParseParent(%q): %+v", bad, v)
		}
	}
	for _, tc := range []struct {
		parse func(field, name string) (string, string, error)
		build func(ga, id string) string
		other string
		msg   string
	}{
		{ParseSystemName, SystemName, "formations", "must be globalAccounts/{globalAccount}/systems/{system}"},
		{ParseFormationName, FormationName, "systems", "must be globalAccounts/{globalAccount}/formations/{formation}"},
	} {
		name := tc.build("acme", "sf-prod")
		if ga, id, err := tc.parse("name", name); err != nil || ga != "acme" || id != "sf-prod" {
			t.Fatalf("parse(%q) = %q %q %v", name, ga, id, err)
		}
		for _, bad := range []string{
			"", "globalAccounts/acme", name + "/", name + "/y", tc.build("Acme", "x"), tc.build("acme", "X"),
			tc.build("acme", ""), "globalAccounts/acme/" + tc.other + "/x", "x/acme/systems/y",
		} {
			_, _, err := tc.parse("name", bad)
			if v := violation(t, err); v.Field != "name" || v.Description != tc.msg {
				t.Errorf("parse(%q): %+v", bad, v)
			}
		}
	}
}

func TestGlobalAccountOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"globalAccounts/acme/formations/f1": "acme", "globalAccounts/acme": "acme", "globalAccounts/": "",
		"formations/f1": "", "": "", "globalAccounts/ACME/x": "ACME",
	} {
		if got := GlobalAccountOf(in); got != want {
			t.Errorf("GlobalAccountOf(%q) = %q, want %q", in, got, want)
		}
	}
}
