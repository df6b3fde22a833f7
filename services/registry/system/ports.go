package system

import (
	"context"
	"errors"
	"github.com/landscape-dev/landscape/pkg/resource"
	"time"
)

// Type is one entry of the system type catalog (docs/API.md, "System types").
type Type struct {
	ID                      string
	DisplayName             string
	Environments            []string // CLOUD_FOUNDRY, KYMA
	TokenTTL                time.Duration
	AssignableBeforePairing bool
}

// Catalog is the system type catalog, in its shipped order.
type Catalog struct {
	types []Type
	byID  map[string]Type
}

// NewCatalog builds a catalog; ids must be unique and TTLs positive.
func NewCatalog(types []Type) (*Catalog, error) {
	c := &Catalog{byID: make(map[string]Type, len(types))}
	for _, t := range types {
		if !resource.ValidID(t.ID) || t.DisplayName == "" || t.TokenTTL <= 0 || len(t.Environments) == 0 {
			return nil, errors.New("system type catalog: incomplete entry " + t.ID)
		}
		if _, dup := c.byID[t.ID]; dup {
			return nil, errors.New("system type catalog: duplicate id " + t.ID)
		}
		c.byID[t.ID] = t
		c.types = append(c.types, t)
	}
	return c, nil
}

// Types returns the catalog in order.
func (c *Catalog) Types() []Type { return append([]Type(nil), c.types...) }

// Lookup finds a type by id.
func (c *Catalog) Lookup(id string) (Type, bool) {
	t, ok := c.byID[id]
	return t, ok
}

// Known reports whether id is in the catalog.
func (c *Catalog) Known(id string) bool { _, ok := c.byID[id]; return ok }

// Repository errors. Other failures are apperr errors (UNAVAILABLE, INTERNAL).
var (
	// ErrNotFound: no such system.
	ErrNotFound = errors.New("system not found")
	// ErrIDTaken: a system with that id exists.
	ErrIDTaken = errors.New("system id taken")
	// ErrNameTaken: another system of the global account has that display name.
	ErrNameTaken = errors.New("system display name taken")
	// ErrRequestTaken: the request id already names another system.
	ErrRequestTaken = errors.New("request id already used")
	// ErrQuotaExceeded: the global account holds its quota of systems.
	ErrQuotaExceeded = errors.New("system quota of the global account reached")
	// ErrRevision: the stored revision is not the expected one.
	ErrRevision = errors.New("system revision changed")
)

// Page is a page of a list.
type Page struct {
	Systems   []*System
	NextToken string
}

// Repository stores systems. Each write is one atomic step with the
// system's indexes and its event; writes of an existing system expect the
// stored revision to be s.Revision-1.
type Repository interface {
	// Create stores a new system (Revision 1) with its name index and, when
	// requestID is set, the request id for 24 hours. When quota is
	// positive and the global account already holds quota systems, it
	// stores nothing and returns ErrQuotaExceeded (checked in the same
	// atomic step, so concurrent registrations cannot overshoot).
	Create(ctx context.Context, s *System, requestID string, quota int64, ev EventKind) error
	// Get reads a system; ErrNotFound when absent.
	Get(ctx context.Context, ga, id string) (*System, error)
	// Save stores a changed system at s.Revision, moving its name and state
	// indexes from prev.
	Save(ctx context.Context, prev, s *System, ev EventKind) error
	// Delete removes the system (prev) and its indexes, emitting ev with s.
	Delete(ctx context.Context, prev, s *System, ev EventKind) error
	// List returns a page in create-time-then-name order.
	List(ctx context.Context, ga string, f Filter, pageSize int, pageToken string) (Page, error)
	// Taken reports whether a system with the id exists and whether a
	// system has the display name (case-insensitively).
	Taken(ctx context.Context, ga, id, displayName string) (idTaken, nameTaken bool, err error)
	// LookupRequest returns the system id a request id created, or "".
	LookupRequest(ctx context.Context, ga, requestID string) (string, error)
	// ApplyAssignment records that the system joined (or left) a formation
	// at the formation's revision, at most once per (system, formation,
	// revision) and never after a newer one: a stale or repeated event
	// changes nothing and returns nil. s is the new state of the system, or
	// nil when its formations do not change.
	ApplyAssignment(ctx context.Context, ga, systemID, formation string, formationRev int64, prev, s *System) error
	// WebhookSecrets reads the sealed webhook secrets of a system (nil when none).
	WebhookSecrets(ctx context.Context, ga, id string) ([]SealedSecret, error)
}

// IssuedToken is a freshly issued integration token; Secret is shown once.
type IssuedToken struct {
	Name       string
	Secret     string
	CreateTime time.Time
	ExpireTime time.Time
}

// ConsumedToken is what a consumed token was for.
type ConsumedToken struct {
	Name    string
	Subject string // the system's resource name
}

// Tokens is the token service as the registry uses it. Its errors (token
// reasons, quota, unavailability) are returned to callers unchanged.
type Tokens interface {
	Issue(ctx context.Context, subject, systemType string, ttl time.Duration, revokePrevious bool) (IssuedToken, error)
	Consume(ctx context.Context, secret string) (ConsumedToken, error)
	// Revoke revokes the subject's unused tokens: all, or only the one named.
	Revoke(ctx context.Context, subject, name string) error
}
