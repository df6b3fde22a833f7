// Package redisstore is the registry's Redis adapter: it implements
// system.Repository with records, indexes and outbox events written in one
// atomic step (pkg/outbox), in the key scheme of pkg/keyspace
// (docs/ARCHITECTURE.md, "Redis keys"):
//
//	<prefix>:registry:{<ga>}:system:<id>             record {rev, data, d0, d1, ...} (outbox.PutRecord)
//	<prefix>:registry:{<ga>}:name:<folded name>      -> id (unique display names)
//	<prefix>:registry:{<ga>}:request:<requestId>     -> id, 24 hours
//	<prefix>:registry:{<ga>}:idx:…                   the list indexes of keyspace, by state and type
//	<prefix>:registry:{<ga>}:applied:<id>:<formation> last formation revision applied
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/keyspace"
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
	keyspace.Store
}

var _ system.Repository = (*Store)(nil)

// New returns a store under the key prefix ("ls" in production).
func New(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{keyspace.NewStore(rdb, prefix, Context)}
}

// SystemKey is the key of a system record.
func (s *Store) SystemKey(ga, id string) string { return s.Keys.Account(ga).Key("system", id) }

func (s *Store) requestKey(ga, rid string) string { return s.Keys.Account(ga).Key("request", rid) }

func (s *Store) appliedKey(ga, id, formation string) string {
	return s.Keys.Account(ga).Key("applied", id, formation)
}

// stateName is a state in index keys; "" for any.
func stateName(st system.State) string {
	if st == system.StateUnspecified {
		return ""
	}
	return st.String()
}

// states are the states of the list indexes: together their indexes hold
// every system of a global account.
var states = []string{system.Pending.String(), system.Registered.String(), system.Error.String()}

// indexKeys are the sorted sets a filter reads.
func (s *Store) indexKeys(ga string, f system.Filter) []string {
	return s.Keys.Account(ga).Indexes(states, stateName(f.State), f.Type)
}

// entry is where a system stands in the list indexes.
func (s *Store) entry(sys *system.System) keyspace.Entry {
	return s.Keys.Account(sys.GlobalAccount).Entry(stateName(sys.State), sys.Type, sys.CreateTime, sys.ID)
}

// encode returns the record data of sys and its message for the event
// (converted once): the data holds no etag, as the revision is the
// record's rev field; the message has it.
//
// The stored name is the id alone: the key carries the global account
// (decode puts the full name back), some 30 bytes less per system.
func encode(sys *system.System) ([]byte, *registryv1.System, error) {
	m := systempb.System(sys)
	name := m.Name
	m.Etag, m.Name = "", sys.ID
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, nil, apperr.Internalf("encode system: %w", err)
	}
	m.Etag, m.Name = sys.Etag(), name
	return b, m, nil
}

// decoder decodes the records of ga's systems: a stored name without "/"
// is the id (encode); records of earlier versions hold the full name.
func decoder(ga string) func(rev int64, data []byte) (*system.System, error) {
	return func(rev int64, data []byte) (*system.System, error) {
		return decode(ga, rev, data)
	}
}

func decode(ga string, rev int64, data []byte) (*system.System, error) {
	var m registryv1.System
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, apperr.Internalf("decode system: %w", err)
	}
	if !strings.Contains(m.Name, "/") {
		m.Name = system.SystemName(ga, m.Name)
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
func (s *Store) Create(ctx context.Context, sys *system.System, requestID string, quota int64, ev system.EventKind) error {
	data, pm, err := encode(sys)
	if err != nil {
		return err
	}
	ga := sys.GlobalAccount
	tx := s.Box.Tx().
		ExpectRevision(s.SystemKey(ga, sys.ID), 0).
		ExpectAbsentOr(s.NameKey(ga, sys.DisplayName), sys.ID)
	if requestID != "" {
		tx.ExpectAbsentOr(s.requestKey(ga, requestID), sys.ID)
		tx.Set(s.requestKey(ga, requestID), sys.ID, system.RequestIDLifetime)
	}
	quotaIndex := -1
	if quota > 0 {
		// Every system of the global account is in the index of its
		// state (score 0).
		quotaIndex = 2
		if requestID != "" {
			quotaIndex = 3
		}
		tx.ExpectCountBelow(s.indexKeys(ga, system.Filter{}), 0, quota)
	}
	tx.PutRecord(s.SystemKey(ga, sys.ID), sys.Revision, data).
		Set(s.NameKey(ga, sys.DisplayName), sys.ID, 0)
	s.entry(sys).Add(tx)
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
		case quotaIndex:
			return system.ErrQuotaExceeded
		default:
			return system.ErrRequestTaken
		}
	}
	return err
}

// Get reads a system.
func (s *Store) Get(ctx context.Context, ga, id string) (*system.System, error) {
	rev, data, err := outbox.GetRecord(ctx, s.Redis, s.SystemKey(ga, id))
	if err != nil {
		return nil, err
	}
	if rev == 0 {
		return nil, system.ErrNotFound
	}
	return decode(ga, rev, data)
}

// Taken looks up an id and a display name in one round trip.
func (s *Store) Taken(ctx context.Context, ga, id, displayName string) (bool, bool, error) {
	var ex *redis.IntCmd
	var nm *redis.StringCmd
	_, err := s.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		ex = p.Exists(ctx, s.SystemKey(ga, id))
		nm = p.Get(ctx, s.NameKey(ga, displayName))
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
	tx := s.Box.Tx().ExpectRevision(key, prev.Revision)
	oldName, newName := s.NameKey(ga, prev.DisplayName), s.NameKey(ga, sys.DisplayName)
	if oldName != newName {
		tx.ExpectAbsentOr(newName, sys.ID).Del(oldName).Set(newName, sys.ID, 0)
	}
	tx.PutRecord(key, sys.Revision, data)
	if sys.WebhookSecrets != nil {
		b, err := json.Marshal(sys.WebhookSecrets)
		if err != nil {
			return apperr.Internalf("encode webhook secrets: %w", err)
		}
		tx.HSet(key, webhookSecretsField, b)
	}
	if prev.State != sys.State {
		s.entry(sys).Move(tx, s.entry(prev))
	}
	if err := s.emit(tx, ev, sys, pm); err != nil {
		return err
	}
	return conflictErr(tx.Commit(ctx))
}

// webhookSecretsField holds a system's sealed webhook secrets (JSON) in
// its record hash, beside rev and data, so that they go with the record
// and never into the data that events and reads convert.
const webhookSecretsField = "whsec"

// WebhookSecrets reads a system's sealed webhook secrets.
func (s *Store) WebhookSecrets(ctx context.Context, ga, id string) ([]system.SealedSecret, error) {
	v, err := s.Redis.HGet(ctx, s.SystemKey(ga, id), webhookSecretsField).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, redisconn.Classify(err)
	}
	var out []system.SealedSecret
	if err := json.Unmarshal(v, &out); err != nil {
		return nil, apperr.Internalf("decode webhook secrets: %w", err)
	}
	return out, nil
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
	tx := s.Box.Tx().ExpectRevision(key, prev.Revision).
		Del(key, s.NameKey(ga, prev.DisplayName))
	s.entry(prev).Remove(tx)
	if err := s.emit(tx, ev, sys, systempb.System(sys)); err != nil {
		return err
	}
	return conflictErr(tx.Commit(ctx))
}

// LookupRequest returns the system id a request id created, or "".
func (s *Store) LookupRequest(ctx context.Context, ga, requestID string) (string, error) {
	id, err := s.Redis.Get(ctx, s.requestKey(ga, requestID)).Result()
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
	last, err := s.Redis.Get(ctx, applied).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return redisconn.Classify(err)
	}
	if err := resource.CheckRevision(formationRev, last); err != nil {
		return err // not applied: the subscriber dead-letters it
	}
	tx := s.Box.Tx().ApplyOnce(applied, formationRev).ExpireAt(applied, time.Now().Add(AppliedRetention))
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
	err = tx.Commit(ctx)
	if outbox.AlreadyApplied(err, applied) {
		return nil // stale or repeated
	}
	if _, ok := outbox.IsConflict(err); ok {
		return system.ErrRevision
	}
	return err
}

// List returns one page: one ZRANGE BYLEX from the cursor per index of the
// filter (one with a state, one per state without), then the records in
// one pipeline, so a page costs O(log n + page size); a system
// deregistered between the two reads is left out.
func (s *Store) List(ctx context.Context, ga string, f system.Filter, pageSize int, pageToken string) (system.Page, error) {
	key := func(id string) string { return s.SystemKey(ga, id) }
	systems, next, err := keyspace.List(ctx, s.Redis, s.indexKeys(ga, f), pageSize, pageToken, key, decoder(ga))
	if err != nil {
		return system.Page{}, err
	}
	return system.Page{Systems: systems, NextToken: next}, nil
}
