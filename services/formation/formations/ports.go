package formations

import (
	"context"
	"errors"
	"time"
)

// SystemState is a system's lifecycle state as the formation service sees it.
type SystemState string

// The system states of DESIGN 1.3, and Deregistered for a system whose
// deregistration event was applied.
const (
	SystemPending      SystemState = "PENDING"
	SystemRegistered   SystemState = "REGISTERED"
	SystemError        SystemState = "ERROR"
	SystemDeregistered SystemState = "DEREGISTERED"
)

// System is what the directory tells about a system.
type System struct {
	GlobalAccount string
	ID            string
	Type          string
	State         SystemState
	Revision      int64 // the system's revision (its etag); 0 when unknown
}

// SystemType is what the directory tells about a system type.
type SystemType struct {
	ID                      string
	Environments            []Environment
	AssignableBeforePairing bool
}

// Directory reads systems and system types from their owner (the
// registry). GetSystem returns an apperr SYSTEM_NOT_FOUND error for a
// system that does not exist, and passes an unreachable registry through
// as an error the transport maps to UNAVAILABLE.
type Directory interface {
	GetSystem(ctx context.Context, ga, id string) (System, error)
	SystemType(ctx context.Context, id string) (SystemType, bool, error)
}

// KnownSystem is the last state of a system learnt from the registry's
// events, kept by the repository. Version changes with every write (also
// on assignment), so a step can require it unchanged.
type KnownSystem struct {
	Revision int64
	State    SystemState // "" when no event was applied yet
	Version  string      // opaque; "" when nothing is stored
}

// EventKind names a formation event of DESIGN 3.4.
type EventKind string

// The formation context's events.
const (
	FormationCreated       EventKind = "formation.created"
	FormationUpdated       EventKind = "formation.updated"
	FormationDeleted       EventKind = "formation.deleted"
	FormationStateChanged  EventKind = "formation.state_changed"
	AssignmentCreated      EventKind = "assignment.created"
	AssignmentDeleted      EventKind = "assignment.deleted"
	AssignmentStateChanged EventKind = "assignment.state_changed"
)

// Event is one change to publish. Revision is the formation's revision
// after that change: each event of a step has its own, increasing one.
type Event struct {
	Kind          EventKind
	Revision      int64
	Formation     *Formation // the formation after the step (before deletion for formation.deleted)
	Assignment    Assignment // for assignment events
	PreviousState State      // for state_changed events
	Time          time.Time
}

// Put replaces a formation: Prev nil creates it, Next nil deletes it. The
// repository requires Prev's revision to be current (0 when creating) and
// keeps every index in step.
type Put struct {
	Prev, Next *Formation
}

// Guard requires the repository's KnownSystem of a system to still be at
// Expect.Version, and writes Set with a new version.
type Guard struct {
	GlobalAccount string
	SystemID      string
	Expect        KnownSystem
	Set           KnownSystem
}

// Step is one atomic change: formations, guard and events commit together
// or not at all.
type Step struct {
	GlobalAccount string
	Puts          []Put
	Guard         *Guard
	Events        []Event
}

// ListQuery asks for one page.
type ListQuery struct {
	Filter    Filter
	PageSize  int
	PageToken string
}

// Repository stores formations.
//
// Commit returns nil; ErrConflict when a revision or the guard moved (the
// caller reads again and retries); an apperr FORMATION_ID_TAKEN, FORMATION_NAME_TAKEN or
// SYSTEM_IN_EXCLUSIVE_FORMATION error when a unique index is taken; or an
// UNAVAILABLE error.
type Repository interface {
	Get(ctx context.Context, ga, id string) (*Formation, error) // FORMATION_NOT_FOUND when missing
	List(ctx context.Context, ga string, q ListQuery) ([]*Formation, string, error)
	ExclusiveHolder(ctx context.Context, ga, formationType, systemID string) (string, error)
	KnownSystem(ctx context.Context, ga, systemID string) (KnownSystem, error)
	// SystemView reads KnownSystem and the system's formations together.
	SystemView(ctx context.Context, ga, systemID string) (KnownSystem, []*Formation, error)
	Commit(ctx context.Context, s Step) error
}

// ErrConflict is the error of Repository.Commit that callers handle
// themselves: read again and retry.
var ErrConflict = errors.New("formations: concurrent change")
