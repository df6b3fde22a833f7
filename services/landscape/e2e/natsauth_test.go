package e2e

import (
	"context"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// TestNATSPerServiceCredentials: with a NATS user per service holding
// only its own subjects (natsconn.PermissionsOf), every service still
// works — events flow registry → formation and formation → registry —
// while the token service's credentials cannot publish a registry event
// and a client without credentials cannot connect at all.
func TestNATSPerServiceCredentials(t *testing.T) {
	t.Parallel()
	f := start(t, stacktest.Options{NATSUsers: true})
	f.st.WaitHealthy()

	// The CX flow needs both consumers: formation reads the pairing
	// (registry stream), the registry reads the assignments (formation
	// stream), and every relay publishes on its own subjects.
	kyma := f.newFormation(t, kymaFormation, 0)
	c4c := f.register(t, "sap-cloud-for-customer")
	sys := c4c.GetSystem().GetName()
	if _, err := f.assign(kyma, sys); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pair(c4c.GetIntegrationToken().GetToken(), "sap-cloud-for-customer"); err != nil {
		t.Fatal(err)
	}
	f.waitFormation(t, kyma.GetName(), formationv1.Formation_READY)
	testkit.Eventually(t, 15*time.Second, "System.formations lists the formation", func() bool {
		return len(f.get(t, sys).GetFormations()) == 1
	})

	// The registry's audit trail reads all three streams with its user:
	// the system's, its token's and the assignment's entries are there.
	testkit.Eventually(t, 15*time.Second, "the audit trail holds every stream's events", func() bool {
		r, page := auditGET(t, f.st, f.ga, f.st.AdminJWT(f.ga), nil)
		if r.Status != 200 {
			t.Fatalf("auditEvents: %d %s", r.Status, r.Body)
		}
		contexts := map[string]bool{}
		for _, e := range page.AuditEvents {
			for _, c := range []string{"registry", "token", "formation"} {
				if strings.Contains(e.Type, "."+c+".") {
					contexts[c] = true
				}
			}
		}
		return len(contexts) == 3
	})

	registryStream, err := f.st.JetStream.Stream(t.Context(), cloudevent.StreamName("registry"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := registryStream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	before := info.State.Msgs

	// The token service's credentials: a forged registry event is refused
	// by the server.
	nc, js, err := natsconn.ConnectAs(f.st.NATSServer.URL(), "forger", f.st.NATSAuth["token"], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	publish := func(subject string, data []byte) error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err := js.Publish(ctx, subject, data)
		return err
	}
	forged := []byte(`{"specversion":"1.0","type":"landscape.registry.v1.SystemPairingFailed","source":"landscape/registry","id":"forged","subject":"` + sys + `","globalaccount":"acme","revision":"9000000000000000000","data":{}}`)
	if err := publish("landscape.registry.acme.system."+path.Base(sys), forged); err == nil {
		t.Fatal("the token service's NATS user published on a registry subject")
	}
	// Its own subjects are fine.
	if err := publish("landscape.token.acme.token.probe", []byte(`{}`)); err != nil {
		t.Fatalf("the token service's NATS user cannot publish on its own subject: %v", err)
	}

	// Formation's dead-letter stream is there (its subscriber made it),
	// so that a refused change below is a refusal, not a missing stream.
	testkit.Eventually(t, 15*time.Second, "formation's dead-letter stream", func() bool {
		_, err := f.st.JetStream.Stream(t.Context(), natsconn.DeadLetterStream("formation"))
		return err == nil
	})

	// No user manages a consumer or a stream it does not own: the
	// registry reads the registry stream (audit trail) and the gateway
	// every stream (watch), yet neither may delete formation's durable
	// there, nor create a durable of its own choosing (the registry) or
	// delete a stream; and no one but formation changes or writes
	// formation's dead-letter stream.
	for _, c := range []struct{ user, what string }{
		{"registry", "delete formation-reactions"},
		{"gateway", "delete formation-reactions"},
		{"registry", "create a consumer it does not own"},
		{"formation", "delete the registry stream"},
		{"gateway", "delete the registry stream"},
		{"registry", "change formation's dead-letter stream"},
		{"token", "change formation's dead-letter stream"},
		{"registry", "write a dead letter of formation's"},
		{"gateway", "write a dead letter of formation's"},
	} {
		_, ujs, err := natsconn.ConnectAs(f.st.NATSServer.URL(), "intruder-"+c.user, f.st.NATSAuth[c.user], nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		switch c.what {
		case "delete formation-reactions":
			err = ujs.DeleteConsumer(ctx, cloudevent.StreamName("registry"), "formation-reactions")
		case "create a consumer it does not own":
			_, err = ujs.CreateOrUpdateConsumer(ctx, cloudevent.StreamName("registry"), jetstream.ConsumerConfig{Durable: "rogue", AckPolicy: jetstream.AckExplicitPolicy})
		case "delete the registry stream":
			err = ujs.DeleteStream(ctx, cloudevent.StreamName("registry"))
		case "change formation's dead-letter stream":
			_, err = ujs.UpdateStream(ctx, jetstream.StreamConfig{
				Name: natsconn.DeadLetterStream("formation"), Subjects: []string{natsconn.DeadLetterSubjects("formation")}, MaxAge: time.Second,
			})
		case "write a dead letter of formation's":
			_, err = ujs.Publish(ctx, natsconn.DeadLetterSubject("formation", natsconn.FormationReactionsDurable), []byte(`{}`))
		}
		cancel()
		if err == nil {
			t.Errorf("the %s service's NATS user could %s", c.user, c.what)
		}
	}
	// The stack's own connection is the gateway's user: it may list the
	// consumers' names, not read formation's durable.
	var names []string
	lister := registryStream.ConsumerNames(t.Context())
	for n := range lister.Name() {
		names = append(names, n)
	}
	if err := lister.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, "formation-reactions") || slices.Contains(names, "rogue") {
		t.Fatalf("consumers of the registry stream after the attempts: %v", names)
	}
	if _, err := registryStream.Consumer(t.Context(), "formation-reactions"); err == nil {
		t.Error("the gateway's NATS user reads formation's consumer")
	}

	// Without credentials the server does not let a client in.
	anon, err := nats.Connect(f.st.NATSServer.URL(), nats.Timeout(5*time.Second))
	if err == nil {
		anon.Close()
		t.Fatal("connected to NATS without credentials")
	}

	info, err = registryStream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != before {
		t.Fatalf("registry stream: %d messages before the forgeries, %d after", before, info.State.Msgs)
	}
	if got := f.formation(t, kyma.GetName()).GetState(); got != formationv1.Formation_READY {
		t.Fatalf("formation after the forgeries: %v, want READY", got)
	}
}
