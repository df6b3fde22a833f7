// Package filter parses the list filters of docs/API.md, "Filters and paging": `field = value`
// terms joined by AND, enum values bare (state = PENDING), strings in
// double quotes (type = "sap-successfactors"), and for time fields the
// comparisons `>=` and `<` with an RFC 3339 time in double quotes (the
// audit trail's time >= "2026-01-01T00:00:00Z"). The caller declares its
// fields; an unknown field, value, operator or syntax, or a term given
// twice, is INVALID_ARGUMENT on field "filter".
//
// It imports only the standard library and pkg/apperr.
package filter

import (
	"strings"
	"time"

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
	// text: any non-empty double-quoted string (Text); time: >= and <
	// with an RFC 3339 time (Time).
	text, time bool
}

// Enum declares an enum field that takes one of values, bare.
func Enum(name string, values ...string) Field { return Field{Name: name, Values: values} }

// String declares a field that takes a double-quoted string accepted by
// known; what names such a string in messages (e.g. "system type").
func String(name, what string, known func(string) bool) Field {
	return Field{Name: name, Known: known, What: what}
}

// Text declares a field that takes any non-empty double-quoted string;
// what names it in messages (e.g. "resource name").
func Text(name, what string) Field { return Field{Name: name, What: what, text: true} }

// Time declares a field compared with >= and < to a double-quoted RFC 3339
// time. Its terms are keyed name+op ("time>=", "time<"), each at most once.
func Time(name string) Field { return Field{Name: name, time: true} }

// Terms are the values of the fields a filter names, by field name (by
// name+op, e.g. "time>=", for a Time field). A field the filter does not
// name is absent.
type Terms map[string]string

// TimeTerm returns the time of the term key (e.g. "time>="), which Parse
// has checked; ok is false when the filter has no such term.
func (t Terms) TimeTerm(key string) (at time.Time, ok bool) {
	v, ok := t[key]
	if !ok {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, v)
	return at, err == nil
}

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
		if name.kind != tokWord || (op.kind != tokEq && op.kind != tokCmp) {
			return nil, invalid("expected `field = value`")
		}
		f, ok := lookup(fields, name.text)
		if !ok {
			return nil, invalid("unknown field; use " + orList(names(fields)))
		}
		key := name.text
		if f.time {
			if op.text != ">=" && op.text != "<" {
				return nil, invalid(name.text + " takes >= and <, e.g. " + name.text + ` >= "2026-01-01T00:00:00Z"`)
			}
			key += op.text
		} else if op.kind != tokEq {
			return nil, invalid(name.text + " takes =")
		}
		if _, dup := terms[key]; dup {
			if f.time {
				return nil, invalid(name.text + " " + op.text + " is given more than once")
			}
			return nil, invalid("field " + name.text + " is given more than once")
		}
		if msg := f.check(val); msg != "" {
			return nil, invalid(msg)
		}
		terms[key] = val.text
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
	switch {
	case f.time:
		if v.kind != tokString {
			return f.Name + " must be a double-quoted RFC 3339 time"
		}
		if _, err := time.Parse(time.RFC3339Nano, v.text); err != nil {
			return f.Name + " must be an RFC 3339 time like 2026-01-01T00:00:00Z"
		}
		return ""
	case f.text:
		if v.kind != tokString || v.text == "" {
			return f.Name + " must be a double-quoted " + f.What
		}
		return ""
	}
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
	tokCmp // >=, >, <=, <
)

type token struct {
	kind tokKind
	text string
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// lex splits a filter into words, double-quoted strings (no escapes), =
// and the comparisons, or returns the message of a violation.
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
		case c == '<' || c == '>':
			op := s[i : i+1]
			if i+1 < len(s) && s[i+1] == '=' {
				op = s[i : i+2]
			}
			toks = append(toks, token{kind: tokCmp, text: op})
			i += len(op)
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
