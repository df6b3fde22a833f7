// Package redisstore is the Redis adapter of the token service: it keeps
// tokens, their indexes and their events with pkg/outbox, one Lua step per
// change.
//
// Keys (prefix p, "ls" in production):
//
//	p:token:hash:<sha256 hex of the secret>     hash {rev, data, d0, ..., state, exp}
//	p:token:{ga}:unused:type:<system type>      zset of the unused tokens of a type (quota)
//	p:token:{ga}:unused:system:<system>         zset of the unused tokens of a system
//	p:token:{ga}:system:<system>                hash {rev}: the system's token revision
//
// The record key is found from the secret alone, so it cannot carry the
// {ga} tag; every other key of a global account does. data is the proto
// landscape.token.v1.Token; state and exp (expire time, unix ms) sit beside
// it so that the Lua step can check them. Sorted-set members are secret
// hashes scored by expire time (unix ms).
//
// Expiry: a record lives until Retention after its expire time, so an
// expired token answers TOKEN_EXPIRED for that long and TOKEN_INVALID
// after. The indexes drop expired members on every issue and expire
// Retention after the latest expire time they have held: an issue only
// extends their expiry (outbox ExpireAtLeast), so it needs no read.
//
// Round trips: Insert is one Lua step (plus one read with
// revokePrevious), Consume a read and a step, Revoke a read and a step.
package redisstore

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/eventctx"
	"github.com/landscape-dev/landscape/pkg/keyspace"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/services/token/tokenpb"
	"github.com/landscape-dev/landscape/services/token/tokens"
)

// Context is the service context: key prefix part, outbox and event source.
const Context = "token"

// DefaultRetention is how long a token's record outlives its expire time.
const DefaultRetention = 24 * time.Hour

// maxAttempts bounds the optimistic retries of one call when concurrent
// steps on the same keys win. Every round of a conflict has a winner, so a
// call needs at most as many attempts as there are concurrent callers on
// the same system's tokens (normally one: the registry serializes per
// system); ctx bounds the time as well.
const maxAttempts = 256

// The events of the token context.
var (
	specIssued   = cloudevent.Spec{Context: Context, Name: "token.issued"}
	specConsumed = cloudevent.Spec{Context: Context, Name: "token.consumed"}
	specRevoked  = cloudevent.Spec{Context: Context, Name: "token.revoked"}
)

// Store implements tokens.Repository on Redis.
type Store struct {
	keyspace.Store
	now       func() time.Time
	retention time.Duration
}

var _ tokens.Repository = (*Store)(nil)

// New returns a store under key prefix; now nil means time.Now.
func New(rdb redis.UniversalClient, prefix string, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{Store: keyspace.NewStore(rdb, prefix, Context), now: now, retention: DefaultRetention}
}

// WithRetention sets how long records outlive their tokens' expire time
// (DefaultRetention); tests shorten it. It returns s.
func (s *Store) WithRetention(d time.Duration) *Store {
	s.retention = d
	return s
}

func (s *Store) recordKey(hash string) string { return s.Keys.Key("hash:" + hash) }
func (s *Store) typeKey(ga, typ string) string {
	return s.Keys.Account(ga).Key("unused", "type", typ)
}
func (s *Store) systemKey(sub tokens.Subject) string {
	return s.Keys.Account(sub.GlobalAccount).Key("unused", "system", sub.System)
}
func (s *Store) systemRevKey(sub tokens.Subject) string {
	return s.Keys.Account(sub.GlobalAccount).Key("system", sub.System)
}

// encode is t's stored record and its event of spec, whose payload wraps
// t's proto.
func encode(t tokens.Token, spec cloudevent.Spec, now time.Time, payload func(*tokenv1.Token) proto.Message) ([]byte, cloudevent.Message, error) {
	pt := tokenpb.ToProto(t)
	data, err := tokenpb.Marshal(pt)
	if err != nil {
		return nil, cloudevent.Message{}, apperr.Internalf("redisstore: %w", err)
	}
	ev, err := cloudevent.New(spec, t.GlobalAccount, t.Name, payload(pt), now)
	if err != nil {
		return nil, cloudevent.Message{}, apperr.Internalf("redisstore: %w", err)
	}
	return data, ev, nil
}

// stored is a token read back with the hash it is kept under.
type stored struct {
	hash  string
	token tokens.Token
}

// Insert implements tokens.Repository.
func (s *Store) Insert(ctx context.Context, t tokens.Token, hash string, revokePrevious bool, quota int) error {
	sub, err := tokens.ParseSubject("subject", t.Subject)
	if err != nil {
		return err
	}
	now := t.CreateTime
	nowMs := now.UnixMilli()
	expMs := t.ExpireTime.UnixMilli()
	data, issued, err := encode(t, specIssued, now, func(pt *tokenv1.Token) proto.Message {
		return &tokenv1.TokenIssued{Revision: t.Revision, Token: pt}
	})
	if err != nil {
		return err
	}
	typeKey, sysKey, sysRevKey := s.typeKey(sub.GlobalAccount, t.SystemType), s.systemKey(sub), s.systemRevKey(sub)

	for range maxAttempts {
		// Without revokePrevious the step needs nothing read: the quota is
		// checked by the Lua step, the system's revision is incremented
		// there (so a concurrent Revoke still sees the change) and the
		// indexes' expiry is only extended. With revokePrevious, read the
		// system's revision and its unused tokens, and expect the revision.
		var (
			previous []stored
			sysRev   int64
		)
		if revokePrevious {
			if sysRev, previous, err = s.readSystem(ctx, sysRevKey, sysKey, now, ""); err != nil {
				return err
			}
		}

		tx := s.Box.Tx()
		if revokePrevious {
			tx.ExpectRevision(sysRevKey, sysRev)
		}
		// Revoking the previous tokens of the same type frees their places.
		limit := int64(quota)
		for _, p := range previous {
			if p.token.SystemType == t.SystemType {
				limit++
			}
		}
		tx.ExpectCountBelow([]string{typeKey}, float64(nowMs+1), limit)
		tx.ExpectRevision(s.recordKey(hash), 0)
		if err := s.revoke(tx, sub, previous, now); err != nil {
			return err
		}
		tx.ZRemRangeByScore(typeKey, "-inf", strconv.FormatInt(nowMs, 10))
		tx.ZRemRangeByScore(sysKey, "-inf", strconv.FormatInt(nowMs, 10))
		rk := s.recordKey(hash)
		tx.PutRecord(rk, t.Revision, data)
		tx.HSet(rk, "state", t.State.String(), "exp", expMs)
		tx.ExpireAt(rk, t.ExpireTime.Add(s.retention))
		tx.ZAdd(typeKey, float64(expMs), hash)
		tx.ZAdd(sysKey, float64(expMs), hash)
		tx.HIncrBy(sysRevKey, "rev", 1)
		until := t.ExpireTime.Add(s.retention)
		tx.ExpireAtLeast(typeKey, until)
		tx.ExpireAtLeast(sysKey, until)
		tx.ExpireAtLeast(sysRevKey, until)
		tx.Emit(issued)
		err = tx.Commit(ctx)
		if c, ok := outbox.IsConflict(err); ok {
			if c.Key == typeKey {
				return apperr.New(apperr.TokenQuotaExceeded,
					"the global account holds the most unused integration tokens allowed for this system type",
					"globalAccount", t.GlobalAccount, "systemType", t.SystemType)
			}
			continue // a concurrent change of the system's tokens: read again
		}
		return err
	}
	return apperr.New(apperr.Unavailable, "too many concurrent changes of this system's tokens; retry", "subject", t.Subject)
}

// readSystem reads, in one command (outbox.GetIndexed: one round trip,
// shared under load with other callers' commands), the system's token
// revision and its unexpired unused tokens, and keeps those that are
// unused and unexpired at now (only the one named name, when set).
func (s *Store) readSystem(ctx context.Context, sysRevKey, sysKey string, now time.Time, name string) (int64, []stored, error) {
	r, err := outbox.GetIndexed(ctx, s.Redis, sysRevKey, sysKey,
		"("+strconv.FormatInt(now.UnixMilli(), 10), s.recordKey(""))
	if err != nil {
		return 0, nil, err
	}
	var out []stored
	for i, h := range r.Members {
		if r.Revs[i] == 0 {
			continue // gone with its key
		}
		t, err := tokenpb.Unmarshal(r.Datas[i], r.Revs[i])
		if err != nil {
			return 0, nil, apperr.Internalf("redisstore: token record: %w", err)
		}
		if t.Revocable(now) && (name == "" || t.Name == name) {
			out = append(out, stored{hash: h, token: t})
		}
	}
	return r.Rev, out, nil
}

// revoke adds to tx the revocation of each token, expecting its revision.
func (s *Store) revoke(tx *outbox.Tx, sub tokens.Subject, list []stored, now time.Time) error {
	for _, p := range list {
		r := p.token.Revoked(now)
		data, ev, err := encode(r, specRevoked, now, func(pr *tokenv1.Token) proto.Message {
			return &tokenv1.TokenRevoked{Revision: r.Revision, Token: pr}
		})
		if err != nil {
			return err
		}
		rk := s.recordKey(p.hash)
		tx.ExpectRevision(rk, p.token.Revision)
		tx.PutRecord(rk, r.Revision, data)
		tx.HSet(rk, "state", r.State.String())
		tx.ZRem(s.typeKey(sub.GlobalAccount, r.SystemType), p.hash)
		tx.ZRem(s.systemKey(sub), p.hash)
		tx.Emit(ev)
	}
	return nil
}

// Consume implements tokens.Repository. The Lua step expects the record's
// revision (so only one of concurrent consumers, revokers and issuers with
// revokePrevious wins) and an expire time after the step's now (so a token
// cannot be consumed after its expiry whatever the Go-side check saw).
func (s *Store) Consume(ctx context.Context, hash string) (tokens.Token, error) {
	rk := s.recordKey(hash)
	for range maxAttempts {
		rev, data, err := outbox.GetRecord(ctx, s.Redis, rk)
		if err != nil {
			return tokens.Token{}, err
		}
		if rev == 0 {
			return tokens.Token{}, apperr.New(apperr.TokenInvalid, "the integration token is not valid")
		}
		t, err := tokenpb.Unmarshal(data, rev)
		if err != nil {
			return tokens.Token{}, apperr.Internalf("redisstore: token record: %w", err)
		}
		now := s.now()
		if err := t.CheckConsumable(now); err != nil {
			return tokens.Token{}, err
		}
		sub, err := tokens.ParseSubject("subject", t.Subject)
		if err != nil {
			return tokens.Token{}, apperr.Internalf("redisstore: token %s: bad subject", t.Name)
		}
		c := t.Consumed(now)
		cdata, ev, err := encode(c, specConsumed, now, func(pc *tokenv1.Token) proto.Message {
			return &tokenv1.TokenConsumed{Revision: c.Revision, Token: pc}
		})
		if err != nil {
			return tokens.Token{}, err
		}
		tx := s.Box.Tx()
		tx.ExpectRevision(rk, rev)
		tx.ExpectHashFieldAbove(rk, "exp", s.now().UnixMilli())
		tx.PutRecord(rk, c.Revision, cdata)
		tx.HSet(rk, "state", c.State.String())
		tx.ZRem(s.typeKey(sub.GlobalAccount, c.SystemType), hash)
		tx.ZRem(s.systemKey(sub), hash)
		tx.Emit(ev)
		// The token itself acts: pairing and failure reports carry no JWT.
		err = tx.Commit(eventctx.WithActor(ctx, eventctx.TokenPrefix+c.Name))
		if _, ok := outbox.IsConflict(err); ok {
			continue // changed or expired meanwhile: the next read tells why
		}
		if err != nil {
			return tokens.Token{}, err
		}
		return c, nil
	}
	return tokens.Token{}, apperr.New(apperr.Unavailable, "too many concurrent changes of this token; retry")
}

// Revoke implements tokens.Repository. It expects the system's revision
// (bumped by every issue), so a token issued meanwhile is not missed, and
// each token's revision, so a concurrent consume wins or loses cleanly.
func (s *Store) Revoke(ctx context.Context, sub tokens.Subject, name string) (int, error) {
	sysKey, sysRevKey := s.systemKey(sub), s.systemRevKey(sub)
	for range maxAttempts {
		now := s.now()
		rev, list, err := s.readSystem(ctx, sysRevKey, sysKey, now, name)
		if err != nil {
			return 0, err
		}
		if len(list) == 0 {
			return 0, nil
		}
		tx := s.Box.Tx()
		tx.ExpectRevision(sysRevKey, rev)
		if err := s.revoke(tx, sub, list, now); err != nil {
			return 0, err
		}
		err = tx.Commit(ctx)
		if _, ok := outbox.IsConflict(err); ok {
			continue
		}
		if err != nil {
			return 0, err
		}
		return len(list), nil
	}
	return 0, apperr.New(apperr.Unavailable, "too many concurrent changes of this system's tokens; retry", "subject", sub.Name)
}
