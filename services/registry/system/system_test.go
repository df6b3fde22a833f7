package system

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

func TestValidID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"a", true}, {"sf-prod", true}, {"a1", true}, {strings.Repeat("a", 63), true},
		{"", false}, {"1a", false}, {"a-", false}, {"A", false}, {"a_b", false},
		{strings.Repeat("a", 64), false}, {"a b", false}, {"-a", false},
	} {
		if got := ValidID(tc.id); got != tc.want {
			t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
	for range 1000 {
		if id := NewID(); !ValidID(id) {
			t.Fatalf("generated id %q does not follow the pattern", id)
		}
	}
}

func TestValidateDisplayName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"SF prod", true}, {"a", true}, {"7", true}, {"Ünïcode Name 2", true},
		{strings.Repeat("x", 128), true}, {"a (b) c", true},
		{"", false}, {" a", false}, {"a ", false}, {"-a", false}, {"a.", false},
		{strings.Repeat("x", 129), false}, {"a\tb", false}, {"a\x00b", false}, {"a\u200bb", false},
		{"\xffa", false},
	} {
		msg := ValidateDisplayName(tc.name)
		if (msg == "") != tc.ok {
			t.Errorf("ValidateDisplayName(%q) = %q, want ok=%v", tc.name, msg, tc.ok)
		}
	}
	if NameKey("SF Prod") != NameKey("sf PROD") {
		t.Error("name keys differ in case only")
	}
}

func FuzzValidateDisplayName(f *testing.F) {
	for _, s := range []string{"SF prod", "", " ", "a", "a\x00", "\xff", strings.Repeat("é", 129), "a-b", "ẞ straße"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateDisplayName(s) != "" {
			return
		}
		n := utf8.RuneCountInString(s)
		if !utf8.ValidString(s) || n < 1 || n > MaxDisplayName {
			t.Fatalf("accepted %q", s)
		}
		first, _ := utf8.DecodeRuneInString(s)
		last, _ := utf8.DecodeLastRuneInString(s)
		if !isAlnum(first) || !isAlnum(last) {
			t.Fatalf("accepted %q with a bad first or last character", s)
		}
	})
}

func TestValidRequestID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id string
		ok bool
	}{{"a", true}, {"Req-1", true}, {strings.Repeat("Z", 64), true}, {"", false}, {strings.Repeat("Z", 65), false}, {"a_b", false}, {"a b", false}} {
		if ValidRequestID(tc.id) != tc.ok {
			t.Errorf("ValidRequestID(%q) != %v", tc.id, tc.ok)
		}
	}
}

func TestValidateBaseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		u  string
		ok bool
	}{
		{"https://sf.example.com", true}, {"http://127.0.0.1:8080/x?y=1", true},
		{"", false}, {"sf.example.com", false}, {"/relative", false}, {"ftp://x", false},
		{"https://", false}, {"https://a b", false}, {"https://x/" + strings.Repeat("a", 2048), false},
		{"mailto:a@b", false},
	} {
		if msg := ValidateBaseURL(tc.u); (msg == "") != tc.ok {
			t.Errorf("ValidateBaseURL(%q) = %q, want ok=%v", tc.u, msg, tc.ok)
		}
	}
	if ValidateExternalID(strings.Repeat("x", 257)) == "" || ValidateExternalID("ext-1") != "" || ValidateExternalID("a\nb") == "" {
		t.Error("external id rules")
	}
}

func TestCutMessage(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("ü", 5000)
	got := CutMessage(long)
	if utf8.RuneCountInString(got) != MaxStateMessage || !utf8.ValidString(got) {
		t.Fatalf("cut to %d runes", utf8.RuneCountInString(got))
	}
	if CutMessage("short") != "short" {
		t.Fatal("short message changed")
	}
	if !utf8.ValidString(CutMessage("a\xffb")) {
		t.Fatal("invalid UTF-8 kept")
	}
}

func TestParseNames(t *testing.T) {
	t.Parallel()
	if ga, id, err := ParseName("name", "globalAccounts/acme/systems/sf-prod"); err != nil || ga != "acme" || id != "sf-prod" {
		t.Fatalf("ParseName: %q %q %v", ga, id, err)
	}
	for _, bad := range []string{"", "globalAccounts/acme", "globalAccounts/acme/systems/", "globalAccounts/Acme/systems/x", "globalAccounts/acme/formations/x", "globalAccounts/acme/systems/x/y"} {
		_, _, err := ParseName("name", bad)
		if apperr.ReasonOf(err) != apperr.InvalidArgument {
			t.Errorf("ParseName(%q): %v", bad, err)
		}
	}
	if _, err := ParseParent("parent", "globalAccounts/acme/"); err == nil {
		t.Error("ParseParent accepted a trailing slash")
	}
}
