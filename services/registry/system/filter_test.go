package system

import (
	"testing"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

func known(id string) bool { return id == "sap-successfactors" || id == "sap-commerce-cloud" }

// TestParseFilter pins the fields the registry declares; the grammar is
// tested in pkg/filter.
func TestParseFilter(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Filter{
		"":                            {},
		"state = PENDING":             {State: Pending},
		"state = REGISTERED":          {State: Registered},
		"state = ERROR":               {State: Error},
		`type = "sap-successfactors"`: {Type: "sap-successfactors"},
		`type = "sap-commerce-cloud" AND state = ERROR`: {State: Error, Type: "sap-commerce-cloud"},
	} {
		if got, err := ParseFilter(in, known); err != nil || got != want {
			t.Errorf("ParseFilter(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for bad, msg := range map[string]string{
		"state = READY":                    "state must be PENDING, REGISTERED or ERROR",
		"type = sap-successfactors":        "type must be a double-quoted system type id",
		`type = "sap-unknown"`:             "unknown system type",
		`formationType = "x"`:              "unknown field; use state or type",
		"state = PENDING OR state = ERROR": "terms must be joined by AND",
	} {
		_, err := ParseFilter(bad, known)
		e := apperr.As(err)
		if err == nil || e.Reason != apperr.InvalidArgument || len(e.Violations) != 1 ||
			e.Violations[0].Field != "filter" || e.Violations[0].Description != msg {
			t.Errorf("ParseFilter(%q) = %v; want INVALID_ARGUMENT on filter: %s", bad, err, msg)
		}
	}
}
