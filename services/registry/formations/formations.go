// Package formations consumes the formation service's assignment events and
// keeps System.formations current through the registry's application
// service (idempotent per system and formation by the formation's revision).
package formations

import (
	"context"
	"log/slog"
	"strings"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/pkg/subscriber"
	"github.com/landscape-dev/landscape/services/registry/system"
)

// Config is the durable consumer of assignment events.
var Config = subscriber.Config{
	Stream:        "LANDSCAPE_FORMATION",
	Durable:       "registry-formations",
	FilterSubject: "landscape.formation.*.assignment.>",
	Events:        []string{"assignment.created", "assignment.deleted"},
}

var (
	createdType = string((&formationv1.AssignmentCreated{}).ProtoReflect().Descriptor().FullName())
	deletedType = string((&formationv1.AssignmentDeleted{}).ProtoReflect().Descriptor().FullName())
)

// Handler returns the subscriber handler. Events it cannot read are logged
// and acknowledged (a retry would not help); failures to store are
// returned, so the event is redelivered.
func Handler(svc *system.Service, logger *slog.Logger) subscriber.Handler {
	return func(ctx context.Context, ev cloudevent.Event) error {
		var (
			formation, sysName string
			rev                int64
			added              bool
		)
		switch ev.Type {
		case createdType:
			var p formationv1.AssignmentCreated
			if err := ev.UnmarshalData(&p); err != nil {
				logger.Warn("dropping an unreadable assignment event", "id", ev.ID, "error", err.Error())
				return nil
			}
			formation, sysName, rev, added = p.GetFormation(), p.GetAssignment().GetSystem(), p.GetRevision(), true
		case deletedType:
			var p formationv1.AssignmentDeleted
			if err := ev.UnmarshalData(&p); err != nil {
				logger.Warn("dropping an unreadable assignment event", "id", ev.ID, "error", err.Error())
				return nil
			}
			formation, sysName, rev = p.GetFormation(), p.GetAssignment().GetSystem(), p.GetRevision()
		default:
			return nil // assignment.state_changed and others: not ours
		}
		ga, id, err := resource.ParseSystemName("system", sysName)
		if err != nil || !strings.HasPrefix(formation, "globalAccounts/"+ga+"/formations/") || rev <= 0 {
			logger.Warn("dropping an assignment event with bad fields", "id", ev.ID, "system", sysName, "formation", formation, "revision", rev)
			return nil
		}
		return svc.ApplyAssignment(ctx, ga, id, formation, rev, added)
	}
}
