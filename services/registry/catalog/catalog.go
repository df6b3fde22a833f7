// Package catalog ships the system type catalog of docs/API.md, "System types" as data
// (system_types.json, embedded) and loads it into the domain's Catalog.
package catalog

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"time"

	"github.com/landscape-dev/landscape/services/registry/system"
)

//go:embed system_types.json
var systemTypes []byte

type entry struct {
	ID                      string   `json:"id"`
	DisplayName             string   `json:"displayName"`
	Environments            []string `json:"environments"`
	TokenTTL                string   `json:"tokenTtl"` // a Go duration
	AssignableBeforePairing bool     `json:"assignableBeforePairing"`
}

// Load parses the embedded catalog.
func Load() (*system.Catalog, error) { return Parse(systemTypes) }

// Parse reads a catalog in the shape of system_types.json; unknown fields
// and environments are refused.
func Parse(data []byte) (*system.Catalog, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var entries []entry
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("system type catalog: %w", err)
	}
	types := make([]system.Type, 0, len(entries))
	for _, e := range entries {
		ttl, err := time.ParseDuration(e.TokenTTL)
		if err != nil {
			return nil, fmt.Errorf("system type catalog: %s: tokenTtl: %w", e.ID, err)
		}
		for _, env := range e.Environments {
			if env != "CLOUD_FOUNDRY" && env != "KYMA" {
				return nil, fmt.Errorf("system type catalog: %s: unknown environment %q", e.ID, env)
			}
		}
		types = append(types, system.Type{
			ID: e.ID, DisplayName: e.DisplayName, Environments: e.Environments,
			TokenTTL: ttl, AssignableBeforePairing: e.AssignableBeforePairing,
		})
	}
	return system.NewCatalog(types)
}
