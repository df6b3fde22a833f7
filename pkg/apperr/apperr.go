// Package apperr holds the transport-neutral errors of Landscape: a reason
// from the API contract (docs/API.md, "Reasons"), a message that is safe to show to a
// caller, metadata naming the resource and, for invalid input, the fields
// that were wrong. Domain code returns these; the gRPC server maps them to a
// status exactly once (package grpcserver). apperr imports no transport.
package apperr

import (
	"errors"
	"fmt"
)

// Reason is a machine-readable error reason of the API contract.
type Reason string

// The reasons of docs/API.md, "Reasons".
const (
	InvalidArgument            Reason = "INVALID_ARGUMENT"
	SystemTypeUnknown          Reason = "SYSTEM_TYPE_UNKNOWN"
	FormationTypeUnknown       Reason = "FORMATION_TYPE_UNKNOWN"
	SystemNotFound             Reason = "SYSTEM_NOT_FOUND"
	FormationNotFound          Reason = "FORMATION_NOT_FOUND"
	SystemNotAssigned          Reason = "SYSTEM_NOT_ASSIGNED"
	SystemNameTaken            Reason = "SYSTEM_NAME_TAKEN"
	FormationNameTaken         Reason = "FORMATION_NAME_TAKEN"
	SystemIDTaken              Reason = "SYSTEM_ID_TAKEN"
	FormationIDTaken           Reason = "FORMATION_ID_TAKEN"
	SystemAlreadyAssigned      Reason = "SYSTEM_ALREADY_ASSIGNED"
	SystemAlreadyRegistered    Reason = "SYSTEM_ALREADY_REGISTERED"
	SystemInFormation          Reason = "SYSTEM_IN_FORMATION"
	SystemTypeMismatch         Reason = "SYSTEM_TYPE_MISMATCH"
	SystemNotPaired            Reason = "SYSTEM_NOT_PAIRED"
	SystemInError              Reason = "SYSTEM_IN_ERROR"
	EnvironmentNotSupported    Reason = "ENVIRONMENT_NOT_SUPPORTED"
	SystemInExclusiveFormation Reason = "SYSTEM_IN_EXCLUSIVE_FORMATION"
	TokenInvalid               Reason = "TOKEN_INVALID"
	TokenExpired               Reason = "TOKEN_EXPIRED"
	TokenAlreadyUsed           Reason = "TOKEN_ALREADY_USED"
	TokenRevoked               Reason = "TOKEN_REVOKED"
	TokenQuotaExceeded         Reason = "TOKEN_QUOTA_EXCEEDED"
	// QuotaExceeded: the global account holds as many systems or
	// formations as its quota allows.
	QuotaExceeded Reason = "QUOTA_EXCEEDED"
	RateLimited   Reason = "RATE_LIMITED"
	// CursorExpired: a watch cursor older than the event streams keep.
	CursorExpired    Reason = "CURSOR_EXPIRED"
	EtagMismatch     Reason = "ETAG_MISMATCH"
	Unauthenticated  Reason = "UNAUTHENTICATED"
	PermissionDenied Reason = "PERMISSION_DENIED"
	Unavailable      Reason = "UNAVAILABLE"
	// Internal is never sent with its cause: callers see a short message.
	Internal Reason = "INTERNAL"
	// Gateway refusals before any service is called.
	MalformedRequest Reason = "MALFORMED_REQUEST"
	RequestTooLarge  Reason = "REQUEST_TOO_LARGE"
	RouteNotFound    Reason = "ROUTE_NOT_FOUND"
)

// Reasons lists every reason, for tables and tests.
var Reasons = []Reason{
	InvalidArgument, SystemTypeUnknown, FormationTypeUnknown, SystemNotFound,
	FormationNotFound, SystemNotAssigned, SystemNameTaken, FormationNameTaken,
	SystemIDTaken, FormationIDTaken, SystemAlreadyAssigned, SystemAlreadyRegistered,
	SystemInFormation, SystemTypeMismatch, SystemNotPaired, SystemInError,
	EnvironmentNotSupported, SystemInExclusiveFormation, TokenInvalid, TokenExpired,
	TokenAlreadyUsed, TokenRevoked, TokenQuotaExceeded, QuotaExceeded, RateLimited, CursorExpired, EtagMismatch,
	Unauthenticated, PermissionDenied, Unavailable, Internal, MalformedRequest,
	RequestTooLarge, RouteNotFound,
}

// FieldViolation names one request field that was wrong and why. Field uses
// the lowerCamelCase JSON path (e.g. "system.displayName").
type FieldViolation struct {
	Field       string
	Description string
}

// Error is an error with a contract reason.
type Error struct {
	Reason     Reason
	Message    string            // safe to show to callers
	Metadata   map[string]string // names the resource, e.g. {"system": "globalAccounts/a/systems/b"}
	Violations []FieldViolation  // for InvalidArgument
	cause      error             // never shown to callers
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Reason, e.Message, e.cause)
	}
	return fmt.Sprintf("%s: %s", e.Reason, e.Message)
}

// Unwrap returns the internal cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// Is matches another *Error with the same reason, so that
// errors.Is(err, apperr.New(apperr.SystemNotFound, "")) works.
func (e *Error) Is(target error) bool {
	var t *Error
	if errors.As(target, &t) {
		return t.Reason == e.Reason
	}
	return false
}

// New returns an error with a reason and a message for the caller, and
// metadata given as key, value pairs.
func New(reason Reason, message string, kv ...string) *Error {
	e := &Error{Reason: reason, Message: message}
	if len(kv) > 0 {
		e.Metadata = make(map[string]string, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			e.Metadata[kv[i]] = kv[i+1]
		}
	}
	return e
}

// Invalid returns an InvalidArgument error for one field.
func Invalid(field, description string) *Error {
	return &Error{
		Reason:     InvalidArgument,
		Message:    fmt.Sprintf("invalid %s: %s", field, description),
		Violations: []FieldViolation{{Field: field, Description: description}},
	}
}

// Violations collects field violations and turns them into one error.
type Violations []FieldViolation

// Add records a violation.
func (v *Violations) Add(field, description string) {
	*v = append(*v, FieldViolation{Field: field, Description: description})
}

// Err returns nil when nothing was recorded, else an InvalidArgument error.
func (v Violations) Err() error {
	if len(v) == 0 {
		return nil
	}
	msg := fmt.Sprintf("invalid %s: %s", v[0].Field, v[0].Description)
	if len(v) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(v)-1)
	}
	return &Error{Reason: InvalidArgument, Message: msg, Violations: v}
}

// WithCause attaches an internal cause that is logged but never shown.
func (e *Error) WithCause(err error) *Error {
	c := *e
	c.cause = err
	return &c
}

// Internalf wraps an unexpected failure. Callers see only "internal error".
func Internalf(format string, args ...any) *Error {
	return &Error{Reason: Internal, Message: "internal error", cause: fmt.Errorf(format, args...)}
}

// UnavailableErr reports that a dependency (Redis, a peer service) is down.
func UnavailableErr(what string, cause error) *Error {
	return &Error{
		Reason:   Unavailable,
		Message:  what + " is unavailable; retry with backoff",
		Metadata: map[string]string{"dependency": what},
		cause:    cause,
	}
}

// ReasonOf returns the reason of err: its *Error reason, or Internal.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return Internal
}

// As returns err as an *Error, wrapping anything else as Internal.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Reason: Internal, Message: "internal error", cause: err}
}
