// Package system is the registry's domain: the System entity, its state
// machine, the rules for pairing input, the list filter, and the
// application service that drives registration and pairing
// through a Repository and a Tokens port declared here.
//
// It imports only the standard library and the transport-free pkg/apperr,
// pkg/resource (ids, display names, resource names, pages) and pkg/filter.
package system

import (
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/landscape-dev/landscape/pkg/resource"
)

// State is the lifecycle state of a system (docs/API.md, "System lifecycle").
type State int

// The states. StateUnspecified is never stored.
const (
	StateUnspecified State = iota
	Pending
	Registered
	Error
)

// String is the contract name of the state (PENDING, REGISTERED, ERROR).
func (s State) String() string {
	switch s {
	case Pending:
		return "PENDING"
	case Registered:
		return "REGISTERED"
	case Error:
		return "ERROR"
	}
	return "STATE_UNSPECIFIED"
}

// ParseState reads a contract state name.
func ParseState(s string) (State, bool) {
	switch s {
	case "PENDING":
		return Pending, true
	case "REGISTERED":
		return Registered, true
	case "ERROR":
		return Error, true
	}
	return StateUnspecified, false
}

// Limits of the contract.
const (
	MaxDescription    = 4096
	MaxBaseURL        = 2048
	MaxExternalID     = 256
	MaxStateMessage   = 1024
	MaxRequestID      = 64
	RequestIDLifetime = 24 * time.Hour
)

// System is a system of a global account.
type System struct {
	GlobalAccount string
	ID            string
	DisplayName   string
	Description   string
	Type          string
	State         State
	StateMessage  string
	BaseURL       string
	ExternalID    string
	Formations    []string // formation resource names, sorted
	CreateTime    time.Time
	UpdateTime    time.Time
	RegisterTime  time.Time
	// Webhook is the webhook registered at pairing, or nil.
	Webhook *Webhook
	// WebhookSecrets, when not nil, replaces the stored sealed secrets in
	// the next Save (pairing, rotation). It is never read back into a
	// System: Repository.WebhookSecrets reads them.
	WebhookSecrets []SealedSecret
	// WebhookSecret is a new secret in plain text, only on the System that
	// PairSystem returns; never stored.
	WebhookSecret string
	// Revision starts at 1 and grows by one with every change; it is the
	// etag (in decimal) and the revision of the system's events.
	Revision int64
}

// Name is the resource name globalAccounts/{ga}/systems/{id}.
func (s *System) Name() string { return resource.SystemName(s.GlobalAccount, s.ID) }

// Etag is the revision in decimal.
func (s *System) Etag() string { return strconv.FormatInt(s.Revision, 10) }

// Clone returns a deep copy.
func (s *System) Clone() *System {
	c := *s
	c.Formations = append([]string(nil), s.Formations...)
	c.WebhookSecrets, c.WebhookSecret = nil, ""
	if s.Webhook != nil {
		w := *s.Webhook
		c.Webhook = &w
	}
	return &c
}

// next returns a copy of s as the start of its next revision: the revision
// one higher and the update time now.
func (s *System) next(now time.Time) *System {
	c := s.Clone()
	c.Revision++
	c.UpdateTime = now
	return c
}

// SystemName builds globalAccounts/{ga}/systems/{id}. It is
// resource.SystemName, kept here for callers outside this module
// (services/landscape/cmd/loadgen).
func SystemName(ga, id string) string { return resource.SystemName(ga, id) }

// ValidateDescription checks a description: valid UTF-8, at most 4096
// characters, no control or bidirectional formatting characters.
func ValidateDescription(s string) string {
	return resource.ValidateText(s, MaxDescription)
}

// ValidRequestID reports whether s is 1–64 of [A-Za-z0-9-].
func ValidRequestID(s string) bool {
	if s == "" || len(s) > MaxRequestID {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidateBaseURL checks an absolute http(s) URL of at most 2048 bytes,
// without user information (user:password@).
func ValidateBaseURL(s string) string {
	if s == "" {
		return "is required"
	}
	if len(s) > MaxBaseURL {
		return "must be at most 2048 characters"
	}
	for _, r := range s {
		if r <= ' ' || unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return "must not contain spaces, control or bidirectional formatting characters"
		}
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "must be an absolute http or https URL"
	}
	if u.User != nil {
		// A user name or password in the URL would be stored, returned
		// and published on every event of the system.
		return "must not contain a user name or password"
	}
	return ""
}

// ValidateExternalID checks an optional external id: at most 256 printable
// characters.
func ValidateExternalID(s string) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return "must contain printable characters only"
	}
	if utf8.RuneCountInString(s) > MaxExternalID {
		return "must be at most 256 characters"
	}
	return ""
}

// CutMessage makes a reported failure message safe to store and show and
// cuts it to 1024 characters (runes): invalid UTF-8 is replaced, control
// characters become spaces and bidirectional formatting characters are
// dropped (resource.CleanText). A report is never refused for its text.
func CutMessage(s string) string {
	s = resource.CleanText(s)
	if utf8.RuneCountInString(s) <= MaxStateMessage {
		return s
	}
	n := 0
	for i := range s {
		if n == MaxStateMessage {
			return s[:i]
		}
		n++
	}
	return s
}

// EventKind names a registry event (docs/API.md, "Events").
type EventKind string

// The registry's events.
const (
	EventCreated               EventKind = "system.created"
	EventUpdated               EventKind = "system.updated"
	EventRegistered            EventKind = "system.registered"
	EventRegistrationFailed    EventKind = "system.registration_failed"
	EventRegistrationRestarted EventKind = "system.registration_restarted"
	EventDeregistered          EventKind = "system.deregistered"
)
