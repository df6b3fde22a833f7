package filter

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

func knownType(id string) bool { return id == "sap-successfactors" || id == "sap-commerce-cloud" }

var fields = []Field{
	Enum("state", "PENDING", "REGISTERED", "ERROR"),
	String("type", "system type", knownType),
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Terms
	}{
		{"", Terms{}},
		{"   ", Terms{}},
		{"\t\r\n", Terms{}},
		{"state = PENDING", Terms{"state": "PENDING"}},
		{"state=ERROR", Terms{"state": "ERROR"}},
		{`type = "sap-successfactors"`, Terms{"type": "sap-successfactors"}},
		{`state = REGISTERED AND type = "sap-commerce-cloud"`, Terms{"state": "REGISTERED", "type": "sap-commerce-cloud"}},
		{`type="sap-commerce-cloud" AND state=PENDING`, Terms{"state": "PENDING", "type": "sap-commerce-cloud"}},
		{"  state =\tPENDING\n", Terms{"state": "PENDING"}},
	} {
		got, err := Parse(tc.in, fields...)
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	refuses(t, []struct{ in, msg string }{
		{"state", "expected `field = value`"},
		{"state =", "expected `field = value`"},
		{"= PENDING", "expected `field = value`"},
		{"state == PENDING", "state must be PENDING, REGISTERED or ERROR"},
		{"state READY", "expected `field = value`"},
		{"state = PENDING AND", "expected `field = value`"},
		{"state = pending", "state must be PENDING, REGISTERED or ERROR"},
		{`state = "PENDING"`, "state must be PENDING, REGISTERED or ERROR"},
		{"state = BROKEN", "state must be PENDING, REGISTERED or ERROR"},
		{"type = sap-successfactors", "type must be a double-quoted system type id"},
		{`type = "sap-unknown"`, "unknown system type"},
		{`type = ""`, "unknown system type"},
		{"name = x", "unknown field; use state or type"},
		{`"state" = PENDING`, "expected `field = value`"},
		{`state = PENDING and type = "sap-commerce-cloud"`, "terms must be joined by AND"},
		{"state = PENDING OR state = ERROR", "terms must be joined by AND"},
		{"state = PENDING state = ERROR", "terms must be joined by AND"},
		{"state = PENDING AND state = ERROR", "field state is given more than once"},
		{`type = "sap-successfactors`, "unterminated string"},
		{`type = "sap\"x"`, "escapes are not supported in strings"},
		{"state = PENDING;", "unexpected character"},
		{"(state = PENDING)", "unexpected character"},
		{"state = PENDING" + strings.Repeat(" ", MaxLength), "must be at most 1024 characters"},
	}, fields)
}

// refuses checks that each filter is INVALID_ARGUMENT on field "filter"
// with its message.
func refuses(t *testing.T, cases []struct{ in, msg string }, fields []Field) {
	t.Helper()
	for _, tc := range cases {
		got, err := Parse(tc.in, fields...)
		e := apperr.As(err)
		if err == nil || e.Reason != apperr.InvalidArgument || len(e.Violations) != 1 {
			t.Errorf("Parse(%q) = %v, %v; want INVALID_ARGUMENT", tc.in, got, err)
			continue
		}
		if v := e.Violations[0]; v.Field != "filter" || v.Description != tc.msg {
			t.Errorf("Parse(%q): violation %+v, want filter: %s", tc.in, v, tc.msg)
		}
	}
}

func TestOrList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []string
		want string
	}{{nil, ""}, {[]string{"a"}, "a"}, {[]string{"a", "b"}, "a or b"}, {[]string{"a", "b", "c"}, "a, b or c"}} {
		if got := orList(tc.in); got != tc.want {
			t.Errorf("orList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// render writes terms back as a filter, in a fixed order.
func render(terms Terms) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(terms)) {
		if k == "type" {
			parts = append(parts, k+` = "`+terms[k]+`"`)
		} else {
			parts = append(parts, k+" = "+terms[k])
		}
	}
	return strings.Join(parts, " AND ")
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"", "state = PENDING", `type = "sap-successfactors"`, `state = ERROR AND type = "sap-commerce-cloud"`,
		"state", `"`, "AND", "= =", "state = PENDING AND AND", "\x00", `type = ""`, "state=REGISTERED",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s, fields...)
		if err != nil {
			if e := apperr.As(err); e.Reason != apperr.InvalidArgument || len(e.Violations) != 1 || e.Violations[0].Field != "filter" {
				t.Fatalf("Parse(%q): %v", s, err)
			}
			return
		}
		for k, v := range got {
			switch k {
			case "state":
				if !slices.Contains(fields[0].Values, v) {
					t.Fatalf("Parse(%q) accepted state %q", s, v)
				}
			case "type":
				if !knownType(v) {
					t.Fatalf("Parse(%q) accepted unknown type %q", s, v)
				}
			default:
				t.Fatalf("Parse(%q) accepted field %q", s, k)
			}
		}
		again, err := Parse(render(got), fields...)
		if err != nil || !maps.Equal(again, got) {
			t.Fatalf("round trip of %q: %v -> %q -> %v, %v", s, got, render(got), again, err)
		}
	})
}

var auditFields = []Field{Text("subject", "resource name"), Time("time")}

func TestParseTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Terms
	}{
		{`time >= "2026-01-01T00:00:00Z"`, Terms{"time>=": "2026-01-01T00:00:00Z"}},
		{`time>="2026-01-01T00:00:00Z" AND time<"2026-02-01T00:00:00.5+01:00"`, Terms{"time>=": "2026-01-01T00:00:00Z", "time<": "2026-02-01T00:00:00.5+01:00"}},
		{`subject = "globalAccounts/a/systems/b" AND time < "2026-01-01T00:00:00Z"`, Terms{"subject": "globalAccounts/a/systems/b", "time<": "2026-01-01T00:00:00Z"}},
	} {
		got, err := Parse(tc.in, auditFields...)
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	terms, _ := Parse(`time >= "2026-01-01T00:00:00Z"`, auditFields...)
	if at, ok := terms.TimeTerm("time>="); !ok || at.Year() != 2026 {
		t.Errorf("TimeTerm: %v %v", at, ok)
	}
	if _, ok := terms.TimeTerm("time<"); ok {
		t.Error("TimeTerm of an absent term is ok")
	}
}

func TestParseTimeRefuses(t *testing.T) {
	t.Parallel()
	refuses(t, []struct{ in, msg string }{
		{`time = "2026-01-01T00:00:00Z"`, `time takes >= and <, e.g. time >= "2026-01-01T00:00:00Z"`},
		{`time > "2026-01-01T00:00:00Z"`, `time takes >= and <, e.g. time >= "2026-01-01T00:00:00Z"`},
		{`time <= "2026-01-01T00:00:00Z"`, `time takes >= and <, e.g. time >= "2026-01-01T00:00:00Z"`},
		{`time >= 2026`, "time must be a double-quoted RFC 3339 time"},
		{`time >= "yesterday"`, "time must be an RFC 3339 time like 2026-01-01T00:00:00Z"},
		{`time >= "2026-01-01"`, "time must be an RFC 3339 time like 2026-01-01T00:00:00Z"},
		{`time >= "2026-01-01T00:00:00Z" AND time >= "2026-01-02T00:00:00Z"`, "time >= is given more than once"},
		{`subject >= "x"`, "subject takes ="},
		{`subject = x`, "subject must be a double-quoted resource name"},
		{`subject = ""`, "subject must be a double-quoted resource name"},
		{`subject = "a" AND subject = "b"`, "field subject is given more than once"},
		{`actor = "user:alice"`, "unknown field; use subject or time"},
		{`time >=`, "expected `field = value`"},
	}, auditFields)
}
