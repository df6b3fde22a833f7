package formations

import (
	"context"
	"errors"
	"time"
)

// SystemState is a system's lifecycle state as the formation service sees it.
type SystemState string

// The system states of docs/API.md, "System lifecycle", and Deregistered for a system whose
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
	BaseURL       string
	ExternalID    string
	// Webhook is the system's webhook, or nil.
	Webhook *SystemWebhook
}

// SystemWebhook is where and how a system is notified.
type SystemWebhook struct {
	URL   string
	Async bool // ASYNC_CALLBACK: the system answers 202 and reports later
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
	// WebhookSecrets returns the secrets that sign the system's webhook
	// requests, current first; none when it has no webhook.
	WebhookSecrets(ctx context.Context, ga, id string) ([]string, error)
}

// KnownSystem is the last state of a system learnt from the registry's
// events, kept by the repository. Version changes with every write (also
// on assignment), so a step can require it unchanged.
type KnownSystem struct {
	Revision int64
	State    SystemState // "" when no event was applied yet
	Version  string      // opaque; "" when nothing is stored
}

// EventKind names a formation event of docs/API.md, "Events".
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
	// Exclusive: the formation's type is exclusive, so the repository
	// holds each system of Next in no other formation of the type, as a
	// unique index checked in the same atomic step (ErrExclusive). The
	// service sets it from the catalog.
	Exclusive bool
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
	// Quota, when positive, is the most formations the global account may
	// hold: a Put that creates a formation fails with QUOTA_EXCEEDED when
	// it already holds that many (checked in the same atomic step).
	Quota  int64
	Puts   []Put
	Guard  *Guard
	Events []Event
	// Deliveries are written with the change that caused them.
	Deliveries []DeliveryPut
	// Released are claimed deliveries whose attempt this step records:
	// their claims end (a delivery still pending is then due at its turn).
	Released []DeliveryRef
	// DisableWebhooks and EnableWebhooks mark systems whose webhook
	// answered 410 Gone, and clear the mark (resynchronize).
	DisableWebhooks, EnableWebhooks []string
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
// caller reads again and retries); ErrIDTaken, ErrNameTaken, ErrExclusive
// or ErrQuotaExceeded when a unique index or the quota refuses the step;
// or an UNAVAILABLE error. The service turns these into the API's errors.
type Repository interface {
	Get(ctx context.Context, ga, id string) (*Formation, error) // ErrNotFound when missing
	List(ctx context.Context, ga string, q ListQuery) ([]*Formation, string, error)
	ExclusiveHolder(ctx context.Context, ga, formationType, systemID string) (string, error)
	KnownSystem(ctx context.Context, ga, systemID string) (KnownSystem, error)
	// SystemView reads KnownSystem and the system's formations together.
	SystemView(ctx context.Context, ga, systemID string) (KnownSystem, []*Formation, error)
	Commit(ctx context.Context, s Step) error

	// Pending reads a pending delivery (nil: none) and its formation (nil:
	// gone) together.
	Pending(ctx context.Context, ref DeliveryRef) (*Delivery, *Formation, error)
	// ClaimDue takes up to max deliveries due at now, urgent ones first,
	// and holds each (formation, system) out of reach of other claimers
	// until its claim is released or now+lease, atomically: two workers
	// never hold one at once, and a newer notification written meanwhile
	// waits for the release. A worker that dies leaves its deliveries to
	// be claimed again after the lease.
	ClaimDue(ctx context.Context, now time.Time, lease time.Duration, max int) ([]Claim, error)
	// Reschedule ends a claim without an attempt: the delivery is due
	// again at at (or earlier, if a newer one is due earlier).
	Reschedule(ctx context.Context, ref DeliveryRef, at time.Time) error
	// Release ends a claim whose delivery was gone.
	Release(ctx context.Context, ref DeliveryRef) error
	// FirstCallback records a status callback's webhook-id for ttl and
	// reports whether it was new (false: a replay).
	FirstCallback(ctx context.Context, ga, webhookID string, ttl time.Duration) (bool, error)
}

// Repository errors: the repository reports what it found, the service
// decides what the caller is told. Other failures are apperr errors
// (UNAVAILABLE, INTERNAL).
var (
	// ErrConflict: a revision or the guard moved; read again and retry.
	ErrConflict = errors.New("formations: concurrent change")
	// ErrNotFound: no such formation.
	ErrNotFound = errors.New("formations: formation not found")
	// ErrIDTaken: a formation with the id of a created one exists.
	ErrIDTaken = errors.New("formations: formation id taken")
	// ErrNameTaken: another formation of the global account has the display name.
	ErrNameTaken = errors.New("formations: formation display name taken")
	// ErrExclusive: a system that joins a formation of an exclusive type
	// is in another formation of that type.
	ErrExclusive = errors.New("formations: system in another formation of the exclusive type")
	// ErrQuotaExceeded: the global account holds its quota of formations.
	ErrQuotaExceeded = errors.New("formations: formation quota of the global account reached")
)
