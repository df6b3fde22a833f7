// Package convert turns formation domain values into their proto messages
// and back, for the gRPC adapter, the Redis records and the event payloads.
package convert

import (
	"strconv"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	"github.com/landscape-dev/landscape/pkg/pbtime"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/services/formation/formations"
)

// Formation returns the proto form of f, with its derived state and etag.
func Formation(f *formations.Formation) *formationv1.Formation {
	p := &formationv1.Formation{
		Name:          f.Name(),
		DisplayName:   f.DisplayName,
		FormationType: f.Type,
		Environment:   Environment(f.Environment),
		State:         FormationState(f.State()),
		CreateTime:    pbtime.Proto(f.CreateTime),
		UpdateTime:    pbtime.Proto(f.UpdateTime),
		Etag:          strconv.FormatInt(f.Revision, 10),
	}
	for _, a := range f.Assignments {
		p.Assignments = append(p.Assignments, Assignment(f.GlobalAccount, a))
	}
	return p
}

// Assignment returns the proto form of a.
func Assignment(ga string, a formations.Assignment) *formationv1.Assignment {
	return &formationv1.Assignment{
		System:           resource.SystemName(ga, a.SystemID),
		SystemType:       a.SystemType,
		State:            AssignmentState(a.State),
		ApiAccessEnabled: a.APIAccessEnabled,
		AssignTime:       pbtime.Proto(a.AssignTime),
	}
}

// FromProto reads a formation record (the proto form) back; the revision is
// kept beside it.
func FromProto(p *formationv1.Formation, rev int64) (*formations.Formation, bool) {
	ga, id, err := resource.ParseFormationName("name", p.GetName())
	if err != nil {
		return nil, false
	}
	f := &formations.Formation{
		GlobalAccount: ga, ID: id, DisplayName: p.GetDisplayName(), Type: p.GetFormationType(),
		Environment: EnvironmentFromProto(p.GetEnvironment()),
		CreateTime:  pbtime.Time(p.GetCreateTime()), UpdateTime: pbtime.Time(p.GetUpdateTime()),
		Revision: rev,
	}
	for _, a := range p.GetAssignments() {
		_, sid, err := resource.ParseSystemName("system", a.GetSystem())
		if err != nil {
			return nil, false
		}
		f.Assignments = append(f.Assignments, formations.Assignment{
			SystemID: sid, SystemType: a.GetSystemType(), State: AssignmentStateFromProto(a.GetState()),
			APIAccessEnabled: a.GetApiAccessEnabled(), AssignTime: pbtime.Time(a.GetAssignTime()),
		})
	}
	return f, true
}

// FormationType returns the proto form of a catalog entry.
func FormationType(t formations.FormationType) *formationv1.FormationType {
	return &formationv1.FormationType{
		Name:               "formationTypes/" + t.ID,
		DisplayName:        t.DisplayName,
		Environment:        Environment(t.Environment),
		Exclusive:          t.Exclusive,
		AllowedSystemTypes: append([]string(nil), t.AllowedSystemTypes...),
	}
}

// Environment maps an environment to proto.
func Environment(e formations.Environment) formationv1.Formation_Environment {
	switch e {
	case formations.CloudFoundry:
		return formationv1.Formation_CLOUD_FOUNDRY
	case formations.Kyma:
		return formationv1.Formation_KYMA
	}
	return formationv1.Formation_ENVIRONMENT_UNSPECIFIED
}

// EnvironmentFromProto maps a proto environment; an unknown number maps to
// a value that is not Valid.
func EnvironmentFromProto(e formationv1.Formation_Environment) formations.Environment {
	switch e {
	case formationv1.Formation_ENVIRONMENT_UNSPECIFIED:
		return formations.NoEnvironment
	case formationv1.Formation_CLOUD_FOUNDRY:
		return formations.CloudFoundry
	case formationv1.Formation_KYMA:
		return formations.Kyma
	}
	return formations.Environment("UNKNOWN_" + strconv.Itoa(int(e)))
}

// FormationState maps a formation state to proto.
func FormationState(s formations.State) formationv1.Formation_State {
	switch s {
	case formations.Ready:
		return formationv1.Formation_READY
	case formations.Pending:
		return formationv1.Formation_PENDING
	case formations.Error:
		return formationv1.Formation_ERROR
	}
	return formationv1.Formation_STATE_UNSPECIFIED
}

// AssignmentState maps an assignment state to proto.
func AssignmentState(s formations.State) formationv1.Assignment_State {
	switch s {
	case formations.Ready:
		return formationv1.Assignment_READY
	case formations.Pending:
		return formationv1.Assignment_PENDING
	case formations.Error:
		return formationv1.Assignment_ERROR
	}
	return formationv1.Assignment_STATE_UNSPECIFIED
}

// AssignmentStateFromProto maps a proto assignment state.
func AssignmentStateFromProto(s formationv1.Assignment_State) formations.State {
	switch s {
	case formationv1.Assignment_READY:
		return formations.Ready
	case formationv1.Assignment_PENDING:
		return formations.Pending
	case formationv1.Assignment_ERROR:
		return formations.Error
	}
	return ""
}
