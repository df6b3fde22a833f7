// Package formations is the domain of the FormationService: formations,
// their assignments, the formation type catalog, the assignment rules of
// docs/API.md, "Formations", the derived states, and the application service that applies
// them through a Repository and a Directory of systems declared here.
//
// It imports only the standard library and the transport-free pkg/apperr,
// pkg/resource (ids, display names, resource names, pages) and pkg/filter:
// no gRPC, no generated code, no Redis, no NATS.
package formations

import (
	"github.com/landscape-dev/landscape/pkg/resource"
	"slices"
	"time"
)

// State is the state of a formation or of an assignment.
type State string

// The states of docs/API.md, "Formations".
const (
	Ready   State = "READY"
	Pending State = "PENDING"
	Error   State = "ERROR"
	// Synchronizing: a notification is out or a status callback is awaited.
	Synchronizing State = "SYNCHRONIZING"
)

// Environment is a runtime environment; "" is none.
type Environment string

// The environments.
const (
	NoEnvironment Environment = ""
	CloudFoundry  Environment = "CLOUD_FOUNDRY"
	Kyma          Environment = "KYMA"
)

// Valid reports whether e is a known environment (or none).
func (e Environment) Valid() bool { return e == NoEnvironment || e == CloudFoundry || e == Kyma }

// Assignment is a system's membership of a formation.
type Assignment struct {
	SystemID         string
	SystemType       string
	State            State
	APIAccessEnabled bool
	AssignTime       time.Time
	// StateMessage says why ERROR, or the last failed delivery while
	// SYNCHRONIZING.
	StateMessage string
	// Configuration is the JSON object the system answered with; nil: none.
	Configuration     []byte
	ConfigurationTime time.Time
	// Webhook: the system registered a webhook and is notified.
	Webhook bool
}

// Formation is a group of systems of one global account.
type Formation struct {
	GlobalAccount string
	ID            string
	DisplayName   string
	Type          string
	Environment   Environment
	Assignments   []Assignment
	CreateTime    time.Time
	UpdateTime    time.Time
	// Revision starts at 1 and grows with every change of the formation and
	// of its assignments; it is the etag and the events' revision.
	Revision int64
}

// Name is the resource name globalAccounts/{ga}/formations/{id}.
func (f *Formation) Name() string { return resource.FormationName(f.GlobalAccount, f.ID) }

// AssignmentSubject is the event subject of an assignment.
func AssignmentSubject(ga, formationID, systemID string) string {
	return resource.FormationName(ga, formationID) + "/assignments/" + systemID
}

// State is the derived state: ERROR if any assignment is in ERROR, else
// SYNCHRONIZING if any is, else PENDING if any is PENDING, else READY (also
// when empty).
func (f *Formation) State() State {
	return DeriveState(f.Assignments)
}

// DeriveState derives a formation's state from its assignments.
func DeriveState(as []Assignment) State {
	st := Ready
	for _, a := range as {
		switch a.State {
		case Error:
			return Error
		case Synchronizing:
			st = Synchronizing
		case Pending:
			if st != Synchronizing {
				st = Pending
			}
		}
	}
	return st
}

// Assignment returns the index of the system's assignment, or -1.
func (f *Formation) Assignment(systemID string) int {
	return slices.IndexFunc(f.Assignments, func(a Assignment) bool { return a.SystemID == systemID })
}

// Clone returns a deep copy.
func (f *Formation) Clone() *Formation {
	c := *f
	c.Assignments = slices.Clone(f.Assignments)
	return &c
}

// AssignmentName is the resource name of the system's assignment.
func (f *Formation) AssignmentName(systemID string) string {
	return AssignmentSubject(f.GlobalAccount, f.ID, systemID)
}
