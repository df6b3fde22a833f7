// Package resource holds the contract rules that every resource of the API
// shares (docs/API.md, "Global accounts, callers and roles" and "System lifecycle" and "Resources"): the id pattern and id generation, display
// names and their uniqueness key, resource names, page sizes, and the
// sorted-set index members that page tokens carry.
//
// It is transport-free: it imports only the standard library, pkg/apperr
// and pure text libraries (Unicode normalization, the confusables table),
// so domain packages may use it.
package resource

import (
	"crypto/rand"
	"unicode"
	"unicode/utf8"
)

// IDPattern is the id pattern of docs/API.md, "Global accounts, callers and roles", for global accounts, systems,
// formations, types and tokens.
const IDPattern = `^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`

// MaxIDLength is the longest id IDPattern allows.
const MaxIDLength = 63

// ValidID reports whether s follows IDPattern. It is written out rather
// than matched with regexp: every resource name read back from storage
// passes here, and the regexp cost a tenth of a page of ListSystems.
func ValidID(s string) bool {
	n := len(s)
	if n == 0 || n > MaxIDLength || s[0] < 'a' || s[0] > 'z' || s[n-1] == '-' {
		return false
	}
	for i := 1; i < n; i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// NewID returns a generated id: prefix (a lower-case letter, e.g. 's' for
// systems, 'f' for formations) and 15 characters of [a-z0-9] from
// crypto/rand (about 77 bits). It follows IDPattern.
func NewID(prefix byte) string {
	var b [16]byte
	_, _ = rand.Read(b[1:])
	b[0] = prefix
	for i := 1; i < len(b); i++ {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b[:])
}

// MaxDisplayName is the longest display name, in characters (runes).
const MaxDisplayName = 128

// ValidateDisplayName checks the rules of docs/API.md, "System lifecycle": 1–128 printable
// characters, starting and ending with a letter or digit. It returns ""
// when s is valid, else the message of a field violation.
func ValidateDisplayName(s string) string {
	if s == "" {
		return "is required"
	}
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	n := 0
	for _, r := range s {
		n++
		if !unicode.IsPrint(r) {
			return "must contain printable characters only"
		}
	}
	if n > MaxDisplayName {
		return "must be at most 128 characters"
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if !isAlnum(first) || !isAlnum(last) {
		return "must start and end with a letter or digit"
	}
	return ""
}

func isAlnum(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
