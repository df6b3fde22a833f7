package assignmentconsumer_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/subscriber"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/registry/assignmentconsumer"
	"github.com/landscape-dev/landscape/services/registry/catalog"
	"github.com/landscape-dev/landscape/services/registry/redisstore"
	"github.com/landscape-dev/landscape/services/registry/system"
	"google.golang.org/protobuf/proto"
)

// noTokens is enough for systems created directly in the store.
type noTokens struct{}

func (noTokens) Issue(context.Context, string, string, time.Duration, bool) (system.IssuedToken, error) {
	return system.IssuedToken{Name: "n", Secret: "s"}, nil
}
func (noTokens) Consume(context.Context, string) (system.ConsumedToken, error) {
	return system.ConsumedToken{}, apperr.New(apperr.TokenInvalid, "no")
}
func (noTokens) Revoke(context.Context, string, string) error { return nil }

// assignmentEvent is what AssignmentCreated and AssignmentDeleted share.
type assignmentEvent interface {
	proto.Message
	GetFormation() string
	GetAssignment() *formationv1.Assignment
}

// publish publishes an assignment event as the formation service does: its
// subject is the assignment's name.
func publish(t *testing.T, js jetstream.JetStream, name string, payload assignmentEvent) {
	t.Helper()
	sys := payload.GetAssignment().GetSystem()
	subject := payload.GetFormation() + "/assignments/" + sys[strings.LastIndex(sys, "/")+1:]
	msg, err := cloudevent.New(cloudevent.Spec{Context: "formation", Name: name}, "acme", subject, payload, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(t.Context(), &nats.Msg{Subject: msg.Subject, Data: msg.Body, Header: nats.Header{"Nats-Msg-Id": []string{msg.ID}}}); err != nil {
		t.Fatal(err)
	}
}

func TestConsumerKeepsFormationsCurrent(t *testing.T) {
	t.Parallel()
	rdb, prefix := testkit.Redis(t)
	js := testkit.JetStream(t, testkit.NATS(t).URL())
	if _, err := js.CreateOrUpdateStream(t.Context(), jetstream.StreamConfig{Name: "LANDSCAPE_FORMATION", Subjects: []string{"landscape.formation.>"}}); err != nil {
		t.Fatal(err)
	}
	cat, _ := catalog.Load()
	store := redisstore.New(rdb, prefix)
	svc := system.NewService(store, noTokens{}, cat, system.Options{})
	reg, err := svc.Register(t.Context(), system.RegisterInput{GlobalAccount: "acme", SystemID: "s1", DisplayName: "S1", Type: "sap-commerce-cloud"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- subscriber.Run(ctx, js, assignmentconsumer.Config, assignmentconsumer.Handler(svc, slog.New(slog.DiscardHandler)), slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() { cancel(); <-done })

	f1, f2 := "globalAccounts/acme/formations/f1", "globalAccounts/acme/formations/f2"
	asg := &formationv1.Assignment{System: reg.System.Name(), SystemType: "sap-commerce-cloud"}
	formationsOf := func() []string {
		s, err := svc.Get(t.Context(), "acme", "s1")
		if err != nil {
			t.Fatal(err)
		}
		return s.Formations
	}
	publish(t, js, "assignment.created", &formationv1.AssignmentCreated{Revision: 2, Formation: f1, Assignment: asg})
	publish(t, js, "assignment.created", &formationv1.AssignmentCreated{Revision: 5, Formation: f2, Assignment: asg})
	testkit.Eventually(t, 10*time.Second, "both formations recorded", func() bool {
		return slices.Equal(formationsOf(), []string{f1, f2})
	})
	// A stale delete (revision below the applied one) and a replay change nothing.
	publish(t, js, "assignment.deleted", &formationv1.AssignmentDeleted{Revision: 1, Formation: f1, Assignment: asg})
	publish(t, js, "assignment.created", &formationv1.AssignmentCreated{Revision: 2, Formation: f1, Assignment: asg})
	// An event for an unknown system is dropped.
	publish(t, js, "assignment.created", &formationv1.AssignmentCreated{Revision: 9, Formation: f1, Assignment: &formationv1.Assignment{System: "globalAccounts/acme/systems/nope"}})
	publish(t, js, "assignment.deleted", &formationv1.AssignmentDeleted{Revision: 3, Formation: f1, Assignment: asg})
	testkit.Eventually(t, 10*time.Second, "f1 removed", func() bool {
		return slices.Equal(formationsOf(), []string{f2})
	})
	s, _ := svc.Get(t.Context(), "acme", "s1")
	if s.Revision != 4 { // created, +f1, +f2, -f1
		t.Fatalf("revision %d: a stale or repeated event changed the system", s.Revision)
	}
	// Each change emitted system.updated.
	entries, _ := rdb.XRange(t.Context(), store.Outbox().Key(), "-", "+").Result()
	updated := 0
	for _, e := range entries {
		if e.Values["s"] == "landscape.registry.acme.system.updated" {
			updated++
		}
	}
	if updated != 3 {
		t.Fatalf("%d system.updated events, want 3", updated)
	}
	if err := svc.Deregister(t.Context(), "acme", "s1"); apperr.ReasonOf(err) != apperr.SystemInFormation {
		t.Fatalf("deregister while in f2: %v", err)
	}
}
