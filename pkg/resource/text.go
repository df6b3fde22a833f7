package resource

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/unicode/norm"
)

// Free text (a description, a reported failure message) is shown in
// consoles, terminals and logs. A control character there can rewrite a
// terminal line (ESC), cut a C string (NUL) or forge a log line (newline),
// and a bidirectional formatting character (U+202E and its kin) can make
// the text read differently from what it is. So free text carries neither.

// isBidiControl reports whether r is one of the characters that change the
// direction of the text around them (Unicode's Bidi_Control property).
func isBidiControl(r rune) bool {
	return unicode.Is(unicode.Bidi_Control, r)
}

// unsafeInText reports whether r may not appear in free text: a control
// character (C0, DEL, C1: newline and tab included) or a bidirectional
// formatting character.
func unsafeInText(r rune) bool {
	return unicode.IsControl(r) || isBidiControl(r)
}

// ValidateText checks free text given by a caller: valid UTF-8, at most max
// characters (runes), no control and no bidirectional formatting
// characters. It returns "" when s is valid, else the message of a field
// violation.
func ValidateText(s string, max int) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	if strings.IndexFunc(s, unsafeInText) >= 0 {
		return "must not contain control or bidirectional formatting characters"
	}
	if utf8.RuneCountInString(s) > max {
		return "must be at most " + strconv.Itoa(max) + " characters"
	}
	return ""
}

// CleanText makes free text that must not be refused (a failure report
// from a system that could not pair) safe to store and show: invalid UTF-8
// becomes U+FFFD, each control character a space, and bidirectional
// formatting characters are dropped.
func CleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexFunc(s, unsafeInText) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case isBidiControl(r):
			return -1
		case unicode.IsControl(r):
			return ' '
		}
		return r
	}, s)
}

// NameKey is the form of a display name that uniqueness compares: two
// names that a reader cannot tell apart have the same key. It folds
//   - compatibility forms (NFKC: "ﬁ" and "fi", full-width "Ａ" and "A"),
//   - case (upper then lower case, which also folds letters such as U+017F
//     (ſ) and U+212A (Kelvin sign) that lower case alone keeps apart),
//   - look-alike characters from other scripts (the confusables skeleton
//     of Unicode Technical Standard #39: Cyrillic "о" and Latin "o").
//
// The key is compared, never shown.
func NameKey(displayName string) string {
	folded := strings.ToLower(strings.ToUpper(norm.NFKC.String(displayName)))
	return confusables.Skeleton(folded)
}
