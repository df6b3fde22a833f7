package formations

import (
	"github.com/landscape-dev/landscape/pkg/filter"
)

// Filter selects formations by state and formation type; empty fields
// match all.
type Filter struct {
	State State
	Type  string
}

// ParseFilter reads a list filter (docs/API.md, "Filters and paging", pkg/filter) with the fields
// state (a bare enum value) and formationType (a double-quoted string
// naming a catalog type). Any other field, value or syntax, or a field
// given twice, is INVALID_ARGUMENT on field filter.
func ParseFilter(s string, cat *Catalog) (Filter, error) {
	terms, err := filter.Parse(s,
		filter.Enum("state", string(Ready), string(Pending), string(Error), string(Synchronizing)),
		filter.String("formationType", "formation type", func(id string) bool {
			_, ok := cat.Type(id)
			return ok
		}))
	if err != nil {
		return Filter{}, err
	}
	return Filter{State: State(terms["state"]), Type: terms["formationType"]}, nil
}
