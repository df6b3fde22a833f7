package redisstore

import (
	"time"

	"google.golang.org/protobuf/proto"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/services/formation/formationpb"
	"github.com/landscape-dev/landscape/services/formation/formations"
)

// message encodes a domain event as its CloudEvent (docs/API.md, "Events").
func message(ga string, ev formations.Event) (cloudevent.Message, error) {
	f := ev.Formation
	var payload proto.Message
	subject := f.Name()
	switch ev.Kind {
	case formations.FormationCreated:
		payload = &formationv1.FormationCreated{Revision: ev.Revision, Formation: formationpb.Formation(f)}
	case formations.FormationUpdated:
		payload = &formationv1.FormationUpdated{Revision: ev.Revision, Formation: formationpb.Formation(f)}
	case formations.FormationDeleted:
		payload = &formationv1.FormationDeleted{Revision: ev.Revision, Formation: formationpb.Formation(f)}
	case formations.FormationStateChanged:
		payload = &formationv1.FormationStateChanged{Revision: ev.Revision, Formation: formationpb.Formation(f),
			PreviousState: formationpb.FormationState(ev.PreviousState)}
	default:
		subject = formations.AssignmentSubject(ga, f.ID, ev.Assignment.SystemID)
		a := formationpb.Assignment(ga, ev.Assignment)
		switch ev.Kind {
		case formations.AssignmentCreated:
			payload = &formationv1.AssignmentCreated{Revision: ev.Revision, Formation: f.Name(), FormationType: f.Type, Assignment: a}
		case formations.AssignmentDeleted:
			payload = &formationv1.AssignmentDeleted{Revision: ev.Revision, Formation: f.Name(), FormationType: f.Type, Assignment: a}
		default:
			payload = &formationv1.AssignmentStateChanged{Revision: ev.Revision, Formation: f.Name(), FormationType: f.Type,
				Assignment: a, PreviousState: formationpb.AssignmentState(ev.PreviousState)}
		}
	}
	at := ev.Time
	if at.IsZero() {
		at = time.Now()
	}
	return cloudevent.New(cloudevent.Spec{Context: Context, Name: string(ev.Kind)}, ga, subject, payload, at)
}

// timeOf is the time of a step: its first event's, else now.
func timeOf(st formations.Step) time.Time {
	if len(st.Events) > 0 && !st.Events[0].Time.IsZero() {
		return st.Events[0].Time
	}
	return time.Now()
}
