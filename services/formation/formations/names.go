package formations

import (
	"crypto/rand"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

var idPattern = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidID reports whether id follows the id pattern of DESIGN 1.1.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// NewID returns a generated id that follows the id pattern: "f" and 15
// random characters of [a-z0-9].
func NewID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	out := make([]byte, 16)
	out[0] = 'f'
	for i := 1; i < 16; i++ {
		out[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(out)
}

// CheckDisplayName applies the rules of DESIGN 1.3: 1–128 printable
// characters, starting and ending with a letter or digit.
func CheckDisplayName(field, name string) error {
	if name == "" {
		return apperr.Invalid(field, "required")
	}
	if !utf8.ValidString(name) {
		return apperr.Invalid(field, "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(name); n > 128 {
		return apperr.Invalid(field, "at most 128 characters")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return apperr.Invalid(field, "printable characters only")
		}
	}
	first, _ := utf8.DecodeRuneInString(name)
	last, _ := utf8.DecodeLastRuneInString(name)
	if !isAlnum(first) || !isAlnum(last) {
		return apperr.Invalid(field, "must start and end with a letter or digit")
	}
	return nil
}

func isAlnum(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// ParseParent reads globalAccounts/{ga}.
func ParseParent(field, s string) (ga string, err error) {
	rest, ok := strings.CutPrefix(s, "globalAccounts/")
	if !ok || !ValidID(rest) {
		return "", apperr.Invalid(field, "must be globalAccounts/{globalAccount}")
	}
	return rest, nil
}

// ParseFormationName reads globalAccounts/{ga}/formations/{id}.
func ParseFormationName(field, s string) (ga, id string, err error) {
	ga, id, ok := parseChild(s, "formations")
	if !ok {
		return "", "", apperr.Invalid(field, "must be globalAccounts/{globalAccount}/formations/{formation}")
	}
	return ga, id, nil
}

// ParseSystemName reads globalAccounts/{ga}/systems/{id}.
func ParseSystemName(field, s string) (ga, id string, err error) {
	ga, id, ok := parseChild(s, "systems")
	if !ok {
		return "", "", apperr.Invalid(field, "must be globalAccounts/{globalAccount}/systems/{system}")
	}
	return ga, id, nil
}

func parseChild(s, collection string) (ga, id string, ok bool) {
	parts := strings.Split(s, "/")
	if len(parts) != 4 || parts[0] != "globalAccounts" || parts[2] != collection ||
		!ValidID(parts[1]) || !ValidID(parts[3]) {
		return "", "", false
	}
	return parts[1], parts[3], true
}

// GlobalAccountOf returns the global account segment of a resource name
// globalAccounts/{ga}/..., or "" when s does not start that way. Handlers
// authorize on it before validating the rest of the name.
func GlobalAccountOf(s string) string {
	rest, ok := strings.CutPrefix(s, "globalAccounts/")
	if !ok {
		return ""
	}
	ga, _, _ := strings.Cut(rest, "/")
	return ga
}
