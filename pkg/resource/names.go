package resource

import (
	"strings"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

// The collections of a global account.
const (
	Systems    = "systems"
	Formations = "formations"
)

// SystemName builds globalAccounts/{ga}/systems/{id}.
func SystemName(ga, id string) string { return "globalAccounts/" + ga + "/systems/" + id }

// FormationName builds globalAccounts/{ga}/formations/{id}.
func FormationName(ga, id string) string { return "globalAccounts/" + ga + "/formations/" + id }

// ParseParent reads globalAccounts/{ga}; anything else is INVALID_ARGUMENT
// on field.
func ParseParent(field, name string) (ga string, err error) {
	ga, ok := strings.CutPrefix(name, "globalAccounts/")
	if !ok || !ValidID(ga) {
		return "", apperr.Invalid(field, "must be globalAccounts/{globalAccount}")
	}
	return ga, nil
}

// ParseSystemName reads globalAccounts/{ga}/systems/{id}; anything else is
// INVALID_ARGUMENT on field.
func ParseSystemName(field, name string) (ga, id string, err error) {
	ga, id, ok := parseChild(name, Systems)
	if !ok {
		return "", "", apperr.Invalid(field, "must be globalAccounts/{globalAccount}/systems/{system}")
	}
	return ga, id, nil
}

// ParseFormationName reads globalAccounts/{ga}/formations/{id}; anything
// else is INVALID_ARGUMENT on field.
func ParseFormationName(field, name string) (ga, id string, err error) {
	ga, id, ok := parseChild(name, Formations)
	if !ok {
		return "", "", apperr.Invalid(field, "must be globalAccounts/{globalAccount}/formations/{formation}")
	}
	return ga, id, nil
}

func parseChild(name, collection string) (ga, id string, ok bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "globalAccounts" || parts[2] != collection ||
		!ValidID(parts[1]) || !ValidID(parts[3]) {
		return "", "", false
	}
	return parts[1], parts[3], true
}

// GlobalAccountOf returns the global account segment of a resource name
// globalAccounts/{ga}/..., or "" when name does not start that way. It does
// not validate the segment: handlers authorize on it before validating the
// rest of the name.
func GlobalAccountOf(name string) string {
	rest, ok := strings.CutPrefix(name, "globalAccounts/")
	if !ok {
		return ""
	}
	ga, _, _ := strings.Cut(rest, "/")
	return ga
}
