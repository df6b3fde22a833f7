// Package pbenum maps a domain enumeration to its proto enum and back with
// one table, so that the two directions of a converter cannot disagree.
package pbenum

import "fmt"

// Map is a one-to-one table between domain values D and proto enum values
// P. A value that is not in the table maps to the other side's zero value:
// a proto enum's 0 (its _UNSPECIFIED), and the domain's "unspecified".
type Map[D, P comparable] struct {
	rows []row[D, P]
}

type row[D, P comparable] struct {
	d D
	p P
}

// New returns the table of pairs. It panics when two domain values map to
// one proto value (the table could not be read backwards); the tables are
// package variables, so that shows at start.
func New[D, P comparable](pairs map[D]P) Map[D, P] {
	m := Map[D, P]{rows: make([]row[D, P], 0, len(pairs))}
	for d, p := range pairs {
		for _, r := range m.rows {
			if r.p == p {
				panic(fmt.Sprintf("pbenum: %v and %v both map to %v", r.d, d, p))
			}
		}
		m.rows = append(m.rows, row[D, P]{d, p})
	}
	return m
}

// Proto returns the proto value of d (P's zero value when d has none).
func (m Map[D, P]) Proto(d D) P {
	for _, r := range m.rows {
		if r.d == d {
			return r.p
		}
	}
	var zero P
	return zero
}

// Domain returns the domain value of p (D's zero value when p has none).
func (m Map[D, P]) Domain(p P) D {
	d, _ := m.Lookup(p)
	return d
}

// Lookup returns the domain value of p and whether the table has one.
func (m Map[D, P]) Lookup(p P) (D, bool) {
	for _, r := range m.rows {
		if r.p == p {
			return r.d, true
		}
	}
	var zero D
	return zero, false
}
