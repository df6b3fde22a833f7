package formations

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/pkg/retry"
)

// Service is the application service: the commands and queries of the
// FormationService, transport-neutral.
type Service struct {
	repo    Repository
	dir     Directory
	catalog *Catalog
	quota   int64
	now     func() time.Time
	integ   Integration
}

// DefaultMaxFormations is the default quota of formations per global
// account: a stolen admin JWT cannot grow the shared Redis without bound.
const DefaultMaxFormations = 1000

// NewService builds the application service. now nil means time.Now.
func NewService(repo Repository, dir Directory, catalog *Catalog, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{repo: repo, dir: dir, catalog: catalog, quota: DefaultMaxFormations, now: now, integ: Integration{}.withDefaults()}
}

// SetMaxFormations sets the quota of formations per global account
// (DefaultMaxFormations unless set; n <= 0 keeps the current one).
func (s *Service) SetMaxFormations(n int64) {
	if n > 0 {
		s.quota = n
	}
}

// Catalog is the formation type catalog.
func (s *Service) Catalog() *Catalog { return s.catalog }

func (s *Service) clock() time.Time { return s.now().UTC() }

// get reads a formation; a missing one is FORMATION_NOT_FOUND.
func (s *Service) get(ctx context.Context, ga, id string) (*Formation, error) {
	f, err := s.repo.Get(ctx, ga, id)
	if errors.Is(err, ErrNotFound) {
		return nil, formationNotFound(ga, id)
	}
	return f, err
}

func formationNotFound(ga, id string) error {
	name := resource.FormationName(ga, id)
	return apperr.New(apperr.FormationNotFound, "no such formation: "+name, "formation", name)
}

// commit writes a step: it marks the puts of exclusive formation types,
// so that the repository holds their systems in one formation of the type,
// turns the repository's refusals into the API's errors, and tells the
// local engine when the step scheduled deliveries. ErrConflict is
// returned as it is (the caller retries).
func (s *Service) commit(ctx context.Context, step Step) error {
	for i, p := range step.Puts {
		f := p.Next
		if f == nil {
			f = p.Prev
		}
		if f == nil {
			return apperr.Internalf("formation step: empty put")
		}
		ft, ok := s.catalog.Type(f.Type)
		if !ok {
			return apperr.Internalf("formation %s: type %q not in the catalog", f.ID, f.Type)
		}
		step.Puts[i].Exclusive = ft.Exclusive
	}
	err := s.repo.Commit(ctx, step)
	switch {
	case err == nil:
		s.scheduled(step)
		return nil
	case errors.Is(err, ErrConflict):
		return err
	case errors.Is(err, ErrQuotaExceeded):
		q := strconv.FormatInt(step.Quota, 10)
		return apperr.New(apperr.QuotaExceeded, "the global account holds its quota of "+q+" formations; delete one first",
			"globalAccount", step.GlobalAccount, "quota", q)
	}
	for _, p := range step.Puts {
		switch {
		case p.Next == nil:
		case errors.Is(err, ErrIDTaken) && p.Prev == nil:
			name := p.Next.Name()
			return apperr.New(apperr.FormationIDTaken, "a formation with this id exists: "+name, "formation", name)
		case errors.Is(err, ErrNameTaken) && (p.Prev == nil || resource.NameKey(p.Prev.DisplayName) != resource.NameKey(p.Next.DisplayName)):
			return apperr.New(apperr.FormationNameTaken, "another formation has this display name", "displayName", p.Next.DisplayName)
		case errors.Is(err, ErrExclusive) && p.Exclusive:
			if sys, ok := joined(p); ok {
				f := p.Next
				return apperr.New(apperr.SystemInExclusiveFormation, "the system is already in another formation of type "+f.Type,
					"system", resource.SystemName(f.GlobalAccount, sys), "formation", f.Name())
			}
		}
	}
	return err
}

// joined returns the first system that a put adds to its formation.
func joined(p Put) (string, bool) {
	for _, a := range p.Next.Assignments {
		if p.Prev == nil || p.Prev.Assignment(a.SystemID) < 0 {
			return a.SystemID, true
		}
	}
	return "", false
}

// CreateInput is a new formation as the caller gave it.
type CreateInput struct {
	ID          string // optional
	DisplayName string
	Type        string
	Environment Environment
}

// Create creates an empty formation.
func (s *Service) Create(ctx context.Context, ga string, in CreateInput) (*Formation, error) {
	var v apperr.Violations
	if msg := resource.ValidateDisplayName(in.DisplayName); msg != "" {
		v.Add("formation.displayName", msg)
	}
	if in.Type == "" {
		v.Add("formation.formationType", "required")
	}
	if in.ID != "" && !resource.ValidID(in.ID) {
		v.Add("formationId", "must match "+resource.IDPattern)
	}
	if !in.Environment.Valid() {
		v.Add("environment", "must be CLOUD_FOUNDRY or KYMA")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	ft, ok := s.catalog.Type(in.Type)
	if !ok {
		return nil, apperr.New(apperr.FormationTypeUnknown, "unknown formation type "+in.Type, "formationType", in.Type)
	}
	env := in.Environment
	if ft.Environment != NoEnvironment {
		if env == NoEnvironment {
			env = ft.Environment
		} else if env != ft.Environment {
			return nil, apperr.Invalid("environment", "formation type "+ft.ID+" fixes the environment to "+string(ft.Environment))
		}
	}
	for attempt := 0; ; attempt++ {
		id := in.ID
		if id == "" {
			id = resource.NewID('f')
		}
		now := s.clock()
		f := &Formation{
			GlobalAccount: ga, ID: id, DisplayName: in.DisplayName, Type: ft.ID, Environment: env,
			CreateTime: now, UpdateTime: now,
		}
		b := newBuilder(f, 0, now)
		b.add(FormationCreated, Assignment{}, "")
		b.finish()
		err := s.commit(ctx, Step{GlobalAccount: ga, Quota: s.quota, Puts: []Put{{Next: f}}, Events: b.events})
		if in.ID == "" && errors.Is(err, apperr.New(apperr.FormationIDTaken, "")) && attempt < 3 {
			continue // a generated id collided: draw another
		}
		if err != nil {
			return nil, err
		}
		return f, nil
	}
}

// Get returns one formation.
func (s *Service) Get(ctx context.Context, ga, id string) (*Formation, error) {
	return s.get(ctx, ga, id)
}

// List returns a page of formations ordered by create time then name.
func (s *Service) List(ctx context.Context, ga string, pageSize int, pageToken, filter string) ([]*Formation, string, error) {
	pageSize, err := resource.PageSize(pageSize)
	if err != nil {
		return nil, "", err
	}
	f, err := ParseFilter(filter, s.catalog)
	if err != nil {
		return nil, "", err
	}
	return s.repo.List(ctx, ga, ListQuery{Filter: f, PageSize: pageSize, PageToken: pageToken})
}

// UpdateInput is an update of a formation: only the display name changes.
type UpdateInput struct {
	DisplayName *string // nil: unchanged
	Etag        string  // "" or the current etag
}

// Update changes a formation's display name.
func (s *Service) Update(ctx context.Context, ga, id string, in UpdateInput) (*Formation, error) {
	if in.DisplayName != nil {
		if msg := resource.ValidateDisplayName(*in.DisplayName); msg != "" {
			return nil, apperr.Invalid("formation.displayName", msg)
		}
	}
	return retry.OnConflict(ctx, ErrConflict, func() (*Formation, error) {
		f, err := s.get(ctx, ga, id)
		if err != nil {
			return nil, err
		}
		if in.Etag != "" && in.Etag != strconv.FormatInt(f.Revision, 10) {
			return nil, apperr.New(apperr.EtagMismatch, "the formation changed since it was read; read it again", "formation", f.Name())
		}
		if in.DisplayName == nil || *in.DisplayName == f.DisplayName {
			return f, nil
		}
		now := s.clock()
		next := f.Clone()
		next.DisplayName = *in.DisplayName
		next.UpdateTime = now
		b := newBuilder(next, f.Revision, now)
		b.add(FormationUpdated, Assignment{}, "")
		b.finish()
		return next, s.commit(ctx, Step{GlobalAccount: ga, Puts: []Put{{Prev: f, Next: next}}, Events: b.events})
	})
}

// Delete removes a formation's assignments (each published as
// assignment.deleted), then the formation, in one step.
func (s *Service) Delete(ctx context.Context, ga, id string) error {
	_, err := retry.OnConflict(ctx, ErrConflict, func() (*Formation, error) {
		f, err := s.get(ctx, ga, id)
		if err != nil {
			return nil, err
		}
		now := s.clock()
		gone := f.Clone()
		gone.Assignments = nil
		gone.UpdateTime = now
		b := newBuilder(gone, f.Revision, now)
		step := Step{GlobalAccount: ga, Puts: []Put{{Prev: f}}}
		for _, a := range f.Assignments {
			b.add(AssignmentDeleted, a, "")
			if a.Webhook {
				notify(&step, f, a.SystemID, NotifyAssignmentDeleted, 0, now)
			}
		}
		b.add(FormationDeleted, Assignment{}, "")
		b.finish()
		step.Events = b.events
		if err := s.commit(ctx, step); err != nil {
			return nil, err
		}
		return nil, nil
	})
	return err
}

// Assign assigns the system named systemName to a formation, checking the
// rules of docs/API.md, "Formations" in order.
func (s *Service) Assign(ctx context.Context, ga, id, systemName string) (*Formation, error) {
	sga, sid, err := resource.ParseSystemName("system", systemName)
	if err != nil {
		return nil, err
	}
	// 1: the system exists in the same global account.
	if sga != ga {
		if _, err := s.get(ctx, ga, id); err != nil {
			return nil, err
		}
		return nil, apperr.New(apperr.SystemNotFound, "no such system in this global account", "system", systemName)
	}
	// Read the system from the registry while reading the formation; a
	// missing formation is reported first.
	type sysResult struct {
		sys System
		err error
	}
	sysc := make(chan sysResult, 1)
	go func() {
		sys, err := s.dir.GetSystem(ctx, ga, sid)
		sysc <- sysResult{sys, err}
	}()
	f, err := s.get(ctx, ga, id)
	r := <-sysc
	if err != nil {
		return nil, err
	}
	sys := r.sys
	if r.err != nil {
		return nil, r.err
	}
	st, ok, err := s.dir.SystemType(ctx, sys.Type)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, apperr.Internalf("system %s has type %q, unknown to the registry's catalog", systemName, sys.Type)
	}
	ft, ok := s.catalog.Type(f.Type)
	if !ok {
		return nil, apperr.Internalf("formation %s has type %q, not in the catalog", f.Name(), f.Type)
	}
	first := true
	return retry.OnConflict(ctx, ErrConflict, func() (*Formation, error) {
		if !first {
			if f, err = s.get(ctx, ga, id); err != nil {
				return nil, err
			}
		}
		first = false
		known, err := s.repo.KnownSystem(ctx, ga, sid)
		if err != nil {
			return nil, err
		}
		// The registry's answer, or what a newer event said since.
		view := sys
		if known.State != "" && known.Revision >= sys.Revision {
			view.State, view.Revision = known.State, known.Revision
		}
		if view.State == SystemDeregistered {
			return nil, apperr.New(apperr.SystemNotFound, "no such system in this global account", "system", systemName)
		}
		holder := ""
		if ft.Exclusive {
			if holder, err = s.repo.ExclusiveHolder(ctx, ga, ft.ID, sid); err != nil {
				return nil, err
			}
		}
		state, api, err := CheckAssign(AssignInput{Formation: f, FormationType: ft, System: view, SystemType: st, ExclusiveHolder: holder})
		if err != nil {
			return nil, err
		}
		now := s.clock()
		a := Assignment{SystemID: sid, SystemType: sys.Type, State: state, APIAccessEnabled: api, AssignTime: now,
			Webhook: sys.Webhook != nil}
		step := Step{
			GlobalAccount: ga,
			Guard:         &Guard{GlobalAccount: ga, SystemID: sid, Expect: known, Set: KnownSystem{Revision: known.Revision, State: known.State}},
		}
		next := f.Clone()
		if a.Webhook && a.State == Ready {
			a.State = Synchronizing
			notify(&step, next, sid, NotifyAssignmentCreated, 0, now)
		}
		next.Assignments = append(next.Assignments, a)
		next.UpdateTime = now
		b := newBuilder(next, f.Revision, now)
		b.add(AssignmentCreated, a, "")
		notifyPeers(&step, b, next, sid, 0, now)
		b.close(&step, f)
		if err := s.commit(ctx, step); err != nil {
			return nil, err
		}
		return next, nil
	})
}

// Unassign removes the system named systemName from a formation.
func (s *Service) Unassign(ctx context.Context, ga, id, systemName string) (*Formation, error) {
	_, sid, err := resource.ParseSystemName("system", systemName)
	if err != nil {
		return nil, err
	}
	return retry.OnConflict(ctx, ErrConflict, func() (*Formation, error) {
		f, err := s.get(ctx, ga, id)
		if err != nil {
			return nil, err
		}
		i := f.Assignment(sid)
		if i < 0 || resource.SystemName(ga, sid) != systemName {
			return nil, apperr.New(apperr.SystemNotAssigned, "the system is not assigned to this formation",
				"formation", f.Name(), "system", systemName)
		}
		now := s.clock()
		next := f.Clone()
		a := next.Assignments[i]
		next.Assignments = slices.Delete(next.Assignments, i, i+1)
		next.UpdateTime = now
		b := newBuilder(next, f.Revision, now)
		b.add(AssignmentDeleted, a, "")
		step := Step{GlobalAccount: ga}
		if a.Webhook {
			notify(&step, next, sid, NotifyAssignmentDeleted, 0, now)
		}
		notifyPeers(&step, b, next, sid, 0, now)
		b.close(&step, f)
		if err := s.commit(ctx, step); err != nil {
			return nil, err
		}
		return next, nil
	})
}

// ApplySystemEvent reacts to a registry event: registered turns every
// assignment of the system READY with API access on, registration_failed
// turns them ERROR, registration_restarted turns ERROR ones back to
// PENDING, deregistered removes them. All formations of the system change
// in one step that also records the event's revision as the system's
// KnownSystem (guarded), so a replayed or stale event changes nothing and a
// retry after a failure is safe.
func (s *Service) ApplySystemEvent(ctx context.Context, ev SystemEvent) error {
	_, err := retry.OnConflict(ctx, ErrConflict, func() (*Formation, error) {
		known, fs, err := s.repo.SystemView(ctx, ev.GlobalAccount, ev.SystemID)
		if err != nil {
			return nil, err
		}
		if known.State != "" && known.Revision >= ev.Revision {
			return nil, nil // stale or repeated
		}
		if err := resource.CheckRevision(ev.Revision, known.Revision); err != nil {
			return nil, err // not applied: the subscriber dead-letters it
		}
		now := s.clock()
		step := Step{
			GlobalAccount: ev.GlobalAccount,
			Guard: &Guard{GlobalAccount: ev.GlobalAccount, SystemID: ev.SystemID, Expect: known,
				Set: KnownSystem{Revision: ev.Revision, State: systemStateAfter(ev.Kind)}},
		}
		for _, f := range fs {
			if f == nil {
				continue
			}
			i := f.Assignment(ev.SystemID)
			if i < 0 {
				continue
			}
			old := f.Assignments[i]
			na, keep := react(old, ev.Kind)
			if keep && ev.Kind == SystemRegisteredEvent && ev.Webhook {
				na.Webhook, na.State = true, Synchronizing
			}
			if keep && sameAssignment(na, old) {
				continue
			}
			next := f.Clone()
			next.UpdateTime = now
			b := newBuilder(next, f.Revision, now)
			if keep {
				next.Assignments[i] = na
				b.add(AssignmentStateChanged, na, old.State)
				if na.State == Synchronizing && old.State != Synchronizing {
					notify(&step, next, ev.SystemID, NotifyAssignmentCreated, 0, now)
					notifyPeers(&step, b, next, ev.SystemID, 0, now)
				}
			} else {
				next.Assignments = slices.Delete(next.Assignments, i, i+1)
				b.add(AssignmentDeleted, old, "")
				notifyPeers(&step, b, next, ev.SystemID, 0, now)
			}
			b.close(&step, f)
		}
		if err := s.commit(ctx, step); err != nil {
			return nil, err
		}
		return nil, nil
	})
	return err
}

// builder numbers a step's events: each gets the formation's next revision.
type builder struct {
	f      *Formation
	rev    int64
	now    time.Time
	events []Event
}

func newBuilder(f *Formation, rev int64, now time.Time) *builder {
	return &builder{f: f, rev: rev, now: now}
}

func (b *builder) add(kind EventKind, a Assignment, prev State) {
	b.rev++
	b.events = append(b.events, Event{Kind: kind, Revision: b.rev, Formation: b.f, Assignment: a, PreviousState: prev, Time: b.now})
}

// stateChange adds formation.state_changed when the derived state moved.
func (b *builder) stateChange(prev State) {
	if cur := b.f.State(); cur != prev {
		b.add(FormationStateChanged, Assignment{}, prev)
	}
}

// finish sets the formation's revision to the last event's.
func (b *builder) finish() { b.f.Revision = b.rev }

// close ends the change of prev into the builder's formation: it adds
// formation.state_changed when the derived state moved, sets the
// revision, and adds the put and its events to step.
func (b *builder) close(step *Step, prev *Formation) {
	b.stateChange(prev.State())
	b.finish()
	step.Puts = append(step.Puts, Put{Prev: prev, Next: b.f})
	step.Events = append(step.Events, b.events...)
}
