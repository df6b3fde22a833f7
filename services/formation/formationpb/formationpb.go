// Package formationpb turns formation domain values into their proto messages
// and back, for the gRPC adapter, the Redis records and the event payloads.
package formationpb

import (
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	"github.com/landscape-dev/landscape/pkg/pbenum"
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
		System:                  resource.SystemName(ga, a.SystemID),
		SystemType:              a.SystemType,
		State:                   AssignmentState(a.State),
		ApiAccessEnabled:        a.APIAccessEnabled,
		AssignTime:              pbtime.Proto(a.AssignTime),
		StateMessage:            a.StateMessage,
		Configuration:           configuration(a.Configuration),
		ConfigurationUpdateTime: pbtime.Proto(a.ConfigurationTime),
		Webhook:                 a.Webhook,
	}
}

// configuration turns a JSON object into a Struct (nil: none, or not an
// object, which the domain never stores).
func configuration(b []byte) *structpb.Struct {
	if b == nil {
		return nil
	}
	var st structpb.Struct
	if err := protojson.Unmarshal(b, &st); err != nil {
		return nil
	}
	return &st
}

// configurationJSON turns a Struct back into canonical JSON.
func configurationJSON(st *structpb.Struct) []byte {
	if st == nil {
		return nil
	}
	b, err := protojson.Marshal(st)
	if err != nil {
		return nil
	}
	return formations.CanonicalJSON(b)
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
			StateMessage: a.GetStateMessage(), Configuration: configurationJSON(a.GetConfiguration()),
			ConfigurationTime: pbtime.Time(a.GetConfigurationUpdateTime()), Webhook: a.GetWebhook(),
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

// The enum tables: one per enum, read both ways.
var (
	environments = pbenum.New(map[formations.Environment]formationv1.Formation_Environment{
		formations.CloudFoundry: formationv1.Formation_CLOUD_FOUNDRY,
		formations.Kyma:         formationv1.Formation_KYMA,
	})
	formationStates = pbenum.New(map[formations.State]formationv1.Formation_State{
		formations.Ready:         formationv1.Formation_READY,
		formations.Pending:       formationv1.Formation_PENDING,
		formations.Error:         formationv1.Formation_ERROR,
		formations.Synchronizing: formationv1.Formation_SYNCHRONIZING,
	})
	assignmentStates = pbenum.New(map[formations.State]formationv1.Assignment_State{
		formations.Ready:         formationv1.Assignment_READY,
		formations.Pending:       formationv1.Assignment_PENDING,
		formations.Error:         formationv1.Assignment_ERROR,
		formations.Synchronizing: formationv1.Assignment_SYNCHRONIZING,
	})
)

// Environment maps an environment to proto.
func Environment(e formations.Environment) formationv1.Formation_Environment {
	return environments.Proto(e)
}

// EnvironmentFromProto maps a proto environment; an unknown number maps to
// a value that is not Valid.
func EnvironmentFromProto(e formationv1.Formation_Environment) formations.Environment {
	if e == formationv1.Formation_ENVIRONMENT_UNSPECIFIED {
		return formations.NoEnvironment
	}
	if env, ok := environments.Lookup(e); ok {
		return env
	}
	return formations.Environment("UNKNOWN_" + strconv.Itoa(int(e)))
}

// FormationState maps a formation state to proto.
func FormationState(s formations.State) formationv1.Formation_State {
	return formationStates.Proto(s)
}

// AssignmentState maps an assignment state to proto.
func AssignmentState(s formations.State) formationv1.Assignment_State {
	return assignmentStates.Proto(s)
}

// AssignmentStateFromProto maps a proto assignment state ("" for an
// unknown one).
func AssignmentStateFromProto(s formationv1.Assignment_State) formations.State {
	return assignmentStates.Domain(s)
}
