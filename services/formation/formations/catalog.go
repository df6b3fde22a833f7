package formations

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
)

// FormationType is an entry of the formation type catalog.
type FormationType struct {
	ID          string      `json:"id"`
	DisplayName string      `json:"displayName"`
	Environment Environment `json:"environment"` // fixed environment, or none
	// Exclusive: a system may be in at most one formation of this type.
	Exclusive          bool     `json:"exclusive"`
	AllowedSystemTypes []string `json:"allowedSystemTypes"`
}

// Allows reports whether systems of systemType may be assigned.
func (t FormationType) Allows(systemType string) bool {
	return slices.Contains(t.AllowedSystemTypes, systemType)
}

// Catalog is the formation type catalog, in its shipped order.
type Catalog struct {
	types []FormationType
	byID  map[string]FormationType
}

//go:embed catalog.json
var catalogJSON []byte

// DefaultCatalog is the catalog of docs/API.md, "Formations", read from the embedded data.
func DefaultCatalog() *Catalog {
	c, err := ParseCatalog(catalogJSON)
	if err != nil {
		panic(err) // the embedded data is checked by a test
	}
	return c
}

// ParseCatalog reads a catalog from its JSON form.
func ParseCatalog(b []byte) (*Catalog, error) {
	var doc struct {
		FormationTypes []FormationType `json:"formationTypes"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("formation type catalog: %w", err)
	}
	c := &Catalog{byID: map[string]FormationType{}}
	for _, t := range doc.FormationTypes {
		if t.ID == "" || !t.Environment.Valid() {
			return nil, fmt.Errorf("formation type catalog: bad entry %q", t.ID)
		}
		if _, dup := c.byID[t.ID]; dup {
			return nil, fmt.Errorf("formation type catalog: duplicate %q", t.ID)
		}
		c.types = append(c.types, t)
		c.byID[t.ID] = t
	}
	return c, nil
}

// Types lists the catalog.
func (c *Catalog) Types() []FormationType { return slices.Clone(c.types) }

// Type returns the formation type with id.
func (c *Catalog) Type(id string) (FormationType, bool) {
	t, ok := c.byID[id]
	return t, ok
}
