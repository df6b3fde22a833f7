package system

import (
	"strings"
	"testing"
	"unicode/utf8"
)

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
		// user information is refused: it would be stored, returned and published
		{"https://admin:secret@sf.example.com", false}, {"https://admin@sf.example.com", false},
		{"https://:secret@sf.example.com", false}, {"https://sf.example.com/a@b", true},
		{"https://sf.example.com/\u202egnp.exe", false}, {"https://sf.example.com/\u0085", false},
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
	for in, want := range map[string]string{
		"line1\nline2":               "line1 line2",
		"nul\x00esc\x1b[31mred":      "nul esc [31mred",
		"evil\u202eexe.pdf":          "evilexe.pdf",
		"\u2066isolate\u2069 \u200f": "isolate ",
		"c1\u0085next":               "c1 next",
	} {
		if got := CutMessage(in); got != want {
			t.Errorf("CutMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidateDescription(t *testing.T) {
	t.Parallel()
	for in, ok := range map[string]bool{
		"": true, "Production, EU datacenter": true, "Ünïcode — fine": true,
		strings.Repeat("é", MaxDescription): true, strings.Repeat("é", MaxDescription+1): false,
		"a\x00b": false, "a\x1b[2Jb": false, "a\nb": false, "a\tb": false, "a\u202eb": false,
		"a\u2067b": false, "a\u0085b": false, "\xff": false,
	} {
		if msg := ValidateDescription(in); (msg == "") != ok {
			t.Errorf("ValidateDescription(%q) = %q, want ok=%v", in, msg, ok)
		}
	}
}
