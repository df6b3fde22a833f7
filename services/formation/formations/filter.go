package formations

import (
	"strings"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

// Filter selects formations by state and formation type; empty fields
// match all.
type Filter struct {
	State State
	Type  string
}

// ParseFilter reads the filter syntax of DESIGN 2.3: terms `field = value`
// joined by AND, fields state (bare enum value) and formationType (a
// double-quoted string naming a catalog type). Anything else is an
// INVALID_ARGUMENT on field filter.
func ParseFilter(s string, cat *Catalog) (Filter, error) {
	var f Filter
	bad := func(why string) (Filter, error) { return Filter{}, apperr.Invalid("filter", why) }
	p := &scanner{s: s}
	if p.skip(); p.done() {
		return f, nil
	}
	seen := map[string]bool{}
	for {
		field := p.word()
		if field == "" {
			return bad("expected a field name at position " + p.at())
		}
		if p.skip(); !p.eat('=') {
			return bad("expected = after " + field)
		}
		p.skip()
		var value string
		quoted := p.peek() == '"'
		if quoted {
			v, ok := p.quoted()
			if !ok {
				return bad("unterminated string")
			}
			value = v
		} else {
			value = p.word()
			if value == "" {
				return bad("expected a value for " + field)
			}
		}
		if seen[field] {
			return bad("field " + field + " given twice")
		}
		seen[field] = true
		switch field {
		case "state":
			switch st := State(value); {
			case quoted:
				return bad("state takes a bare enum value, e.g. state = READY")
			case st == Ready || st == Pending || st == Error:
				f.State = st
			default:
				return bad("unknown state " + value)
			}
		case "formationType":
			if !quoted {
				return bad(`formationType takes a quoted string, e.g. formationType = "..."`)
			}
			if _, ok := cat.Type(value); !ok {
				return bad("unknown formation type " + value)
			}
			f.Type = value
		default:
			return bad("unknown field " + field + "; use state or formationType")
		}
		p.skip()
		if p.done() {
			return f, nil
		}
		if w := p.word(); w != "AND" {
			return bad("expected AND between terms")
		}
		if p.skip(); p.done() {
			return bad("expected a term after AND")
		}
	}
}

type scanner struct {
	s string
	i int
}

func (p *scanner) done() bool { return p.i >= len(p.s) }
func (p *scanner) at() string { return itoa(p.i + 1) }
func (p *scanner) peek() byte {
	if p.done() {
		return 0
	}
	return p.s[p.i]
}
func (p *scanner) skip() {
	for !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}
func (p *scanner) eat(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}
func (p *scanner) word() string {
	start := p.i
	for !p.done() {
		c := p.s[p.i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			p.i++
			continue
		}
		break
	}
	return p.s[start:p.i]
}
func (p *scanner) quoted() (string, bool) {
	p.i++ // opening quote
	end := strings.IndexByte(p.s[p.i:], '"')
	if end < 0 {
		return "", false
	}
	v := p.s[p.i : p.i+end]
	p.i += end + 1
	return v, true
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
