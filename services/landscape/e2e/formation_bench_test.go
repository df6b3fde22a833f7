package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// Load of the formation service through the whole stack, printed, with no
// timed assertion (the machine is shared):
//
//  1. GetFormation (the baseline: same server, auth, Redis read) and
//     AssignSystem with 64 concurrent gRPC clients, one connection and one
//     global account each: throughput and p50/p99. Each AssignSystem reads
//     the system from the registry over gRPC and commits one Redis step.
//  2. The reaction delay: systems of type sap-cloud-for-customer wait
//     PENDING in a formation each; they are paired one after another and
//     the test measures, per pairing, the time from the registry's commit
//     of system.registered (its CloudEvent time) to the formation service's
//     commit of formation.state_changed to READY (its CloudEvent time),
//     and the delay a NATS subscriber sees from PairSystem's return to the
//     arrival of that event. Target: commit-to-commit p99 <= 50 ms.
//
//	go test -run '^$' -bench BenchmarkFormationLoad -benchtime 50x ./services/landscape/e2e/
//
// -benchtime Nx sets the calls per client and the pairings timed.

const fmClients = 64

// percentile returns the p quantile (0..1) of sorted latencies.
func percentile(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	i := int(float64(len(lat))*p+0.5) - 1
	return lat[max(0, min(i, len(lat)-1))]
}

type fmClient struct {
	form formationv1.FormationServiceClient
	reg  registryv1.RegistryServiceClient
	ctx  context.Context
	ga   string
	f    string   // the client's formation
	sys  []string // its systems
}

// fmRun runs call perClient times on each client concurrently.
func fmRun(t testing.TB, name string, clients []fmClient, perClient int, call func(c *fmClient, i int) error) loadResult {
	t.Helper()
	return runLoad(t, name, len(clients), perClient, func(c, i int) error { return call(&clients[c], i) })
}

func fmSetup(t testing.TB, st *stacktest.Stack, perClient int) []fmClient {
	t.Helper()
	clients := make([]fmClient, fmClients)
	var wg sync.WaitGroup
	errs := make(chan error, fmClients)
	for i := range clients {
		conn := dialGRPC(t, st.GRPCAddr)
		ga := fmt.Sprintf("fload-%02d", i)
		c := &clients[i]
		*c = fmClient{form: formationv1.NewFormationServiceClient(conn), reg: registryv1.NewRegistryServiceClient(conn),
			ctx: stacktest.Ctx(context.Background(), st.AdminJWT(ga)), ga: ga}
		wg.Go(func() {
			f, err := c.form.CreateFormation(c.ctx, &formationv1.CreateFormationRequest{Parent: "globalAccounts/" + ga,
				Formation: &formationv1.Formation{DisplayName: "Load", FormationType: kymaFormation}})
			if err != nil {
				errs <- err
				return
			}
			c.f = f.GetName()
			for j := range perClient {
				res, err := c.reg.RegisterSystem(c.ctx, &registryv1.RegisterSystemRequest{Parent: "globalAccounts/" + ga,
					System: &registryv1.System{DisplayName: fmt.Sprintf("Commerce %d", j), Type: "sap-commerce-cloud"}})
				if err != nil {
					errs <- err
					return
				}
				c.sys = append(c.sys, res.GetSystem().GetName())
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return clients
}

// reactionDelays pairs n waiting systems one by one and returns the
// commit-to-commit delays and the delays a subscriber observes.
func reactionDelays(t testing.TB, st *stacktest.Stack, n int) (commit, observed []time.Duration) {
	t.Helper()
	const ga = "fdelay"
	ctx := stacktest.Ctx(context.Background(), st.AdminJWT(ga))
	type waiting struct{ form, token string }
	ws := make([]waiting, n)
	for i := range ws {
		f, err := st.Formation.CreateFormation(ctx, &formationv1.CreateFormationRequest{Parent: "globalAccounts/" + ga,
			Formation: &formationv1.Formation{DisplayName: fmt.Sprintf("Delay %d", i), FormationType: kymaFormation}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := st.Registry.RegisterSystem(ctx, &registryv1.RegisterSystemRequest{Parent: "globalAccounts/" + ga,
			System: &registryv1.System{DisplayName: fmt.Sprintf("C4C %d", i), Type: "sap-cloud-for-customer"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Formation.AssignSystem(ctx, &formationv1.AssignSystemRequest{Name: f.GetName(), System: res.GetSystem().GetName()}); err != nil {
			t.Fatal(err)
		}
		ws[i] = waiting{f.GetName(), res.GetIntegrationToken().GetToken()}
	}
	type seen struct {
		at, evTime time.Time
	}
	var mu sync.Mutex
	registered := map[string]time.Time{} // system name -> event time
	ready := map[string]chan seen{}      // formation name -> arrival
	for _, w := range ws {
		ready[w.form] = make(chan seen, 1)
	}
	handler := func(m *nats.Msg) {
		at := time.Now()
		ev, err := cloudevent.Decode(m.Data)
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch ev.Type {
		case "landscape.registry.v1.SystemRegistered":
			registered[ev.Subject] = ev.Time
		case "landscape.formation.v1.FormationStateChanged":
			var p struct {
				Formation struct {
					State string `json:"state"`
				} `json:"formation"`
			}
			if json.Unmarshal(ev.Data, &p) == nil && p.Formation.State == "READY" {
				if ch, ok := ready[ev.Subject]; ok {
					select {
					case ch <- seen{at, ev.Time}:
					default:
					}
				}
			}
		}
	}
	for _, subj := range []string{"landscape.registry." + ga + ".system.registered", "landscape.formation." + ga + ".formation.state_changed"} {
		sub, err := st.NATS.Subscribe(subj, handler)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	if err := st.NATS.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		sys, err := st.Registry.PairSystem(context.Background(), &registryv1.PairSystemRequest{
			IntegrationToken: w.token, SystemType: "sap-cloud-for-customer", BaseUrl: "https://c4c.example.com", ExternalId: "x"})
		if err != nil {
			t.Fatal(err)
		}
		paired := time.Now()
		select {
		case s := <-ready[w.form]:
			observed = append(observed, s.at.Sub(paired))
			deadline := time.Now().Add(5 * time.Second)
			for {
				mu.Lock()
				rt, ok := registered[sys.GetName()]
				mu.Unlock()
				if ok {
					commit = append(commit, s.evTime.Sub(rt))
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("system.registered of %s not seen", sys.GetName())
				}
				runtime.Gosched()
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("formation %s did not turn READY", w.form)
		}
	}
	slices.Sort(commit)
	slices.Sort(observed)
	return commit, observed
}

func formationLoad(t testing.TB, perClient, pairs int) ([]loadResult, []time.Duration, []time.Duration) {
	st := stacktest.StartHealthy(t, stacktest.Options{})
	clients := fmSetup(t, st, perClient)
	// Warm-up: connections, JWT caches, Redis scripts, the system type cache.
	fmRun(t, "warm-up", clients, 1, func(c *fmClient, _ int) error {
		_, err := c.form.GetFormation(c.ctx, &formationv1.GetFormationRequest{Name: c.f})
		return err
	})
	get := fmRun(t, "GetFormation (base)", clients, perClient, func(c *fmClient, _ int) error {
		_, err := c.form.GetFormation(c.ctx, &formationv1.GetFormationRequest{Name: c.f})
		return err
	})
	assign := fmRun(t, "AssignSystem", clients, perClient, func(c *fmClient, i int) error {
		_, err := c.form.AssignSystem(c.ctx, &formationv1.AssignSystemRequest{Name: c.f, System: c.sys[i]})
		return err
	})
	commit, observed := reactionDelays(t, st, pairs)
	return []loadResult{get, assign}, commit, observed
}

// BenchmarkFormationLoad is the formation load run (make bench runs the
// load generator; this is the same measure as a Go benchmark): b.N calls per
// client and b.N pairings, with calls/s, p50/p99 (µs) and the reaction
// delays as metrics.
//
//	go test -run '^$' -bench BenchmarkFormationLoad -benchtime 50x ./services/landscape/e2e/
func BenchmarkFormationLoad(b *testing.B) {
	res, commit, observed := formationLoad(b, b.N, b.N)
	for i, r := range res {
		name := [...]string{"get", "assign"}[i]
		b.ReportMetric(r.rate(), name+"-calls/s")
		b.ReportMetric(float64(percentile(r.lat, 0.50).Microseconds()), name+"-p50-µs")
		b.ReportMetric(float64(percentile(r.lat, 0.99).Microseconds()), name+"-p99-µs")
	}
	b.ReportMetric(float64(percentile(commit, 0.50).Microseconds()), "ready-delay-p50-µs")
	b.ReportMetric(float64(percentile(commit, 0.99).Microseconds()), "ready-delay-p99-µs")
	b.ReportMetric(float64(percentile(observed, 0.99).Microseconds()), "observed-delay-p99-µs")
}
