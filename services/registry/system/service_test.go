package system_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/services/registry/catalog"
	"github.com/landscape-dev/landscape/services/registry/system"
)

// memRepo is an in-memory system.Repository for unit tests of the
// application service: it keeps systems by global account and id and
// refuses a write with the error queued for it (one per call). The Redis
// store is tested against the same contract in its own package.
type memRepo struct {
	systems  map[string]*system.System
	requests map[string]string
	events   []system.EventKind
	// createErr, saveErrs and deleteErrs refuse the next writes.
	createErr  error
	saveErrs   []error
	deleteErrs []error
}

func newMemRepo() *memRepo {
	return &memRepo{systems: map[string]*system.System{}, requests: map[string]string{}}
}

func (r *memRepo) put(s *system.System) { r.systems[s.GlobalAccount+"/"+s.ID] = s.Clone() }

func pop(errs *[]error) error {
	if len(*errs) == 0 {
		return nil
	}
	err := (*errs)[0]
	*errs = (*errs)[1:]
	return err
}

func (r *memRepo) Create(_ context.Context, s *system.System, requestID string, _ int64, ev system.EventKind) error {
	if err := r.createErr; err != nil {
		r.createErr = nil
		return err
	}
	r.put(s)
	if requestID != "" {
		r.requests[s.GlobalAccount+"/"+requestID] = s.ID
	}
	r.events = append(r.events, ev)
	return nil
}

func (r *memRepo) Get(_ context.Context, ga, id string) (*system.System, error) {
	s, ok := r.systems[ga+"/"+id]
	if !ok {
		return nil, system.ErrNotFound
	}
	return s.Clone(), nil
}

func (r *memRepo) Save(_ context.Context, prev, s *system.System, ev system.EventKind) error {
	if err := pop(&r.saveErrs); err != nil {
		return err
	}
	if cur, ok := r.systems[s.GlobalAccount+"/"+s.ID]; !ok || cur.Revision != prev.Revision {
		return system.ErrRevision
	}
	r.put(s)
	r.events = append(r.events, ev)
	return nil
}

func (r *memRepo) Delete(_ context.Context, prev, _ *system.System, ev system.EventKind) error {
	if err := pop(&r.deleteErrs); err != nil {
		return err
	}
	delete(r.systems, prev.GlobalAccount+"/"+prev.ID)
	r.events = append(r.events, ev)
	return nil
}

func (r *memRepo) List(context.Context, string, system.Filter, int, string) (system.Page, error) {
	return system.Page{}, nil
}

func (r *memRepo) Taken(_ context.Context, ga, id, _ string) (bool, bool, error) {
	_, ok := r.systems[ga+"/"+id]
	return ok, false, nil
}

func (r *memRepo) LookupRequest(_ context.Context, ga, requestID string) (string, error) {
	return r.requests[ga+"/"+requestID], nil
}

func (r *memRepo) ApplyAssignment(_ context.Context, _, _, _ string, _ int64, _, s *system.System) error {
	if s != nil {
		r.put(s)
	}
	return nil
}

func (r *memRepo) WebhookSecrets(context.Context, string, string) ([]system.SealedSecret, error) {
	return nil, nil
}

// tokenLog is the token service as a log of what the registry asked of it.
type tokenLog struct {
	issued, revoked []string // token names; revoked "" is "all of the subject"
	consumed        system.ConsumedToken
}

func (l *tokenLog) Issue(_ context.Context, subject, _ string, ttl time.Duration, _ bool) (system.IssuedToken, error) {
	name := subject + "/integrationTokens/t" + string(rune('0'+len(l.issued)))
	l.issued = append(l.issued, name)
	return system.IssuedToken{Name: name, Secret: "secret-of-" + name, ExpireTime: time.Unix(0, 0).Add(ttl)}, nil
}

func (l *tokenLog) Consume(context.Context, string) (system.ConsumedToken, error) {
	return l.consumed, nil
}

func (l *tokenLog) Revoke(_ context.Context, _ string, name string) error {
	l.revoked = append(l.revoked, name)
	return nil
}

func newService(t *testing.T) (*system.Service, *memRepo, *tokenLog) {
	t.Helper()
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	repo, tokens := newMemRepo(), &tokenLog{}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	svc := system.NewService(repo, tokens, cat, system.Options{MaxSystems: 3, Now: func() time.Time { return now }})
	return svc, repo, tokens
}

func wantReason(t *testing.T, err error, want apperr.Reason) *apperr.Error {
	t.Helper()
	e := apperr.As(err)
	if err == nil || e.Reason != want {
		t.Fatalf("error %v, want %s", err, want)
	}
	return e
}

func register(t *testing.T, svc *system.Service, id string) *system.System {
	t.Helper()
	r, err := svc.Register(t.Context(), system.RegisterInput{GlobalAccount: "ga", SystemID: id, DisplayName: id, Type: "sap-s4hana-cloud"})
	if err != nil {
		t.Fatal(err)
	}
	return r.System
}

// A commit the repository refuses revokes exactly the token issued for it,
// and the refusal becomes the API's error.
func TestRegisterRefusedCommitRevokesItsToken(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		refusal error
		want    apperr.Reason
		md      map[string]string
	}{
		{system.ErrQuotaExceeded, apperr.QuotaExceeded, map[string]string{"globalAccount": "ga", "quota": "3"}},
		{system.ErrNameTaken, apperr.SystemNameTaken, map[string]string{"displayName": "S1"}},
		{system.ErrIDTaken, apperr.SystemIDTaken, map[string]string{"system": "globalAccounts/ga/systems/s1"}},
	} {
		svc, repo, tokens := newService(t)
		repo.createErr = c.refusal
		_, err := svc.Register(t.Context(), system.RegisterInput{GlobalAccount: "ga", SystemID: "s1", DisplayName: "S1", Type: "sap-s4hana-cloud"})
		e := wantReason(t, err, c.want)
		for k, v := range c.md {
			if e.Metadata[k] != v {
				t.Errorf("%v: metadata %v, want %s=%s", c.refusal, e.Metadata, k, v)
			}
		}
		if len(tokens.issued) != 1 || !slices.Equal(tokens.revoked, tokens.issued) {
			t.Errorf("%v: issued %v, revoked %v", c.refusal, tokens.issued, tokens.revoked)
		}
		if len(repo.systems) != 0 {
			t.Errorf("%v: stored %v", c.refusal, repo.systems)
		}
	}
}

// A request id that a concurrent registration took answers with the
// system it created (a fresh token), not with an error.
func TestRegisterRequestTakenReplays(t *testing.T) {
	t.Parallel()
	svc, repo, tokens := newService(t)
	ctx := t.Context()
	winner := register(t, svc, "s1")
	repo.createErr = system.ErrRequestTaken
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	svc = system.NewService(&lateRequests{memRepo: repo, id: winner.ID}, tokens, cat, system.Options{})
	r, err := svc.Register(ctx, system.RegisterInput{GlobalAccount: "ga", RequestID: "req-1", DisplayName: "other", Type: "sap-s4hana-cloud"})
	if err != nil {
		t.Fatal(err)
	}
	if r.System.ID != winner.ID || r.Token.Secret == "" {
		t.Fatalf("replay answered %+v", r)
	}
}

// lateRequests is a concurrent registration with the same request id that
// commits between the lookup and the Create: the id is found only after
// the Create was refused.
type lateRequests struct {
	*memRepo
	id      string
	refused bool
}

func (l *lateRequests) Create(ctx context.Context, s *system.System, rid string, q int64, ev system.EventKind) error {
	err := l.memRepo.Create(ctx, s, rid, q, ev)
	l.refused = l.refused || err != nil
	return err
}

func (l *lateRequests) LookupRequest(context.Context, string, string) (string, error) {
	if l.refused {
		return l.id, nil
	}
	return "", nil
}

func TestGetMissingIsSystemNotFound(t *testing.T) {
	t.Parallel()
	svc, _, _ := newService(t)
	e := wantReason(t, mustErr(svc.Get(t.Context(), "ga", "nope")), apperr.SystemNotFound)
	if e.Metadata["system"] != "globalAccounts/ga/systems/nope" {
		t.Errorf("metadata %v", e.Metadata)
	}
}

func mustErr(_ any, err error) error { return err }

// A concurrent change is retried without an etag (last write wins) and is
// ETAG_MISMATCH with one.
func TestUpdateRetriesOrRefusesAConcurrentChange(t *testing.T) {
	t.Parallel()
	svc, repo, _ := newService(t)
	ctx := t.Context()
	register(t, svc, "s1")
	repo.saveErrs = []error{system.ErrRevision, system.ErrRevision}
	got, err := svc.Update(ctx, system.UpdateInput{GlobalAccount: "ga", ID: "s1", Description: "d1"})
	if err != nil || got.Description != "d1" || got.Revision != 2 || len(repo.saveErrs) != 0 {
		t.Fatalf("update without etag: %+v, %v (left %v)", got, err, repo.saveErrs)
	}
	repo.saveErrs = []error{system.ErrRevision}
	_, err = svc.Update(ctx, system.UpdateInput{GlobalAccount: "ga", ID: "s1", Description: "d2", Etag: "2"})
	wantReason(t, err, apperr.EtagMismatch)
	repo.saveErrs = []error{system.ErrNameTaken}
	_, err = svc.Update(ctx, system.UpdateInput{GlobalAccount: "ga", ID: "s1", DisplayName: "taken"})
	wantReason(t, err, apperr.SystemNameTaken)
}

// A system in a formation is not deregistered and keeps its tokens; a free
// one loses its tokens first, then once more after the commit.
func TestDeregister(t *testing.T) {
	t.Parallel()
	svc, repo, tokens := newService(t)
	ctx := t.Context()
	s := register(t, svc, "s1")
	s.Formations = []string{"globalAccounts/ga/formations/f1"}
	repo.put(s)
	wantReason(t, svc.Deregister(ctx, "ga", "s1"), apperr.SystemInFormation)
	if len(tokens.revoked) != 0 {
		t.Fatalf("revoked %v", tokens.revoked)
	}
	s.Formations = nil
	repo.put(s)
	repo.deleteErrs = []error{system.ErrRevision}
	if err := svc.Deregister(ctx, "ga", "s1"); err != nil {
		t.Fatal(err)
	}
	// Revoked once before the first attempt, once after the commit.
	if !slices.Equal(tokens.revoked, []string{"", ""}) || len(repo.systems) != 0 {
		t.Fatalf("revoked %v, left %v", tokens.revoked, repo.systems)
	}
	if repo.events[len(repo.events)-1] != system.EventDeregistered {
		t.Fatalf("events %v", repo.events)
	}
}

// A pairing that reports another type saves the system in ERROR (with its
// event) and answers SYSTEM_TYPE_MISMATCH; a second pairing is refused.
func TestPairTypeMismatch(t *testing.T) {
	t.Parallel()
	svc, repo, tokens := newService(t)
	ctx := t.Context()
	s := register(t, svc, "s1")
	tokens.consumed = system.ConsumedToken{Name: tokens.issued[0], Subject: s.Name()}
	in := system.PairInput{Token: "secret", SystemType: "sap-commerce-cloud", BaseURL: "https://s1.example.com"}
	wantReason(t, mustErr(svc.Pair(ctx, in)), apperr.SystemTypeMismatch)
	got, _ := repo.Get(ctx, "ga", "s1")
	if got.State != system.Error || got.StateMessage == "" || repo.events[len(repo.events)-1] != system.EventRegistrationFailed {
		t.Fatalf("after mismatch: %+v, events %v", got, repo.events)
	}
	wantReason(t, mustErr(svc.Pair(ctx, in)), apperr.SystemInError)
}

// Assignment events keep System.formations sorted; an event for a system
// that is gone is dropped.
func TestApplyAssignment(t *testing.T) {
	t.Parallel()
	svc, repo, _ := newService(t)
	ctx := t.Context()
	register(t, svc, "s1")
	for _, f := range []string{"globalAccounts/ga/formations/f2", "globalAccounts/ga/formations/f1"} {
		if err := svc.ApplyAssignment(ctx, "ga", "s1", f, 1, true); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := repo.Get(ctx, "ga", "s1")
	if !slices.Equal(got.Formations, []string{"globalAccounts/ga/formations/f1", "globalAccounts/ga/formations/f2"}) {
		t.Fatalf("formations %v", got.Formations)
	}
	if err := svc.ApplyAssignment(ctx, "ga", "gone", "globalAccounts/ga/formations/f1", 1, true); err != nil {
		t.Fatalf("unknown system: %v", err)
	}
}
