package resource

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNewID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, prefix := range []byte{'s', 'f'} {
		for range 1000 {
			id := NewID(prefix)
			if !ValidID(id) || id[0] != prefix || len(id) != 16 {
				t.Fatalf("generated id %q does not follow the pattern with prefix %c", id, prefix)
			}
			if seen[id] {
				t.Fatalf("id %q generated twice", id)
			}
			seen[id] = true
		}
	}
}

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
}

// FuzzValidID pins the written-out check to IDPattern itself.
func FuzzValidID(f *testing.F) {
	pattern := regexp.MustCompile(IDPattern)
	for _, s := range []string{"a", "sf-prod", "a-", "1a", "a--b", strings.Repeat("b", 63), strings.Repeat("c", 64), "é", "a\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidID(s), pattern.MatchString(s); got != want {
			t.Fatalf("ValidID(%q) = %v, IDPattern says %v", s, got, want)
		}
	})
}

func TestValidateDisplayName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		msg  string
	}{
		{"SF prod", ""}, {"a", ""}, {"7", ""}, {"Ünïcode Name 2", ""}, {"9 lives", ""},
		{strings.Repeat("x", 128), ""}, {"a (b) c", ""}, {strings.Repeat("é", 128), ""},
		{"", "is required"},
		{" a", "must start and end with a letter or digit"},
		{"a ", "must start and end with a letter or digit"},
		{"-a", "must start and end with a letter or digit"},
		{"a.", "must start and end with a letter or digit"},
		{strings.Repeat("x", 129), "must be at most 128 characters"},
		{strings.Repeat("é", 129), "must be at most 128 characters"},
		{"a\tb", "must contain printable characters only"},
		{"a\x00b", "must contain printable characters only"},
		{"a\u200bb", "must contain printable characters only"},
		{"\xffa", "must be valid UTF-8"},
	} {
		if got := ValidateDisplayName(tc.name); got != tc.msg {
			t.Errorf("ValidateDisplayName(%q) = %q, want %q", tc.name, got, tc.msg)
		}
	}
}

func TestNameKey(t *testing.T) {
	t.Parallel()
	for _, tc := range [][2]string{
		{"SF Prod", "sf PROD"}, {"Straße", "STRAßE"}, {"ſ1", "S1"}, {"\u212a9", "k9"},
		// look-alikes: Cyrillic о, а, с, е and Greek Ο for Latin letters
		{"SF prod", "SF pr\u043ed"}, {"Acme", "\u0410\u0441m\u0435"}, {"SF PROD", "SF PR\u039fD"},
		// compatibility forms: full-width letters, ligatures, superscripts
		{"SF prod", "\uff33\uff26 prod"}, {"file 2", "\ufb01le \u00b2"},
		// a precomposed letter and its decomposition
		{"caf\u00e9", "cafe\u0301"},
	} {
		if NameKey(tc[0]) != NameKey(tc[1]) {
			t.Errorf("NameKey(%q) = %q, NameKey(%q) = %q; want equal", tc[0], NameKey(tc[0]), tc[1], NameKey(tc[1]))
		}
	}
	for _, tc := range [][2]string{{"a", "b"}, {"SF prod", "SF test"}, {"caf\u00e9", "cafe"}, {"sf-1", "sf-2"}} {
		if NameKey(tc[0]) == NameKey(tc[1]) {
			t.Errorf("%q and %q have one key %q", tc[0], tc[1], NameKey(tc[0]))
		}
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
