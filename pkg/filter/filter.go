// Package filter parses the list filters of DESIGN 2.3: `field = value`
// terms joined by AND, enum values bare (state = PENDING), strings in
// double quotes (type = "sap-successfactors"). The caller declares its
// fields; an unknown field, value or syntax, or a field given twice, is
// INVALID_ARGUMENT on field "filter".
//
// It imports only the standard library and pkg/apperr.
package filter

import (
	"strings"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

// MaxLength bounds a filter string, in bytes.
const MaxLength = 1024

// Field is a field a filter may name: an enum (Values set) or a string
// (Known set).
type Field struct {
	// Name is the field as written in the filter, e.g. "state".
	Name string
	// Values are the bare enum values the field takes.
	Values []string
	// Known reports whether a double-quoted string value is accepted.
	Known func(string) bool
	// What names a string value in messages, e.g. "system type".
	What string
}

// Enum declares an enum field that takes one of values, bare.
func Enum(name string, values ...string) Field { return Field{Name: name, Values: values} }

// String declares a field that takes a double-quoted string accepted by
// known; what names such a string in messages (e.g. "system type").
func String(name, what string, known func(string) bool) Field {
	return Field{Name: name, Known: known, What: what}
}

// Terms are the values of the fields a filter names, by field name. A
// field the filter does not name is absent.
type Terms map[string]string

// Parse reads s against fields. An empty or blank s gives no terms.
func Parse(s string, fields ...Field) (Terms, error) {
	if len(s) > MaxLength {
		return nil, invalid("must be at most 1024 characters")
	}
	toks, msg := lex(s)
	if msg != "" {
		return nil, invalid(msg)
	}
	terms := Terms{}
	if len(toks) == 0 {
		return terms, nil
	}
	for i := 0; ; {
		if i+3 > len(toks) {
			return nil, invalid("expected `field = value`")
		}
		name, op, val := toks[i], toks[i+1], toks[i+2]
		if name.kind != tokWord || op.kind != tokEq {
			return nil, invalid("expected `field = value`")
		}
		if _, dup := terms[name.text]; dup {
			return nil, invalid("field " + name.text + " is given more than once")
		}
		f, ok := lookup(fields, name.text)
		if !ok {
			return nil, invalid("unknown field; use " + orList(names(fields)))
		}
		if msg := f.check(val); msg != "" {
			return nil, invalid(msg)
		}
		terms[name.text] = val.text
		i += 3
		if i == len(toks) {
			return terms, nil
		}
		if toks[i].kind != tokWord || toks[i].text != "AND" {
			return nil, invalid("terms must be joined by AND")
		}
		i++
	}
}

func invalid(msg string) error { return apperr.Invalid("filter", msg) }

func lookup(fields []Field, name string) (Field, bool) {
	for _, f := range fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

func names(fields []Field) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Name
	}
	return out
}

// orList joins words as "a", "a or b", "a, b or c".
func orList(words []string) string {
	if len(words) <= 1 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// check returns "" when v is a value of f, else the violation message.
func (f Field) check(v token) string {
	if f.Known == nil {
		if v.kind == tokWord {
			for _, e := range f.Values {
				if v.text == e {
					return ""
				}
			}
		}
		return f.Name + " must be " + orList(f.Values)
	}
	if v.kind != tokString {
		return f.Name + " must be a double-quoted " + f.What + " id"
	}
	if !f.Known(v.text) {
		return "unknown " + f.What
	}
	return ""
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

// lex splits a filter into words, double-quoted strings (no escapes) and
// =, or returns the message of a violation.
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
			if strings.ContainsRune(v, '\\') {
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
