// Package redisstore is the Redis adapter of the formation service: it
// implements formations.Repository with records {rev, data} (data: the
// formation as its proto message, assignments inside), committed with their
// indexes and outbox events in one atomic step (pkg/outbox).
//
// Keys, all under <prefix>:formation:{<ga>}: in the scheme of pkg/keyspace
// (see docs/ARCHITECTURE.md, "Redis keys"):
//
//	formation:<id>                    record {rev, data}
//	name:<lower-case display name>    -> id (unique display names)
//	idx:…                             the list indexes of keyspace, by state and type
//	exclusive:<formationType>:<sys>   -> id of the one formation of an exclusive type the system is in
//	system:<sys>:formations           sorted set of the ids of the formations the system is in
//	system:<sys>:known                "<rev>|<state>|<nonce>": the system's state from events; the guard
//
// Assignments live inside the formation record, so every assign, unassign
// and delete is a compare-and-set on the formation's revision: a concurrent
// assign and delete cannot leave an orphan assignment or index.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/keyspace"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/pkg/telemetry"
	"github.com/landscape-dev/landscape/services/formation/formationpb"
	"github.com/landscape-dev/landscape/services/formation/formations"
)

// Context is the service context of the keys and of the outbox.
const Context = "formation"

// Store implements formations.Repository on Redis.
type Store struct {
	keyspace.Store
}

var _ formations.Repository = (*Store)(nil)

// New returns a store under the key prefix ("ls" in production).
func New(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{keyspace.NewStore(rdb, prefix, Context)}
}

func (s *Store) recordKey(ga, id string) string { return s.Keys.Account(ga).Key("formation", id) }
func (s *Store) exclusiveKey(ga, ftype, sys string) string {
	return s.Keys.Account(ga).Key("exclusive", ftype, sys)
}
func (s *Store) systemFormationsKey(ga, sys string) string {
	return s.Keys.Account(ga).Key("system", sys, "formations")
}
func (s *Store) knownKey(ga, sys string) string {
	return s.Keys.Account(ga).Key("system", sys, "known")
}

// states are the states of the list indexes: together their indexes hold
// every formation of a global account.
var states = []string{string(formations.Ready), string(formations.Pending), string(formations.Error), string(formations.Synchronizing)}

// indexKeys are the sorted sets a filter reads.
func (s *Store) indexKeys(ga string, f formations.Filter) []string {
	return s.Keys.Account(ga).Indexes(states, string(f.State), f.Type)
}

// entry is where a formation stands in the list indexes (by its derived state).
func (s *Store) entry(f *formations.Formation) keyspace.Entry {
	return s.Keys.Account(f.GlobalAccount).Entry(string(f.State()), f.Type, f.CreateTime, f.ID)
}

func decode(rev int64, data []byte) (*formations.Formation, error) {
	var p formationv1.Formation
	if err := proto.Unmarshal(data, &p); err != nil {
		return nil, apperr.Internalf("formation record: %w", err)
	}
	f, ok := formationpb.FromProto(&p, rev)
	if !ok {
		return nil, apperr.Internalf("formation record: bad name %q", p.GetName())
	}
	return f, nil
}

// Get reads one formation, whole in one round trip (a formation with a
// few members and their configurations outgrows the first read of
// outbox.GetRecord).
func (s *Store) Get(ctx context.Context, ga, id string) (*formations.Formation, error) {
	rev, data, err := outbox.WholeRecord(outbox.ReadWholeRecord(ctx, s.Redis, s.recordKey(ga, id)))
	if err != nil {
		return nil, err
	}
	if rev == 0 {
		return nil, formations.ErrNotFound
	}
	return decode(rev, data)
}

// GetMany reads formations in one round trip, in the order of ids;
// missing ones are left out.
func (s *Store) GetMany(ctx context.Context, ga string, ids []string) ([]*formations.Formation, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.recordKey(ga, id)
	}
	return keyspace.Records(ctx, s.Redis, keys, decode)
}

// List reads one page from the indexes of the filter: one ZRANGE BYLEX
// from the page token's member per index (one with a state, one per state
// without) and one pipelined read of the records (a formation deleted
// between the two reads is left out).
func (s *Store) List(ctx context.Context, ga string, q formations.ListQuery) ([]*formations.Formation, string, error) {
	key := func(id string) string { return s.recordKey(ga, id) }
	return keyspace.List(ctx, s.Redis, s.indexKeys(ga, q.Filter), q.PageSize, q.PageToken, key, decode)
}

// ExclusiveHolder returns the formation of an exclusive type the system is in.
func (s *Store) ExclusiveHolder(ctx context.Context, ga, ftype, sys string) (string, error) {
	v, err := s.Redis.Get(ctx, s.exclusiveKey(ga, ftype, sys)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, redisconn.Classify(err)
}

// SystemFormations lists the ids of the formations the system is in.
func (s *Store) SystemFormations(ctx context.Context, ga, sys string) ([]string, error) {
	ids, err := s.Redis.ZRange(ctx, s.systemFormationsKey(ga, sys), 0, -1).Result()
	return ids, redisconn.Classify(err)
}

// KnownSystem reads what the registry's events said about the system.
func (s *Store) KnownSystem(ctx context.Context, ga, sys string) (formations.KnownSystem, error) {
	v, err := s.Redis.Get(ctx, s.knownKey(ga, sys)).Result()
	return parseKnown(sys, v, err)
}

// SystemView reads KnownSystem and the ids of the system's formations in
// one round trip, then the formations in another.
func (s *Store) SystemView(ctx context.Context, ga, sys string) (formations.KnownSystem, []*formations.Formation, error) {
	var known *redis.StringCmd
	var ids *redis.StringSliceCmd
	_, err := s.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		known = p.Get(ctx, s.knownKey(ga, sys))
		ids = p.ZRange(ctx, s.systemFormationsKey(ga, sys), 0, -1)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return formations.KnownSystem{}, nil, redisconn.Classify(err)
	}
	k, err := parseKnown(sys, known.Val(), known.Err())
	if err != nil {
		return k, nil, err
	}
	fs, err := s.GetMany(ctx, ga, ids.Val())
	return k, fs, err
}

func parseKnown(sys, v string, err error) (formations.KnownSystem, error) {
	if errors.Is(err, redis.Nil) {
		return formations.KnownSystem{}, nil
	}
	if err != nil {
		return formations.KnownSystem{}, redisconn.Classify(err)
	}
	parts := strings.SplitN(v, "|", 3)
	if len(parts) != 3 {
		return formations.KnownSystem{}, apperr.Internalf("known system %s: bad value", sys)
	}
	rev, _ := strconv.ParseInt(parts[0], 10, 64)
	return formations.KnownSystem{Revision: rev, State: formations.SystemState(parts[1]), Version: v}, nil
}

// Commit writes a step atomically; see formations.Repository.
func (s *Store) Commit(ctx context.Context, st formations.Step) error {
	tx := s.Box.Tx()
	kinds := map[string]error{} // expectation key -> error when it fails
	ga := st.GlobalAccount
	for _, p := range st.Puts {
		if err := s.put(tx, kinds, p, st.Quota); err != nil {
			return err
		}
	}
	if g := st.Guard; g != nil {
		k := s.knownKey(g.GlobalAccount, g.SystemID)
		if g.Expect.Version == "" {
			tx.ExpectAbsentOr(k, "")
		} else {
			tx.ExpectEqual(k, g.Expect.Version)
		}
		kinds[k] = formations.ErrConflict
		tx.Set(k, fmt.Sprintf("%d|%s|%s", g.Set.Revision, g.Set.State, cloudevent.NewID(timeOf(st))), 0)
	}
	msgs := make([]cloudevent.Message, len(st.Events))
	for i, ev := range st.Events {
		m, err := message(ga, ev)
		if err != nil {
			return apperr.Internalf("formation event: %w", err)
		}
		msgs[i] = m
	}
	if err := s.putDeliveries(tx, kinds, st, causes(st, msgs), telemetry.Traceparent(ctx)); err != nil {
		return err
	}
	for _, m := range msgs {
		tx.Emit(m)
	}
	err := tx.Commit(ctx)
	if c, ok := outbox.IsConflict(err); ok {
		if e, ok := kinds[c.Key]; ok {
			return e
		}
		return formations.ErrConflict
	}
	return err
}

func (s *Store) put(tx *outbox.Tx, kinds map[string]error, p formations.Put, quota int64) error {
	prev, next := p.Prev, p.Next
	f := next
	if f == nil {
		f = prev
	}
	if f == nil {
		return apperr.Internalf("formation step: empty put")
	}
	ga, id := f.GlobalAccount, f.ID
	rk := s.recordKey(ga, id)
	var prevRev int64
	if prev != nil {
		prevRev = prev.Revision
		kinds[rk] = formations.ErrConflict
	} else {
		kinds[rk] = formations.ErrIDTaken
	}
	tx.ExpectRevision(rk, prevRev)
	if prev == nil && quota > 0 {
		// Every formation of the global account is in the index of its
		// state (score 0).
		all := s.indexKeys(ga, formations.Filter{})
		tx.ExpectCountBelow(all, 0, quota)
		kinds[all[0]] = formations.ErrQuotaExceeded
	}

	// Unique display name.
	if next != nil && (prev == nil || resource.NameKey(prev.DisplayName) != resource.NameKey(next.DisplayName)) {
		nk := s.NameKey(ga, next.DisplayName)
		tx.ExpectAbsentOr(nk, id)
		kinds[nk] = formations.ErrNameTaken
		tx.Set(nk, id, 0)
		if prev != nil {
			tx.Del(s.NameKey(ga, prev.DisplayName))
		}
	}
	if next == nil {
		tx.Del(rk, s.NameKey(ga, prev.DisplayName))
	}

	// Exclusive membership and the per-system index.
	var before, after []string
	if prev != nil {
		for _, a := range prev.Assignments {
			before = append(before, a.SystemID)
		}
	}
	if next != nil {
		for _, a := range next.Assignments {
			after = append(after, a.SystemID)
		}
	}
	for _, sys := range minus(after, before) {
		if p.Exclusive {
			ek := s.exclusiveKey(ga, f.Type, sys)
			tx.ExpectAbsentOr(ek, id)
			kinds[ek] = formations.ErrExclusive
			tx.Set(ek, id, 0)
		}
		tx.ZAdd(s.systemFormationsKey(ga, sys), 0, id)
	}
	for _, sys := range minus(before, after) {
		if p.Exclusive {
			tx.Del(s.exclusiveKey(ga, f.Type, sys))
		}
		tx.ZRem(s.systemFormationsKey(ga, sys), id)
	}

	// Lists.
	switch {
	case prev == nil:
		s.entry(next).Add(tx)
	case next == nil:
		s.entry(prev).Remove(tx)
	case prev.State() != next.State():
		s.entry(next).Move(tx, s.entry(prev))
	}

	if next != nil {
		data, err := proto.Marshal(formationpb.Formation(next))
		if err != nil {
			return apperr.Internalf("encode formation: %w", err)
		}
		tx.PutRecord(rk, next.Revision, data)
	}
	return nil
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		found := false
		for _, y := range b {
			if x == y {
				found = true
				break
			}
		}
		if !found {
			out = append(out, x)
		}
	}
	return out
}
