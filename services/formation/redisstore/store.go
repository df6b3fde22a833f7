// Package redisstore is the Redis adapter of the formation service: it
// implements formations.Repository with records {rev, data} (data: the
// formation as its proto message, assignments inside), committed with their
// indexes and outbox events in one atomic step (pkg/outbox).
//
// Keys, all under <prefix>:formation:{<ga>}: (see docs/ARCHITECTURE.md):
//
//	formation:<id>                    record {rev, data}
//	name:<lower-case display name>    -> id (unique display names)
//	idx:all, idx:state:<S>, idx:type:<t>, idx:state:<S>:type:<t>
//	                                  lists: members <createTime 20 digits>/<id>, score 0
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
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/services/formation/convert"
	"github.com/landscape-dev/landscape/services/formation/formations"
)

// Context is the service context of the keys and of the outbox.
const Context = "formation"

// Store implements formations.Repository on Redis.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	ob      *outbox.Outbox
	catalog *formations.Catalog
}

var _ formations.Repository = (*Store)(nil)

// New returns a store under the key prefix ("ls" in production).
func New(rdb redis.UniversalClient, prefix string, catalog *formations.Catalog) *Store {
	return &Store{rdb: rdb, prefix: prefix, ob: outbox.New(rdb, prefix, Context), catalog: catalog}
}

// Outbox is the store's outbox, for the relay.
func (s *Store) Outbox() *outbox.Outbox { return s.ob }

// Ping checks that Redis answers (health).
func (s *Store) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

func (s *Store) base(ga string) string { return s.prefix + ":" + Context + ":{" + ga + "}:" }

func (s *Store) recordKey(ga, id string) string { return s.base(ga) + "formation:" + id }
func (s *Store) nameKey(ga, displayName string) string {
	return s.base(ga) + "name:" + resource.NameKey(displayName)
}
func (s *Store) exclusiveKey(ga, ftype, sys string) string {
	return s.base(ga) + "exclusive:" + ftype + ":" + sys
}
func (s *Store) systemFormationsKey(ga, sys string) string {
	return s.base(ga) + "system:" + sys + ":formations"
}
func (s *Store) knownKey(ga, sys string) string { return s.base(ga) + "system:" + sys + ":known" }

// indexKey is the list index of a filter combination.
func (s *Store) indexKey(ga string, f formations.Filter) string {
	switch {
	case f.State != "" && f.Type != "":
		return s.base(ga) + "idx:state:" + string(f.State) + ":type:" + f.Type
	case f.State != "":
		return s.base(ga) + "idx:state:" + string(f.State)
	case f.Type != "":
		return s.base(ga) + "idx:type:" + f.Type
	}
	return s.base(ga) + "idx:all"
}

// indexKeys are the four indexes a formation is in.
func (s *Store) indexKeys(f *formations.Formation) []string {
	st := f.State()
	return []string{
		s.indexKey(f.GlobalAccount, formations.Filter{}),
		s.indexKey(f.GlobalAccount, formations.Filter{State: st}),
		s.indexKey(f.GlobalAccount, formations.Filter{Type: f.Type}),
		s.indexKey(f.GlobalAccount, formations.Filter{State: st, Type: f.Type}),
	}
}

// member orders by create time, then id (which orders names in a global account).
func member(f *formations.Formation) string { return resource.IndexMember(f.CreateTime, f.ID) }

func notFound(ga, id string) error {
	name := resource.FormationName(ga, id)
	return apperr.New(apperr.FormationNotFound, "no such formation: "+name, "formation", name)
}

func decode(rev int64, data []byte) (*formations.Formation, error) {
	var p formationv1.Formation
	if err := proto.Unmarshal(data, &p); err != nil {
		return nil, apperr.Internalf("formation record: %w", err)
	}
	f, ok := convert.FromProto(&p, rev)
	if !ok {
		return nil, apperr.Internalf("formation record: bad name %q", p.GetName())
	}
	return f, nil
}

// Get reads one formation.
func (s *Store) Get(ctx context.Context, ga, id string) (*formations.Formation, error) {
	rev, data, err := outbox.GetRecord(ctx, s.rdb, s.recordKey(ga, id))
	if err != nil {
		return nil, err
	}
	if rev == 0 {
		return nil, notFound(ga, id)
	}
	return decode(rev, data)
}

// GetMany reads formations in one round trip; missing ones are nil.
func (s *Store) GetMany(ctx context.Context, ga string, ids []string) ([]*formations.Formation, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.recordKey(ga, id)
	}
	revs, datas, err := outbox.GetRecords(ctx, s.rdb, keys)
	if err != nil {
		return nil, err
	}
	out := make([]*formations.Formation, len(ids))
	for i := range ids {
		if revs[i] == 0 {
			continue
		}
		if out[i], err = decode(revs[i], datas[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// List reads one page from the index of the filter: one ZRANGE BYLEX from
// the page token's member and one pipelined read of the records.
func (s *Store) List(ctx context.Context, ga string, q formations.ListQuery) ([]*formations.Formation, string, error) {
	start := "-"
	if q.PageToken != "" {
		after, err := resource.ParsePageToken(q.PageToken)
		if err != nil {
			return nil, "", err
		}
		start = "(" + after
	}
	members, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: s.indexKey(ga, q.Filter), Start: start, Stop: "+", ByLex: true, Count: int64(q.PageSize) + 1,
	}).Result()
	if err != nil {
		return nil, "", redisconn.Classify(err)
	}
	next := ""
	if len(members) > q.PageSize {
		members = members[:q.PageSize]
		next = resource.PageToken(members[len(members)-1])
	}
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = resource.MemberID(m)
	}
	fs, err := s.GetMany(ctx, ga, ids)
	if err != nil {
		return nil, "", err
	}
	out := fs[:0]
	for _, f := range fs {
		if f != nil { // deleted between the two reads
			out = append(out, f)
		}
	}
	return out, next, nil
}

// ExclusiveHolder returns the formation of an exclusive type the system is in.
func (s *Store) ExclusiveHolder(ctx context.Context, ga, ftype, sys string) (string, error) {
	v, err := s.rdb.Get(ctx, s.exclusiveKey(ga, ftype, sys)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, redisconn.Classify(err)
}

// SystemFormations lists the ids of the formations the system is in.
func (s *Store) SystemFormations(ctx context.Context, ga, sys string) ([]string, error) {
	ids, err := s.rdb.ZRange(ctx, s.systemFormationsKey(ga, sys), 0, -1).Result()
	return ids, redisconn.Classify(err)
}

// KnownSystem reads what the registry's events said about the system.
func (s *Store) KnownSystem(ctx context.Context, ga, sys string) (formations.KnownSystem, error) {
	v, err := s.rdb.Get(ctx, s.knownKey(ga, sys)).Result()
	return parseKnown(sys, v, err)
}

// SystemView reads KnownSystem and the ids of the system's formations in
// one round trip, then the formations in another.
func (s *Store) SystemView(ctx context.Context, ga, sys string) (formations.KnownSystem, []*formations.Formation, error) {
	var known *redis.StringCmd
	var ids *redis.StringSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
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
	tx := s.ob.Tx()
	kinds := map[string]error{} // expectation key -> error when it fails
	ga := st.GlobalAccount
	for _, p := range st.Puts {
		if err := s.put(tx, kinds, p); err != nil {
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
	for _, ev := range st.Events {
		m, err := message(ga, ev)
		if err != nil {
			return apperr.Internalf("formation event: %w", err)
		}
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

func (s *Store) put(tx *outbox.Tx, kinds map[string]error, p formations.Put) error {
	prev, next := p.Prev, p.Next
	f := next
	if f == nil {
		f = prev
	}
	if f == nil {
		return apperr.Internalf("formation step: empty put")
	}
	ga, id := f.GlobalAccount, f.ID
	ft, ok := s.catalog.Type(f.Type)
	if !ok {
		return apperr.Internalf("formation %s: type %q not in the catalog", id, f.Type)
	}
	rk := s.recordKey(ga, id)
	var prevRev int64
	if prev != nil {
		prevRev = prev.Revision
		kinds[rk] = formations.ErrConflict
	} else {
		name := resource.FormationName(ga, id)
		kinds[rk] = apperr.New(apperr.FormationIDTaken, "a formation with this id exists: "+name, "formation", name)
	}
	tx.ExpectRevision(rk, prevRev)

	// Unique display name.
	if next != nil && (prev == nil || resource.NameKey(prev.DisplayName) != resource.NameKey(next.DisplayName)) {
		nk := s.nameKey(ga, next.DisplayName)
		tx.ExpectAbsentOr(nk, id)
		kinds[nk] = apperr.New(apperr.FormationNameTaken, "another formation has this display name", "displayName", next.DisplayName)
		tx.Set(nk, id, 0)
		if prev != nil {
			tx.Del(s.nameKey(ga, prev.DisplayName))
		}
	}
	if next == nil {
		tx.Del(rk, s.nameKey(ga, prev.DisplayName))
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
		if ft.Exclusive {
			ek := s.exclusiveKey(ga, ft.ID, sys)
			tx.ExpectAbsentOr(ek, id)
			kinds[ek] = apperr.New(apperr.SystemInExclusiveFormation,
				"the system is already in another formation of type "+ft.ID,
				"system", resource.SystemName(ga, sys), "formation", resource.FormationName(ga, id))
			tx.Set(ek, id, 0)
		}
		tx.ZAdd(s.systemFormationsKey(ga, sys), 0, id)
	}
	for _, sys := range minus(before, after) {
		if ft.Exclusive {
			tx.Del(s.exclusiveKey(ga, ft.ID, sys))
		}
		tx.ZRem(s.systemFormationsKey(ga, sys), id)
	}

	// Lists.
	switch {
	case prev == nil:
		for _, k := range s.indexKeys(next) {
			tx.ZAdd(k, 0, member(next))
		}
	case next == nil:
		for _, k := range s.indexKeys(prev) {
			tx.ZRem(k, member(prev))
		}
	case prev.State() != next.State():
		old, cur := s.indexKeys(prev), s.indexKeys(next)
		for i := 1; i < len(old); i++ {
			if old[i] != cur[i] {
				tx.ZRem(old[i], member(prev))
				tx.ZAdd(cur[i], 0, member(next))
			}
		}
	}

	if next != nil {
		data, err := proto.Marshal(convert.Formation(next))
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
