package system

import (
	"strings"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

// Filter selects systems of a list: by state, by type, or both.
// Zero values select everything.
type Filter struct {
	State State
	Type  string
}

// MaxFilterLength bounds the filter string.
const MaxFilterLength = 1024

// ParseFilter reads `field = value` terms joined by AND (DESIGN 2.3):
// fields state (bare enum value) and type (a double-quoted string).
// knownType reports whether a type id is in the catalog. Any other field,
// value or syntax, or a field given twice, is INVALID_ARGUMENT on filter.
func ParseFilter(s string, knownType func(string) bool) (Filter, error) {
	var f Filter
	if len(s) > MaxFilterLength {
		return f, apperr.Invalid("filter", "must be at most 1024 characters")
	}
	toks, msg := lex(s)
	if msg != "" {
		return f, apperr.Invalid("filter", msg)
	}
	if len(toks) == 0 {
		return f, nil
	}
	seen := map[string]bool{}
	for i := 0; ; {
		if i+3 > len(toks) {
			return Filter{}, apperr.Invalid("filter", "expected `field = value`")
		}
		field, op, val := toks[i], toks[i+1], toks[i+2]
		if field.kind != tokWord || op.kind != tokEq {
			return Filter{}, apperr.Invalid("filter", "expected `field = value`")
		}
		if seen[field.text] {
			return Filter{}, apperr.Invalid("filter", "field "+field.text+" is given more than once")
		}
		seen[field.text] = true
		switch field.text {
		case "state":
			st, ok := ParseState(val.text)
			if val.kind != tokWord || !ok {
				return Filter{}, apperr.Invalid("filter", "state must be PENDING, REGISTERED or ERROR")
			}
			f.State = st
		case "type":
			if val.kind != tokString {
				return Filter{}, apperr.Invalid("filter", "type must be a double-quoted system type id")
			}
			if !knownType(val.text) {
				return Filter{}, apperr.Invalid("filter", "unknown system type")
			}
			f.Type = val.text
		default:
			return Filter{}, apperr.Invalid("filter", "unknown field; use state or type")
		}
		i += 3
		if i == len(toks) {
			return f, nil
		}
		if toks[i].kind != tokWord || toks[i].text != "AND" {
			return Filter{}, apperr.Invalid("filter", "terms must be joined by AND")
		}
		i++
	}
}

type tokKind int

const (
	tokWord tokKind = iota
	tokString
	tokEq
)

type token struct {
	kind tokKind
	text string
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// lex splits a filter into words, double-quoted strings (no escapes) and =.
func lex(s string) ([]token, string) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '=':
			toks = append(toks, token{kind: tokEq, text: "="})
			i++
		case c == '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return nil, "unterminated string"
			}
			v := s[i+1 : i+1+j]
			if strings.ContainsAny(v, "\\") {
				return nil, "escapes are not supported in strings"
			}
			toks = append(toks, token{kind: tokString, text: v})
			i += j + 2
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, token{kind: tokWord, text: s[i:j]})
			i = j
		default:
			return nil, "unexpected character"
		}
	}
	return toks, ""
}
