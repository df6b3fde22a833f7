// Package redisstore is the registry's Redis adapter: it implements
// system.Repository with records, indexes and outbox events written in one
// atomic step (pkg/outbox), in the key scheme of docs/ARCHITECTURE.md:
//
//	<prefix>:registry:{<ga>}:system:<id>             record {rev, data}
//	<prefix>:registry:{<ga>}:name:<folded name>      -> id (unique display names)
//	<prefix>:registry:{<ga>}:request:<requestId>     -> id, 24 hours
//	<prefix>:registry:{<ga>}:idx:all                 sorted sets, score 0,
//	<prefix>:registry:{<ga>}:idx:state:<S>           members <createTime ns, 20 digits>/<id>
//	<prefix>:registry:{<ga>}:idx:type:<t>
//	<prefix>:registry:{<ga>}:idx:state:<S>:type:<t>
//	<prefix>:registry:{<ga>}:applied:<id>:<formation> last formation revision applied
package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/services/registry/system"
	"github.com/landscape-dev/landscape/services/registry/systempb"
)

// Context is the registry's service context (keys, outbox, events).
const Context = "registry"

// AppliedRetention is how long the last applied formation revision of a
// (system, formation) is kept: longer than the event streams keep events
// (7 days), so no replay can outlive it, while the keys of deregistered
// systems and deleted formations go away.
const AppliedRetention = 8 * 24 * time.Hour

// Store implements system.Repository on Redis.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	ob     *outbox.Outbox
}

var _ system.Repository = (*Store)(nil)

// New returns a store under the key prefix ("ls" in production).
func New(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, prefix: prefix, ob: outbox.New(rdb, prefix, Context)}
}

// Outbox is the registry's outbox (for the relay).
func (s *Store) Outbox() *outbox.Outbox { return s.ob }

func (s *Store) base(ga string) string { return s.prefix + ":" + Context + ":{" + ga + "}:" }

// SystemKey is the key of a system record.
func (s *Store) SystemKey(ga, id string) string { return s.base(ga) + "system:" + id }

func (s *Store) nameKey(ga, displayName string) string {
	return s.base(ga) + "name:" + resource.NameKey(displayName)
}

func (s *Store) requestKey(ga, rid string) string { return s.base(ga) + "request:" + rid }

func (s *Store) appliedKey(ga, id, formation string) string {
	return s.base(ga) + "applied:" + id + ":" + formation
}

// indexKey is the sorted set of a filter.
func (s *Store) indexKey(ga string, f system.Filter) string {
	k := s.base(ga) + "idx:"
	switch {
	case f.State != system.StateUnspecified && f.Type != "":
		return k + "state:" + f.State.String() + ":type:" + f.Type
	case f.State != system.StateUnspecified:
		return k + "state:" + f.State.String()
	case f.Type != "":
		return k + "type:" + f.Type
	}
	return k + "all"
}

// indexKeys are the four sorted sets a system is in.
func (s *Store) indexKeys(sys *system.System) []string {
	return []string{
		s.indexKey(sys.GlobalAccount, system.Filter{}),
		s.indexKey(sys.GlobalAccount, system.Filter{State: sys.State}),
		s.indexKey(sys.GlobalAccount, system.Filter{Type: sys.Type}),
		s.indexKey(sys.GlobalAccount, system.Filter{State: sys.State, Type: sys.Type}),
	}
}

// member orders by create time, then id (which orders names in a global account).
func member(sys *system.System) string { return resource.IndexMember(sys.CreateTime, sys.ID) }

// encode returns the record data of sys and its message for the event
// (converted once): the data holds no etag, as the revision is the
// record's rev field; the message has it.
func encode(sys *system.System) ([]byte, *registryv1.System, error) {
	m := systempb.System(sys)
	m.Etag = ""
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, nil, apperr.Internalf("encode system: %w", err)
	}
	m.Etag = sys.Etag()
	return b, m, nil
}

func decode(rev int64, data []byte) (*system.System, error) {
	var m registryv1.System
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, apperr.Internalf("decode system: %w", err)
	}
	sys, err := systempb.FromSystem(&m, rev)
	if err != nil {
		return nil, apperr.Internalf("decode system: %w", err)
	}
	return sys, nil
}

// emit adds to tx the event kind about sys; pm is systempb.System(sys).
func (s *Store) emit(tx *outbox.Tx, kind system.EventKind, sys *system.System, pm *registryv1.System) error {
	payload, err := systempb.Event(kind, sys.Revision, pm)
	if err != nil {
		return apperr.Internalf("%w", err)
	}
	msg, err := cloudevent.New(cloudevent.Spec{Context: Context, Name: string(kind)}, sys.GlobalAccount, sys.Name(), payload, sys.UpdateTime)
	if err != nil {
		return apperr.Internalf("%w", err)
	}
	tx.Emit(msg)
	return nil
}

// Create stores a new system with its indexes, name and request id.
func (s *Store) Create(ctx context.Context, sys *system.System, requestID string, ev system.EventKind) error {
	data, pm, err := encode(sys)
	if err != nil {
		return err
	}
	ga := sys.GlobalAccount
	tx := s.ob.Tx().
		ExpectRevision(s.SystemKey(ga, sys.ID), 0).
		ExpectAbsentOr(s.nameKey(ga, sys.DisplayName), sys.ID)
	if requestID != "" {
		tx.ExpectAbsentOr(s.requestKey(ga, requestID), sys.ID)
		tx.Set(s.requestKey(ga, requestID), sys.ID, system.RequestIDLifetime)
	}
	tx.PutRecord(s.SystemKey(ga, sys.ID), sys.Revision, data).
		Set(s.nameKey(ga, sys.DisplayName), sys.ID, 0)
	m := member(sys)
	for _, k := range s.indexKeys(sys) {
		tx.ZAdd(k, 0, m)
	}
	if err := s.emit(tx, ev, sys, pm); err != nil {
		return err
	}
	err = tx.Commit(ctx)
	if c, ok := outbox.IsConflict(err); ok {
		switch c.Index {
		case 0:
			return system.ErrIDTaken
		case 1:
			return system.ErrNameTaken
		default:
			return system.ErrRequestTaken
		}
	}
	return err
}

// Get reads a system.
func (s *Store) Get(ctx context.Context, ga, id string) (*system.System, error) {
	rev, data, err := outbox.GetRecord(ctx, s.rdb, s.SystemKey(ga, id))
	if err != nil {
		return nil, err
	}
	if rev == 0 {
		return nil, system.ErrNotFound
	}
	return decode(rev, data)
}

// Taken looks up an id and a display name in one round trip.
func (s *Store) Taken(ctx context.Context, ga, id, displayName string) (bool, bool, error) {
	var ex *redis.IntCmd
	var nm *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		ex = p.Exists(ctx, s.SystemKey(ga, id))
		nm = p.Get(ctx, s.nameKey(ga, displayName))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, false, redisconn.Classify(err)
	}
	owner := nm.Val()
	return ex.Val() > 0, owner != "" && owner != id, nil
}

// Save stores a changed system, moving its name and state indexes.
func (s *Store) Save(ctx context.Context, prev, sys *system.System, ev system.EventKind) error {
	data, pm, err := encode(sys)
	if err != nil {
		return err
	}
	ga := sys.GlobalAccount
	key := s.SystemKey(ga, sys.ID)
	tx := s.ob.Tx().ExpectRevision(key, prev.Revision)
	oldName, newName := s.nameKey(ga, prev.DisplayName), s.nameKey(ga, sys.DisplayName)
	if oldName != newName {
		tx.ExpectAbsentOr(newName, sys.ID).Del(oldName).Set(newName, sys.ID, 0)
	}
	tx.PutRecord(key, sys.Revision, data)
	if prev.State != sys.State {
		m := member(prev)
		old, cur := s.indexKeys(prev), s.indexKeys(sys)
		for i := range old {
			if old[i] != cur[i] {
				tx.ZRem(old[i], m).ZAdd(cur[i], 0, m)
			}
		}
	}
	if err := s.emit(tx, ev, sys, pm); err != nil {
		return err
	}
	return conflictErr(tx.Commit(ctx))
}

// conflictErr maps a failed expectation: index 0 is always the revision,
// index 1 the new display name.
func conflictErr(err error) error {
	if c, ok := outbox.IsConflict(err); ok {
		if c.Index == 0 {
			return system.ErrRevision
		}
		return system.ErrNameTaken
	}
	return err
}

// Delete removes a system, its name and its index entries.
func (s *Store) Delete(ctx context.Context, prev, sys *system.System, ev system.EventKind) error {
	ga := prev.GlobalAccount
	key := s.SystemKey(ga, prev.ID)
	tx := s.ob.Tx().ExpectRevision(key, prev.Revision).
		Del(key, s.nameKey(ga, prev.DisplayName))
	m := member(prev)
	for _, k := range s.indexKeys(prev) {
		tx.ZRem(k, m)
	}
	if err := s.emit(tx, ev, sys, systempb.System(sys)); err != nil {
		return err
	}
	return conflictErr(tx.Commit(ctx))
}

// LookupRequest returns the system id a request id created, or "".
func (s *Store) LookupRequest(ctx context.Context, ga, requestID string) (string, error) {
	id, err := s.rdb.Get(ctx, s.requestKey(ga, requestID)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", redisconn.Classify(err)
	}
	return id, nil
}

// ApplyAssignment records a formation's assignment event at most once, and
// the system's new formations when they change.
func (s *Store) ApplyAssignment(ctx context.Context, ga, id, formation string, formationRev int64, prev, sys *system.System) error {
	applied := s.appliedKey(ga, id, formation)
	tx := s.ob.Tx().ApplyOnce(applied, formationRev).ExpireAt(applied, time.Now().Add(AppliedRetention))
	if sys != nil {
		data, pm, err := encode(sys)
		if err != nil {
			return err
		}
		key := s.SystemKey(ga, id)
		tx.ExpectRevision(key, prev.Revision).PutRecord(key, sys.Revision, data)
		if err := s.emit(tx, system.EventUpdated, sys, pm); err != nil {
			return err
		}
	}
	err := tx.Commit(ctx)
	if outbox.AlreadyApplied(err, applied) {
		return nil // stale or repeated
	}
	if _, ok := outbox.IsConflict(err); ok {
		return system.ErrRevision
	}
	return err
}

// List returns one page: one ZRANGE BYLEX from the cursor, then the
// records in one pipeline, so a page costs O(log n + page size).
func (s *Store) List(ctx context.Context, ga string, f system.Filter, pageSize int, pageToken string) (system.Page, error) {
	start := "-"
	if pageToken != "" {
		after, err := resource.ParsePageToken(pageToken)
		if err != nil {
			return system.Page{}, err
		}
		start = "(" + after
	}
	members, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: s.indexKey(ga, f), Start: start, Stop: "+", ByLex: true, Count: int64(pageSize) + 1,
	}).Result()
	if err != nil {
		return system.Page{}, redisconn.Classify(err)
	}
	var page system.Page
	if len(members) > pageSize {
		members = members[:pageSize]
		page.NextToken = resource.PageToken(members[len(members)-1])
	}
	keys := make([]string, len(members))
	for i, m := range members {
		keys[i] = s.SystemKey(ga, resource.MemberID(m))
	}
	revs, datas, err := outbox.GetRecords(ctx, s.rdb, keys)
	if err != nil {
		return system.Page{}, err
	}
	page.Systems = make([]*system.System, 0, len(keys))
	for i := range keys {
		if revs[i] == 0 { // deregistered since the range was read
			continue
		}
		sys, err := decode(revs[i], datas[i])
		if err != nil {
			return system.Page{}, err
		}
		page.Systems = append(page.Systems, sys)
	}
	return page, nil
}

// Ping checks that Redis answers (health).
func (s *Store) Ping(ctx context.Context) error {
	return s.rdb.Ping(ctx).Err()
}
