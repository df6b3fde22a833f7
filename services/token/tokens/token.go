// Package tokens is the domain of integration tokens (docs/API.md, "Integration tokens"): the
// secret's format and checksum, the token entity and its lifecycle
// (UNUSED → CONSUMED | REVOKED), the rules of issue, consume and revoke,
// and the application service that applies them through a Repository.
//
// It imports no transport and no storage: the gRPC adapter (grpcapi) and
// the Redis adapter (redisstore) depend on it, not the other way round.
package tokens

import (
	"strings"
	"time"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/resource"
)

// State is a token's lifecycle state.
type State int

// The states. A token leaves StateUnused at most once.
const (
	StateUnspecified State = iota
	StateUnused
	StateConsumed
	StateRevoked
)

// String is the state's name, as stored beside the record.
func (s State) String() string {
	switch s {
	case StateUnused:
		return "UNUSED"
	case StateConsumed:
		return "CONSUMED"
	case StateRevoked:
		return "REVOKED"
	}
	return "STATE_UNSPECIFIED"
}

// Token is what the service knows of an integration token. It never holds
// the secret nor its hash.
type Token struct {
	Name          string // {subject}/integrationTokens/{id}
	Subject       string // globalAccounts/{ga}/systems/{system}
	GlobalAccount string
	SystemType    string
	State         State
	CreateTime    time.Time
	ExpireTime    time.Time
	EndTime       time.Time // when consumed or revoked
	Revision      int64     // 1 at issue, +1 per change
}

// Expired reports whether the token's validity has ended at now.
func (t Token) Expired(now time.Time) bool { return !now.Before(t.ExpireTime) }

// CheckConsumable returns nil when the token may be consumed at now, else
// the contract reason: TOKEN_ALREADY_USED, TOKEN_REVOKED or TOKEN_EXPIRED
// (a used or revoked token answers so even after its expiry).
func (t Token) CheckConsumable(now time.Time) error {
	switch {
	case t.State == StateConsumed:
		return apperr.New(apperr.TokenAlreadyUsed, "the integration token has already been used", "integrationToken", t.Name)
	case t.State == StateRevoked:
		return apperr.New(apperr.TokenRevoked, "the integration token has been revoked; get a new one", "integrationToken", t.Name)
	case t.State != StateUnused:
		return apperr.Internalf("tokens: token %s in state %v", t.Name, t.State)
	case t.Expired(now):
		return apperr.New(apperr.TokenExpired, "the integration token has expired; get a new one", "integrationToken", t.Name)
	}
	return nil
}

// Consumed returns the token used up at now, one revision later.
func (t Token) Consumed(now time.Time) Token { return t.end(StateConsumed, now) }

// Revoked returns the token revoked at now, one revision later.
func (t Token) Revoked(now time.Time) Token { return t.end(StateRevoked, now) }

func (t Token) end(s State, now time.Time) Token {
	t.State = s
	t.EndTime = now
	t.Revision++
	return t
}

// Revocable reports whether RevokeTokens at now changes the token: it is
// unused and not yet expired (an expired token keeps answering
// TOKEN_EXPIRED).
func (t Token) Revocable(now time.Time) bool { return t.State == StateUnused && !t.Expired(now) }

// Subject is the resource a token is issued for: a system,
// globalAccounts/{ga}/systems/{system}.
type Subject struct {
	Name          string
	GlobalAccount string
	System        string
}

// ParseSubject parses a system name; any other shape is INVALID_ARGUMENT
// on field.
func ParseSubject(field, s string) (Subject, error) {
	ga, sys, err := resource.ParseSystemName(field, s)
	if err != nil {
		return Subject{}, err
	}
	return Subject{Name: s, GlobalAccount: ga, System: sys}, nil
}

// TokenName is the public resource name of a token of the subject.
func (s Subject) TokenName(id string) string { return s.Name + "/integrationTokens/" + id }

// OwnsTokenName reports whether name is a well-formed token name of s.
func (s Subject) OwnsTokenName(name string) bool {
	id, ok := strings.CutPrefix(name, s.Name+"/integrationTokens/")
	return ok && resource.ValidID(id)
}

// ValidSystemType reports whether id has the shape of a system type id
// (the catalog is the registry's; the token service only counts per type).
func ValidSystemType(id string) bool { return resource.ValidID(id) }
