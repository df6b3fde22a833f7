package formations

import (
	"math/rand/v2"
	"time"

	"github.com/landscape-dev/landscape/pkg/resource"
)

// NotificationType is the "type" of a webhook notification.
type NotificationType string

// The notification types of docs/API.md, "Formation integration".
const (
	NotifyAssignmentCreated NotificationType = "assignment.created"
	NotifyAssignmentDeleted NotificationType = "assignment.deleted"
	NotifyPeersChanged      NotificationType = "peers.changed"
)

// MaxRounds bounds the peers.changed notifications that one change can
// set off through configuration answers.
const MaxRounds = 10

// UrgentLead is how far ahead of the other notifications due at the same
// time an urgent one (a member's own notification, whose answer decides
// its READY) is put in line.
const UrgentLead = 10 * time.Second

// Delivery is the notification owed to one system about one formation.
// At most one is pending per (formation, system): a newer one replaces
// one not yet answered, and since every notification carries the whole
// current state, the receiver loses nothing. ID is the webhook-id, the
// same on every attempt and after a crash.
type Delivery struct {
	ID       string           `json:"id"`
	Type     NotificationType `json:"type"`
	SystemID string           `json:"system"`
	// The formation as it was when the notification was made (it may be
	// gone when the notification is sent).
	FormationID   string      `json:"formation"`
	FormationType string      `json:"formationType"`
	Environment   Environment `json:"environment,omitempty"`
	Round         int         `json:"round,omitempty"`
	Attempts      int         `json:"attempts,omitempty"`
	First         time.Time   `json:"first,omitzero"` // the first attempt
	Due           time.Time   `json:"due"`
	// Awaiting: the system answered 202; Due is the callback deadline.
	Awaiting bool `json:"awaiting,omitempty"`
	// Reported: a status callback came while this notification was not
	// (yet) awaiting one, e.g. before its 202 answer was recorded; a 202
	// then needs no further callback.
	Reported  bool   `json:"reported,omitempty"`
	LastError string `json:"lastError,omitempty"`
	// Cause is the id of the event committed with the change that made
	// the notification (set by the repository): what the assignment's
	// state changes after an answer name as causedby.
	Cause string `json:"cause,omitempty"`
	// Traceparent is the trace context of that change (set by the
	// repository, empty when it was not traced): each attempt's span
	// continues it.
	Traceparent string `json:"traceparent,omitempty"`

	// Urgent (kept beside the record by the repository): the member's own
	// notification (assignment.created), or a newer one that replaced it
	// before the member answered. It stays urgent until the member's
	// answer is recorded and no notification is left pending.
	Urgent bool `json:"-"`

	// Version is the stored form as read, for the repository's guard.
	Version string `json:"-"`
}

// Claim is a delivery a worker claimed, read with what the attempt needs.
type Claim struct {
	Ref DeliveryRef
	// Delivery is nil when it is gone (answered or removed meanwhile).
	Delivery *Delivery
	// WebhookDisabled: the system's webhook answered 410 before.
	WebhookDisabled bool
	// Formation as it is when claimed (nil: gone): the notification's
	// peers are read from it.
	Formation *Formation
}

// DeliveryRef names a delivery.
type DeliveryRef struct {
	GlobalAccount, FormationID, SystemID string
}

// AssignmentName is the delivery's assignment resource name.
func (d *Delivery) AssignmentName(ga string) string {
	return AssignmentSubject(ga, d.FormationID, d.SystemID)
}

// FormationName is the delivery's formation resource name.
func (d *Delivery) FormationName(ga string) string { return resource.FormationName(ga, d.FormationID) }

// DeliveryPut writes (Next) or removes (Next nil) a delivery and its place
// in the schedule. With Expect set, the stored delivery must still be that
// version.
type DeliveryPut struct {
	Ref    DeliveryRef
	Expect string
	Next   *Delivery
	// KeepPlace: a new notification that replaces a pending one keeps
	// the earlier turn of the two, so that a member whose notification
	// keeps being replaced (its peers answering one after the other) is
	// not sent to the back of the line each time.
	KeepPlace bool
	// Urgent marks the member's own notification: it is put UrgentLead
	// ahead in line and the mark stays on the pending notification until
	// it is removed (a newer one that replaces it is urgent too).
	Urgent bool
}

// Backoff is the wait before retry n (1-based): about base·2^(n-1), ±20 %
// jitter, at most max.
func Backoff(n int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	j := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * j)
}
