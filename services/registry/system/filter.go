package system

import (
	"github.com/landscape-dev/landscape/pkg/filter"
)

// Filter selects systems of a list: by state, by type, or both.
// Zero values select everything.
type Filter struct {
	State State
	Type  string
}

// ParseFilter reads a list filter (docs/API.md, "Filters and paging", pkg/filter) with the fields
// state (a bare enum value) and type (a double-quoted system type id).
// knownType reports whether a type id is in the catalog. Any other field,
// value or syntax, or a field given twice, is INVALID_ARGUMENT on filter.
func ParseFilter(s string, knownType func(string) bool) (Filter, error) {
	terms, err := filter.Parse(s,
		filter.Enum("state", Pending.String(), Registered.String(), Error.String()),
		filter.String("type", "system type", knownType))
	if err != nil {
		return Filter{}, err
	}
	var f Filter
	if v, ok := terms["state"]; ok {
		f.State, _ = ParseState(v)
	}
	f.Type = terms["type"]
	return f, nil
}
