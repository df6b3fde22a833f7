package redisstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/formation/formations"
	"github.com/landscape-dev/landscape/services/formation/redisstore"
)

const (
	kymaType = "side-by-side-extensibility-with-kyma"
	exclType = "eventing-between-sap-cloud-systems"
)

// directory is an in-memory registry for the store tests (the component
// and e2e tests use the real registry over gRPC).
type directory struct {
	mu      sync.Mutex
	systems map[string]formations.System
}

var systemTypes = map[string]formations.SystemType{
	"sap-s4hana-cloud":       {ID: "sap-s4hana-cloud", Environments: []formations.Environment{formations.CloudFoundry, formations.Kyma}},
	"sap-successfactors":     {ID: "sap-successfactors", Environments: []formations.Environment{formations.CloudFoundry, formations.Kyma}},
	"sap-cloud-for-customer": {ID: "sap-cloud-for-customer", Environments: []formations.Environment{formations.Kyma}, AssignableBeforePairing: true},
}

func (d *directory) put(ga, id, typ string, st formations.SystemState, rev int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.systems[ga+"/"+id] = formations.System{GlobalAccount: ga, ID: id, Type: typ, State: st, Revision: rev}
}

func (d *directory) GetSystem(_ context.Context, ga, id string) (formations.System, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.systems[ga+"/"+id]
	if !ok {
		return s, apperr.New(apperr.SystemNotFound, "no such system")
	}
	return s, nil
}

// WebhookSecrets: the test systems have no webhook.
func (d *directory) WebhookSecrets(context.Context, string, string) ([]string, error) {
	return nil, nil
}

func (d *directory) SystemType(_ context.Context, id string) (formations.SystemType, bool, error) {
	t, ok := systemTypes[id]
	return t, ok, nil
}

type env struct {
	rdb    *redis.Client
	prefix string
	store  *redisstore.Store
	app    *formations.Service
	dir    *directory
}

func setup(t *testing.T) *env {
	t.Helper()
	rdb, prefix := testkit.Redis(t)
	cat := formations.DefaultCatalog()
	store := redisstore.New(rdb, prefix)
	dir := &directory{systems: map[string]formations.System{}}
	return &env{rdb: rdb, prefix: prefix, store: store, app: formations.NewService(store, dir, cat, nil), dir: dir}
}

func reason(err error) apperr.Reason {
	if err == nil {
		return ""
	}
	return apperr.ReasonOf(err)
}

func wantReason(t *testing.T, err error, want apperr.Reason) {
	t.Helper()
	if got := reason(err); got != want {
		t.Fatalf("reason = %q (%v), want %q", got, err, want)
	}
}

func sysName(id string) string { return resource.SystemName("acme", id) }

// outboxEvents returns the outbox's events as "<name>@<revision>" for one
// resource: its own subject and those of its sub-resources (generated ids
// may share a prefix with a chosen one, so "f1" must not match "f1xyz").
func (e *env) outboxEvents(t *testing.T, name string) []string {
	t.Helper()
	msgs, err := e.rdb.XRange(t.Context(), e.store.Outbox().Key(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		ev, err := cloudevent.Decode([]byte(m.Values["b"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Subject != name && !strings.HasPrefix(ev.Subject, name+"/") {
			continue
		}
		var data struct {
			Revision string `json:"revision"`
		}
		_ = json.Unmarshal(ev.Data, &data)
		subj := m.Values["s"].(string)
		out = append(out, subj[strings.Index(subj, ".acme.")+6:]+"@"+data.Revision)
	}
	return out
}

func TestCreateGetUpdate(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	f, err := e.app.Create(ctx, "acme", formations.CreateInput{ID: "f1", DisplayName: "Extensions", Type: kymaType})
	if err != nil {
		t.Fatal(err)
	}
	if f.Environment != formations.Kyma || f.Revision != 1 || f.State() != formations.Ready {
		t.Fatalf("created %+v", f)
	}
	_, err = e.app.Create(ctx, "acme", formations.CreateInput{ID: "f1", DisplayName: "Other", Type: kymaType})
	wantReason(t, err, apperr.FormationIDTaken)
	_, err = e.app.Create(ctx, "acme", formations.CreateInput{DisplayName: "EXTENSIONS", Type: exclType})
	wantReason(t, err, apperr.FormationNameTaken)
	_, err = e.app.Create(ctx, "acme", formations.CreateInput{DisplayName: "X", Type: "nope"})
	wantReason(t, err, apperr.FormationTypeUnknown)
	_, err = e.app.Create(ctx, "acme", formations.CreateInput{DisplayName: "X"})
	wantReason(t, err, apperr.InvalidArgument)
	_, err = e.app.Create(ctx, "acme", formations.CreateInput{DisplayName: "X", Type: kymaType, Environment: formations.CloudFoundry})
	wantReason(t, err, apperr.InvalidArgument)
	if v := apperr.As(err).Violations; len(v) != 1 || v[0].Field != "environment" {
		t.Fatalf("violations %+v", v)
	}
	// Same name in another global account is fine.
	if _, err := e.app.Create(ctx, "other", formations.CreateInput{DisplayName: "Extensions", Type: kymaType}); err != nil {
		t.Fatal(err)
	}
	g, err := e.app.Create(ctx, "acme", formations.CreateInput{DisplayName: "Eventing", Type: exclType})
	if err != nil || g.Environment != formations.NoEnvironment || !resource.ValidID(g.ID) {
		t.Fatalf("%+v %v", g, err)
	}
	h, err := e.app.Create(ctx, "acme", formations.CreateInput{DisplayName: "Eventing CF", Type: exclType, Environment: formations.CloudFoundry})
	if err != nil || h.Environment != formations.CloudFoundry {
		t.Fatalf("%+v %v", h, err)
	}

	got, err := e.app.Get(ctx, "acme", "f1")
	if err != nil || got.DisplayName != "Extensions" || !got.CreateTime.Equal(f.CreateTime) {
		t.Fatalf("get %+v %v", got, err)
	}
	_, err = e.app.Get(ctx, "acme", "nope")
	wantReason(t, err, apperr.FormationNotFound)

	name := "Renamed"
	_, err = e.app.Update(ctx, "acme", "f1", formations.UpdateInput{DisplayName: &name, Etag: "7"})
	wantReason(t, err, apperr.EtagMismatch)
	u, err := e.app.Update(ctx, "acme", "f1", formations.UpdateInput{DisplayName: &name, Etag: "1"})
	if err != nil || u.DisplayName != "Renamed" || u.Revision != 2 {
		t.Fatalf("update %+v %v", u, err)
	}
	// The old name is free again, the new one taken.
	if _, err := e.app.Create(ctx, "acme", formations.CreateInput{DisplayName: "extensions", Type: kymaType}); err != nil {
		t.Fatal(err)
	}
	taken := "eventing"
	_, err = e.app.Update(ctx, "acme", "f1", formations.UpdateInput{DisplayName: &taken})
	wantReason(t, err, apperr.FormationNameTaken)
	if got := e.outboxEvents(t, resource.FormationName("acme", "f1")); strings.Join(got, ",") != "formation.created@1,formation.updated@2" {
		t.Fatalf("events %v", got)
	}
}

func TestListPaginationAndFilters(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	e.dir.put("acme", "c4c", "sap-cloud-for-customer", formations.SystemPending, 1)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var n atomic.Int64
	app := formations.NewService(e.store, e.dir, formations.DefaultCatalog(), func() time.Time {
		return base.Add(time.Duration(n.Add(1)) * time.Second)
	})
	var ids []string
	for i := range 7 {
		typ := kymaType
		if i%2 == 1 {
			typ = exclType
		}
		f, err := app.Create(ctx, "acme", formations.CreateInput{ID: fmt.Sprintf("f%d", i), DisplayName: fmt.Sprintf("F %d", i), Type: typ})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, f.ID)
	}
	// f0 and f2 (kyma) become PENDING.
	for _, id := range []string{"f0", "f2"} {
		if _, err := app.Assign(ctx, "acme", id, sysName("c4c")); err != nil {
			t.Fatal(err)
		}
	}
	list := func(size int, filter string) []string {
		t.Helper()
		var out []string
		token := ""
		for {
			page, next, err := app.List(ctx, "acme", size, token, filter)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > size {
				t.Fatalf("page of %d > %d", len(page), size)
			}
			for _, f := range page {
				out = append(out, f.ID)
			}
			if next == "" {
				return out
			}
			token = next
		}
	}
	if got := strings.Join(list(3, ""), ","); got != strings.Join(ids, ",") {
		t.Fatalf("all: %s", got)
	}
	if got := strings.Join(list(2, "state = PENDING"), ","); got != "f0,f2" {
		t.Fatalf("pending: %s", got)
	}
	if got := strings.Join(list(2, "state = READY AND formationType = \""+kymaType+"\""), ","); got != "f4,f6" {
		t.Fatalf("ready kyma: %s", got)
	}
	if got := strings.Join(list(50, "formationType = \""+exclType+"\""), ","); got != "f1,f3,f5" {
		t.Fatalf("exclusive: %s", got)
	}
	// Exactly full last page: no extra empty page.
	page, next, err := app.List(ctx, "acme", 7, "", "")
	if err != nil || len(page) != 7 || next != "" {
		t.Fatalf("full page: %d %q %v", len(page), next, err)
	}
	_, _, err = app.List(ctx, "acme", -1, "", "")
	wantReason(t, err, apperr.InvalidArgument)
	_, _, err = app.List(ctx, "acme", 0, "garbage!", "")
	wantReason(t, err, apperr.InvalidArgument)
	_, _, err = app.List(ctx, "acme", 0, "", "colour = RED")
	wantReason(t, err, apperr.InvalidArgument)
	// Delete keeps the indexes in step.
	if err := app.Delete(ctx, "acme", "f0"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(list(10, "state = PENDING"), ","); got != "f2" {
		t.Fatalf("pending after delete: %s", got)
	}
}

func TestAssignRulesWithReasons(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	e.dir.put("acme", "s4", "sap-s4hana-cloud", formations.SystemRegistered, 3)
	e.dir.put("acme", "s4p", "sap-s4hana-cloud", formations.SystemPending, 1)
	e.dir.put("acme", "c4c", "sap-cloud-for-customer", formations.SystemPending, 1)
	e.dir.put("acme", "c4cerr", "sap-cloud-for-customer", formations.SystemError, 2)
	e.dir.put("other", "s4", "sap-s4hana-cloud", formations.SystemRegistered, 3)
	mk := func(id, typ string, env formations.Environment) {
		if _, err := e.app.Create(ctx, "acme", formations.CreateInput{ID: id, DisplayName: id, Type: typ, Environment: env}); err != nil {
			t.Fatal(err)
		}
	}
	mk("kyma", kymaType, "")
	mk("ev1", exclType, "")
	mk("ev2", exclType, "")
	mk("evcf", exclType, formations.CloudFoundry)

	_, err := e.app.Assign(ctx, "acme", "kyma", "globalAccounts/acme/systems/missing")
	wantReason(t, err, apperr.SystemNotFound) // 1
	_, err = e.app.Assign(ctx, "acme", "kyma", "globalAccounts/other/systems/s4")
	wantReason(t, err, apperr.SystemNotFound) // 1: another global account
	_, err = e.app.Assign(ctx, "acme", "kyma", "systems/s4")
	wantReason(t, err, apperr.InvalidArgument)
	_, err = e.app.Assign(ctx, "acme", "nope", sysName("s4"))
	wantReason(t, err, apperr.FormationNotFound)

	f, err := e.app.Assign(ctx, "acme", "kyma", sysName("s4"))
	if err != nil || f.State() != formations.Ready || !f.Assignments[0].APIAccessEnabled {
		t.Fatalf("assign s4: %+v %v", f, err)
	}
	_, err = e.app.Assign(ctx, "acme", "kyma", sysName("s4"))
	wantReason(t, err, apperr.SystemAlreadyAssigned) // 2
	_, err = e.app.Assign(ctx, "acme", "kyma", sysName("c4cerr"))
	wantReason(t, err, apperr.SystemInError) // 3
	_, err = e.app.Assign(ctx, "acme", "evcf", sysName("c4c"))
	wantReason(t, err, apperr.EnvironmentNotSupported) // 4
	if _, err := e.app.Assign(ctx, "acme", "ev1", sysName("s4")); err != nil {
		t.Fatal(err)
	}
	_, err = e.app.Assign(ctx, "acme", "ev2", sysName("s4"))
	wantReason(t, err, apperr.SystemInExclusiveFormation) // 5
	_, err = e.app.Assign(ctx, "acme", "kyma", sysName("s4p"))
	wantReason(t, err, apperr.SystemNotPaired) // 6
	f, err = e.app.Assign(ctx, "acme", "kyma", sysName("c4c"))
	if err != nil || f.State() != formations.Pending || f.Assignments[1].State != formations.Pending || f.Assignments[1].APIAccessEnabled {
		t.Fatalf("assign c4c: %+v %v", f, err)
	}
	if got := e.outboxEvents(t, resource.FormationName("acme", "kyma")); strings.Join(got, ",") !=
		"formation.created@1,assignment.created@2,assignment.created@3,formation.state_changed@4" {
		t.Fatalf("events %v", got)
	}

	// Unassign frees the exclusive slot.
	_, err = e.app.Unassign(ctx, "acme", "ev2", sysName("s4"))
	wantReason(t, err, apperr.SystemNotAssigned)
	if _, err := e.app.Unassign(ctx, "acme", "ev1", sysName("s4")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.Assign(ctx, "acme", "ev2", sysName("s4")); err != nil {
		t.Fatal(err)
	}
	// Deleting a formation removes its assignments first, each published.
	if err := e.app.Delete(ctx, "acme", "kyma"); err != nil {
		t.Fatal(err)
	}
	got := e.outboxEvents(t, resource.FormationName("acme", "kyma"))
	if strings.Join(got[len(got)-3:], ",") != "assignment.deleted@5,assignment.deleted@6,formation.deleted@7" {
		t.Fatalf("delete events %v", got)
	}
	ids, _ := e.store.SystemFormations(ctx, "acme", "s4")
	if strings.Join(ids, ",") != "ev2" {
		t.Fatalf("s4 is in %v", ids)
	}
}

func TestConcurrentExclusiveAssignsOneWins(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	for round := range 25 {
		sys := fmt.Sprintf("s%d", round)
		e.dir.put("acme", sys, "sap-s4hana-cloud", formations.SystemRegistered, 1)
		const n = 4
		for i := range n {
			if _, err := e.app.Create(ctx, "acme", formations.CreateInput{ID: fmt.Sprintf("r%d-f%d", round, i), DisplayName: fmt.Sprintf("r%d f%d", round, i), Type: exclType}); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = e.app.Assign(ctx, "acme", fmt.Sprintf("r%d-f%d", round, i), sysName(sys))
			})
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch reason(err) {
			case "":
				wins++
			case apperr.SystemInExclusiveFormation:
			default:
				t.Fatalf("round %d: unexpected %v", round, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d winners, want exactly 1", round, wins)
		}
		ids, _ := e.store.SystemFormations(ctx, "acme", sys)
		holder, _ := e.store.ExclusiveHolder(ctx, "acme", exclType, sys)
		if len(ids) != 1 || ids[0] != holder {
			t.Fatalf("round %d: system index %v, exclusive holder %q", round, ids, holder)
		}
	}
}

func TestConcurrentAssignAndDeleteLeaveNoOrphan(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	for round := range 25 {
		sys := fmt.Sprintf("s%d", round)
		id := fmt.Sprintf("f%d", round)
		e.dir.put("acme", sys, "sap-s4hana-cloud", formations.SystemRegistered, 1)
		if _, err := e.app.Create(ctx, "acme", formations.CreateInput{ID: id, DisplayName: id, Type: exclType}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var aerr, derr error
		wg.Go(func() { _, aerr = e.app.Assign(ctx, "acme", id, sysName(sys)) })
		wg.Go(func() { derr = e.app.Delete(ctx, "acme", id) })
		wg.Wait()
		if derr != nil {
			t.Fatalf("delete: %v", derr)
		}
		if aerr != nil && reason(aerr) != apperr.FormationNotFound {
			t.Fatalf("assign: %v", aerr)
		}
		ids, _ := e.store.SystemFormations(ctx, "acme", sys)
		holder, _ := e.store.ExclusiveHolder(ctx, "acme", exclType, sys)
		if len(ids) != 0 || holder != "" {
			t.Fatalf("round %d: orphan: system index %v, exclusive holder %q", round, ids, holder)
		}
		// The system is free for another formation of the exclusive type.
		if _, err := e.app.Create(ctx, "acme", formations.CreateInput{ID: id + "b", DisplayName: id + "b", Type: exclType}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.app.Assign(ctx, "acme", id+"b", sysName(sys)); err != nil {
			t.Fatalf("round %d: reassign: %v", round, err)
		}
	}
}

func TestReactionsApplyOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	e.dir.put("acme", "c4c", "sap-cloud-for-customer", formations.SystemPending, 1)
	for _, id := range []string{"k1", "k2"} {
		if _, err := e.app.Create(ctx, "acme", formations.CreateInput{ID: id, DisplayName: id, Type: kymaType}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.app.Assign(ctx, "acme", id, sysName("c4c")); err != nil {
			t.Fatal(err)
		}
	}
	apply := func(kind formations.SystemEventKind, rev int64) {
		t.Helper()
		if err := e.app.ApplySystemEvent(ctx, formations.SystemEvent{Kind: kind, GlobalAccount: "acme", SystemID: "c4c", Revision: rev}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(want formations.State, api bool, rev int64) {
		t.Helper()
		for _, id := range []string{"k1", "k2"} {
			f, err := e.app.Get(ctx, "acme", id)
			if err != nil {
				t.Fatal(err)
			}
			if f.State() != want || f.Assignments[0].State != want || f.Assignments[0].APIAccessEnabled != api || f.Revision != rev {
				t.Fatalf("%s: state %s api %v rev %d; want %s %v %d", id, f.State(), f.Assignments[0].APIAccessEnabled, f.Revision, want, api, rev)
			}
		}
	}
	check(formations.Pending, false, 3)
	apply(formations.SystemRegistrationFailedEvent, 2)
	check(formations.Error, false, 5)
	apply(formations.SystemRegistrationFailedEvent, 2) // replay
	apply(formations.SystemRegisteredEvent, 2)         // same revision: stale
	check(formations.Error, false, 5)
	apply(formations.SystemRegistrationRestartedEvent, 3)
	check(formations.Pending, false, 7)
	apply(formations.SystemRegisteredEvent, 4)
	check(formations.Ready, true, 9)
	apply(formations.SystemRegisteredEvent, 4)         // replay
	apply(formations.SystemRegistrationFailedEvent, 3) // out of order: stale
	check(formations.Ready, true, 9)
	if got := e.outboxEvents(t, resource.FormationName("acme", "k1")); strings.Join(got[3:], ",") !=
		"assignment.state_changed@4,formation.state_changed@5,assignment.state_changed@6,formation.state_changed@7,assignment.state_changed@8,formation.state_changed@9" {
		t.Fatalf("events %v", got)
	}
	// Assigning after the event: the event's state wins over a stale registry read.
	if _, err := e.app.Create(ctx, "acme", formations.CreateInput{ID: "k3", DisplayName: "k3", Type: kymaType}); err != nil {
		t.Fatal(err)
	}
	f, err := e.app.Assign(ctx, "acme", "k3", sysName("c4c"))
	if err != nil || f.Assignments[0].State != formations.Ready {
		t.Fatalf("assign after registered: %+v %v", f, err)
	}
	apply(formations.SystemDeregisteredEvent, 5)
	for _, id := range []string{"k1", "k2", "k3"} {
		f, _ := e.app.Get(ctx, "acme", id)
		if len(f.Assignments) != 0 || f.State() != formations.Ready {
			t.Fatalf("%s after deregistration: %+v", id, f)
		}
	}
	if ids, _ := e.store.SystemFormations(ctx, "acme", "c4c"); len(ids) != 0 {
		t.Fatalf("system index %v", ids)
	}
	_, err = e.app.Assign(ctx, "acme", "k3", sysName("c4c"))
	wantReason(t, err, apperr.SystemNotFound)
}

func TestConcurrentReactionAndAssign(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	for round := range 20 {
		sys := fmt.Sprintf("c%d", round)
		e.dir.put("acme", sys, "sap-cloud-for-customer", formations.SystemPending, 1)
		for _, id := range []string{"a", "b"} {
			fid := fmt.Sprintf("r%d%s", round, id)
			if _, err := e.app.Create(ctx, "acme", formations.CreateInput{ID: fid, DisplayName: fid, Type: kymaType}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.app.Assign(ctx, "acme", fmt.Sprintf("r%da", round), sysName(sys)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := e.app.Assign(ctx, "acme", fmt.Sprintf("r%db", round), sysName(sys)); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if err := e.app.ApplySystemEvent(ctx, formations.SystemEvent{Kind: formations.SystemRegisteredEvent, GlobalAccount: "acme", SystemID: sys, Revision: 2}); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		// Whatever the order, no assignment stays PENDING after the event.
		for _, id := range []string{"a", "b"} {
			f, err := e.app.Get(ctx, "acme", fmt.Sprintf("r%d%s", round, id))
			if err != nil {
				t.Fatal(err)
			}
			if f.State() != formations.Ready {
				t.Fatalf("round %d: %s is %s after system.registered", round, f.ID, f.State())
			}
		}
	}
}

// The schedule: urgent deliveries are claimed first; a claimed (formation,
// system) is not claimed again while its claim holds, even when a newer
// delivery is written for it meanwhile; a released claim lets the newer
// one go, and a claim whose lease ran out (its worker died) comes back.
func TestClaimsUrgentFirstOneAtATime(t *testing.T) {
	e := setup(t)
	ctx := t.Context()
	now := time.Now()
	ref := func(sys string) formations.DeliveryRef {
		return formations.DeliveryRef{GlobalAccount: "acme", FormationID: "f1", SystemID: sys}
	}
	put := func(sys string, due time.Time, urgent bool) {
		t.Helper()
		d := &formations.Delivery{ID: formations.NewWebhookID(), Type: formations.NotifyPeersChanged, SystemID: sys, FormationID: "f1", Due: due}
		if urgent {
			d.Type = formations.NotifyAssignmentCreated
		}
		err := e.store.Commit(ctx, formations.Step{GlobalAccount: "acme", Deliveries: []formations.DeliveryPut{{Ref: ref(sys), Next: d, KeepPlace: true, Urgent: urgent}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	claim := func(at time.Time, max int) []string {
		t.Helper()
		cs, err := e.store.ClaimDue(ctx, at, time.Minute, max)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			s := c.Ref.SystemID
			if c.Delivery != nil && c.Delivery.Urgent {
				s += "!"
			}
			out = append(out, s)
		}
		return out
	}
	put("peer", now.Add(-time.Second), false)
	put("new", now, true)
	if got := claim(now, 1); fmt.Sprint(got) != "[new!]" {
		t.Fatalf("first claim %v, want the urgent [new!]", got)
	}
	put("new", now, false) // a peers.changed replaces it while it is out
	if got := claim(now, 10); fmt.Sprint(got) != "[peer]" {
		t.Fatalf("second claim %v, want [peer] (new is out)", got)
	}
	if err := e.store.Release(ctx, ref("new")); err != nil {
		t.Fatal(err)
	}
	if got := claim(now, 10); fmt.Sprint(got) != "[new!]" {
		t.Fatalf("after the release %v, want [new!]: the newer one, urgent still", got)
	}
	if got := claim(now.Add(2*time.Minute), 10); fmt.Sprint(got) != "[new! peer]" && fmt.Sprint(got) != "[peer new!]" {
		t.Fatalf("after the leases ran out %v, want both again", got)
	}
	if n, _ := e.store.Scheduled(ctx); n != 2 {
		t.Fatalf("%d scheduled, want 2 (both claimed)", n)
	}
}

// TestQuotaCountsEveryState: the quota of formations counts those of every
// state (the indexes of the states together hold them all).
func TestQuotaCountsEveryState(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	e.dir.put("acme", "c4c", "sap-cloud-for-customer", formations.SystemPending, 1)
	e.app.SetMaxFormations(3)
	for i := range 2 {
		if _, err := e.app.Create(ctx, "acme", formations.CreateInput{ID: fmt.Sprintf("q%d", i), DisplayName: fmt.Sprintf("Q %d", i), Type: kymaType}); err != nil {
			t.Fatal(err)
		}
	}
	// q0 becomes PENDING; q1 stays READY.
	if _, err := e.app.Assign(ctx, "acme", "q0", sysName("c4c")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.Create(ctx, "acme", formations.CreateInput{ID: "q2", DisplayName: "Q 2", Type: kymaType}); err != nil {
		t.Fatalf("3rd formation under a quota of 3: %v", err)
	}
	_, err := e.app.Create(ctx, "acme", formations.CreateInput{ID: "q3", DisplayName: "Q 3", Type: kymaType})
	wantReason(t, err, apperr.QuotaExceeded)
}
