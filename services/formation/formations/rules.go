package formations

import (
	"slices"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/resource"
)

// AssignInput is what the assignment rules look at. The system exists in
// the formation's global account (rule 1 is checked by the caller, which
// has to find the system first).
type AssignInput struct {
	Formation     *Formation
	FormationType FormationType
	System        System
	SystemType    SystemType
	// ExclusiveHolder is the formation of the exclusive type the system is
	// in, or "".
	ExclusiveHolder string
}

// CheckAssign applies rules 2–6 of docs/API.md, "Formations" in order and returns the new
// assignment's state and API access.
func CheckAssign(in AssignInput) (State, bool, error) {
	f, sys := in.Formation, in.System
	sysName := resource.SystemName(sys.GlobalAccount, sys.ID)
	md := []string{"formation", f.Name(), "system", sysName}
	// 2: not already assigned here.
	if f.Assignment(sys.ID) >= 0 {
		return "", false, apperr.New(apperr.SystemAlreadyAssigned, "the system is already assigned to this formation", md...)
	}
	// 3: not in ERROR.
	if sys.State == SystemError {
		return "", false, apperr.New(apperr.SystemInError, "the system's pairing failed; get a new integration token and pair it again first", md...)
	}
	// 4: the system type is available in the formation's environment.
	if f.Environment != NoEnvironment && !slices.Contains(in.SystemType.Environments, f.Environment) {
		return "", false, apperr.New(apperr.EnvironmentNotSupported,
			"systems of type "+sys.Type+" are not available in the formation's environment "+string(f.Environment),
			append(md, "environment", string(f.Environment), "systemType", sys.Type)...)
	}
	if !in.FormationType.Allows(sys.Type) {
		return "", false, apperr.New(apperr.EnvironmentNotSupported,
			"systems of type "+sys.Type+" cannot join formations of type "+in.FormationType.ID,
			append(md, "systemType", sys.Type)...)
	}
	// 5: exclusive formation type: in no other formation of it.
	if in.FormationType.Exclusive && in.ExclusiveHolder != "" && in.ExclusiveHolder != f.ID {
		return "", false, apperr.New(apperr.SystemInExclusiveFormation,
			"the system is already in another formation of type "+in.FormationType.ID,
			append(md, "otherFormation", resource.FormationName(f.GlobalAccount, in.ExclusiveHolder))...)
	}
	// 6: a type that may not join before pairing must be REGISTERED.
	if !in.SystemType.AssignableBeforePairing && sys.State != SystemRegistered {
		return "", false, apperr.New(apperr.SystemNotPaired,
			"systems of type "+sys.Type+" may join a formation only once paired", md...)
	}
	if sys.State == SystemRegistered {
		return Ready, true, nil
	}
	return Pending, false, nil
}

// SystemEventKind is a registry event the service reacts to.
type SystemEventKind string

// The registry events that change assignments.
const (
	SystemRegisteredEvent            SystemEventKind = "system.registered"
	SystemRegistrationFailedEvent    SystemEventKind = "system.registration_failed"
	SystemRegistrationRestartedEvent SystemEventKind = "system.registration_restarted"
	SystemDeregisteredEvent          SystemEventKind = "system.deregistered"
)

// SystemEvent is a registry event about a system.
type SystemEvent struct {
	Kind          SystemEventKind
	GlobalAccount string
	SystemID      string
	Revision      int64
	// Webhook: the system registered one (system.registered).
	Webhook bool
}

// systemStateAfter is the system's state once the event happened.
func systemStateAfter(k SystemEventKind) SystemState {
	switch k {
	case SystemRegisteredEvent:
		return SystemRegistered
	case SystemRegistrationFailedEvent:
		return SystemError
	case SystemRegistrationRestartedEvent:
		return SystemPending
	default:
		return SystemDeregistered
	}
}

// react returns the assignment after the event, and whether it stays.
func react(a Assignment, k SystemEventKind) (Assignment, bool) {
	switch k {
	case SystemRegisteredEvent:
		a.State, a.APIAccessEnabled = Ready, true
	case SystemRegistrationFailedEvent:
		a.State, a.APIAccessEnabled = Error, false
	case SystemRegistrationRestartedEvent:
		if a.State == Error {
			a.State, a.APIAccessEnabled = Pending, false
		}
	case SystemDeregisteredEvent:
		return a, false
	}
	return a, true
}
