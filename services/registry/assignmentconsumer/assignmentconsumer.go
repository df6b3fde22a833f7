// Package assignmentconsumer consumes the formation service's assignment events and
// keeps System.formations current through the registry's application
// service (idempotent per system and formation by the formation's revision).
package assignmentconsumer

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/pkg/subscriber"
	"github.com/landscape-dev/landscape/services/registry/system"
)

// Config is the durable consumer of assignment events. The events of one
// system are applied in order; those of different systems side by side
// (each writes its own system's record).
var Config = subscriber.Config{
	Service:       "registry",
	Stream:        cloudevent.StreamName("formation"),
	Durable:       natsconn.RegistryFormationsDurable,
	FilterSubject: cloudevent.EntitySubjects("formation", "assignment"),
	Events:        []string{"assignment.created", "assignment.deleted"},
	Parallel:      8,
	Key:           systemOf,
}

// systemOf is the system an assignment event is about: the end of its
// subject (<formation>/assignments/<system id>) in its global account.
func systemOf(ev cloudevent.Event) string {
	return ev.GlobalAccount + "/" + ev.Subject[strings.LastIndexByte(ev.Subject, '/')+1:]
}

var (
	createdType = cloudevent.TypeOf(&formationv1.AssignmentCreated{})
	deletedType = cloudevent.TypeOf(&formationv1.AssignmentDeleted{})
)

// Handler returns the subscriber handler. Events it cannot read, whose
// fields contradict their subject, or whose revision is implausible are
// refused to the dead-letter stream (subscriber.Reject), never applied;
// failures to store are returned, so the event is redelivered.
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
				return subscriber.Reject(err)
			}
			formation, sysName, rev, added = p.GetFormation(), p.GetAssignment().GetSystem(), p.GetRevision(), true
		case deletedType:
			var p formationv1.AssignmentDeleted
			if err := ev.UnmarshalData(&p); err != nil {
				return subscriber.Reject(err)
			}
			formation, sysName, rev = p.GetFormation(), p.GetAssignment().GetSystem(), p.GetRevision()
		default:
			return nil // assignment.state_changed and others: not ours
		}
		ga, id, err := resource.ParseSystemName("system", sysName)
		if err != nil || !strings.HasPrefix(formation, "globalAccounts/"+ga+"/formations/") || rev <= 0 ||
			ga != ev.GlobalAccount || ev.Subject != formation+"/assignments/"+id {
			logger.Warn("refusing an assignment event whose fields contradict its subject", "id", ev.ID,
				"subject", ev.Subject, "system", sysName, "formation", formation, "revision", rev)
			return subscriber.Reject(fmt.Errorf("assignment event fields contradict its subject %q", ev.Subject))
		}
		return svc.ApplyAssignment(ctx, ga, id, formation, rev, added)
	}
}
