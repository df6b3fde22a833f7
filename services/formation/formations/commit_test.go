package formations

import (
	"context"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

// refusing is a repository whose every commit is refused with err; it
// records the last step. Other methods are not called by these tests.
type refusing struct {
	Repository
	err  error
	step Step
}

func (r *refusing) Commit(_ context.Context, s Step) error { r.step = s; return r.err }

func (r *refusing) Get(context.Context, string, string) (*Formation, error) { return nil, r.err }

func TestRepositoryRefusalsBecomeAPIErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const kyma, eventing = "side-by-side-extensibility-with-kyma", "eventing-between-sap-cloud-systems"
	f := &Formation{GlobalAccount: "ga", ID: "f1", DisplayName: "F", Type: eventing, Revision: 1, CreateTime: time.Unix(1, 0)}
	joined := f.Clone()
	joined.Assignments = []Assignment{{SystemID: "s1"}}
	renamed := f.Clone()
	renamed.DisplayName = "G"
	for _, c := range []struct {
		name string
		err  error
		step Step
		want apperr.Reason
		md   map[string]string
	}{
		{"quota", ErrQuotaExceeded, Step{GlobalAccount: "ga", Quota: 7, Puts: []Put{{Next: f}}},
			apperr.QuotaExceeded, map[string]string{"globalAccount": "ga", "quota": "7"}},
		{"id", ErrIDTaken, Step{Puts: []Put{{Next: f}}},
			apperr.FormationIDTaken, map[string]string{"formation": "globalAccounts/ga/formations/f1"}},
		{"name", ErrNameTaken, Step{Puts: []Put{{Prev: f, Next: renamed}}},
			apperr.FormationNameTaken, map[string]string{"displayName": "G"}},
		{"exclusive", ErrExclusive, Step{Puts: []Put{{Prev: f, Next: joined}}},
			apperr.SystemInExclusiveFormation, map[string]string{"system": "globalAccounts/ga/systems/s1", "formation": "globalAccounts/ga/formations/f1"}},
	} {
		repo := &refusing{err: c.err}
		s := NewService(repo, nil, DefaultCatalog(), nil)
		err := s.commit(ctx, c.step)
		e := apperr.As(err)
		if e.Reason != c.want {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
			continue
		}
		for k, v := range c.md {
			if e.Metadata[k] != v {
				t.Errorf("%s: metadata %v, want %s=%s", c.name, e.Metadata, k, v)
			}
		}
	}

	// A conflict is passed on for the caller's retry; a missing formation
	// is FORMATION_NOT_FOUND.
	s := NewService(&refusing{err: ErrConflict}, nil, DefaultCatalog(), nil)
	if err := s.commit(ctx, Step{Puts: []Put{{Next: f}}}); err != ErrConflict {
		t.Errorf("conflict: %v", err)
	}
	s = NewService(&refusing{err: ErrNotFound}, nil, DefaultCatalog(), nil)
	if _, err := s.Get(ctx, "ga", "f1"); apperr.ReasonOf(err) != apperr.FormationNotFound {
		t.Errorf("get: %v", err)
	}

	// The service marks the puts of exclusive types from the catalog.
	repo := &refusing{}
	s = NewService(repo, nil, DefaultCatalog(), nil)
	for typ, want := range map[string]bool{eventing: true, kyma: false} {
		if _, err := s.Create(ctx, "ga", CreateInput{DisplayName: "X", Type: typ}); err != nil {
			t.Fatal(err)
		}
		if got := repo.step.Puts[0].Exclusive; got != want {
			t.Errorf("%s: Exclusive = %v, want %v", typ, got, want)
		}
	}
}
