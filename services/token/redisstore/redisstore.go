// Package redisstore is the Redis adapter of the token service: it keeps
// tokens, their indexes and their events with pkg/outbox, one Lua step per
// change.
//
// Keys (prefix p, "ls" in production):
//
//	p:token:hash:<sha256 hex of the secret>     hash {rev, data, state, exp}
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
// Round trips: Insert is one Lua step (plus one or two reads with
// revokePrevious), Consume a read and a step, Revoke one or two reads and
// a step.
package redisstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/redisconn"
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
	rdb       redis.UniversalClient
	o         *outbox.Outbox
	prefix    string
	now       func() time.Time
	retention time.Duration
}

var _ tokens.Repository = (*Store)(nil)

// New returns a store under key prefix; now nil means time.Now.
func New(rdb redis.UniversalClient, prefix string, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{rdb: rdb, o: outbox.New(rdb, prefix, Context), prefix: prefix + ":" + Context + ":",
		now: now, retention: DefaultRetention}
}

// WithRetention sets how long records outlive their tokens' expire time
// (DefaultRetention); tests shorten it. It returns s.
func (s *Store) WithRetention(d time.Duration) *Store {
	s.retention = d
	return s
}

// Outbox is the store's outbox, for the relay.
func (s *Store) Outbox() *outbox.Outbox { return s.o }

func (s *Store) recordKey(hash string) string { return s.prefix + "hash:" + hash }
func (s *Store) typeKey(ga, typ string) string {
	return s.prefix + "{" + ga + "}:unused:type:" + typ
}
func (s *Store) systemKey(sub tokens.Subject) string {
	return s.prefix + "{" + sub.GlobalAccount + "}:unused:system:" + sub.System
}
func (s *Store) systemRevKey(sub tokens.Subject) string {
	return s.prefix + "{" + sub.GlobalAccount + "}:system:" + sub.System
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
	pt := tokenpb.ToProto(t)
	data, err := tokenpb.Marshal(pt)
	if err != nil {
		return apperr.Internalf("redisstore: %w", err)
	}
	issued, err := cloudevent.New(specIssued, t.GlobalAccount, t.Name,
		&tokenv1.TokenIssued{Revision: t.Revision, Token: pt}, now)
	if err != nil {
		return apperr.Internalf("redisstore: %w", err)
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

		tx := s.o.Tx()
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
		tx.ExpectCountBelow(typeKey, float64(nowMs+1), limit)
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

// readSystem reads, in one round trip, the system's token revision and the
// hashes of its unexpired unused tokens, then (a second round trip, when
// there are any) the tokens that are unused and unexpired at now (only the
// one named name, when set).
func (s *Store) readSystem(ctx context.Context, sysRevKey, sysKey string, now time.Time, name string) (int64, []stored, error) {
	var (
		revCmd    *redis.StringCmd
		hashesCmd *redis.StringSliceCmd
	)
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		revCmd = p.HGet(ctx, sysRevKey, "rev")
		hashesCmd = p.ZRangeByScore(ctx, sysKey, &redis.ZRangeBy{
			Min: "(" + strconv.FormatInt(now.UnixMilli(), 10), Max: "+inf",
		})
		return nil
	})
	rev, err := revCmd.Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, nil, redisconn.Classify(err)
	}
	hashes, err := hashesCmd.Result()
	if err != nil {
		return 0, nil, redisconn.Classify(err)
	}
	list, err := s.revocable(ctx, hashes, now, name)
	return rev, list, err
}

// revocable reads the tokens of hashes and keeps those unused and
// unexpired at now (only the one named name, when set).
func (s *Store) revocable(ctx context.Context, hashes []string, now time.Time, name string) ([]stored, error) {
	keys := make([]string, len(hashes))
	for i, h := range hashes {
		keys[i] = s.recordKey(h)
	}
	revs, datas, err := outbox.GetRecords(ctx, s.rdb, keys)
	if err != nil {
		return nil, err
	}
	var out []stored
	for i, h := range hashes {
		if revs[i] == 0 {
			continue // gone with its key
		}
		t, err := tokenpb.Unmarshal(datas[i], revs[i])
		if err != nil {
			return nil, apperr.Internalf("redisstore: token record: %w", err)
		}
		if t.Revocable(now) && (name == "" || t.Name == name) {
			out = append(out, stored{hash: h, token: t})
		}
	}
	return out, nil
}

// revoke adds to tx the revocation of each token, expecting its revision.
func (s *Store) revoke(tx *outbox.Tx, sub tokens.Subject, list []stored, now time.Time) error {
	for _, p := range list {
		r := p.token.Revoked(now)
		pr := tokenpb.ToProto(r)
		data, err := tokenpb.Marshal(pr)
		if err != nil {
			return apperr.Internalf("redisstore: %w", err)
		}
		ev, err := cloudevent.New(specRevoked, r.GlobalAccount, r.Name,
			&tokenv1.TokenRevoked{Revision: r.Revision, Token: pr}, now)
		if err != nil {
			return apperr.Internalf("redisstore: %w", err)
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
		rev, data, err := outbox.GetRecord(ctx, s.rdb, rk)
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
		pc := tokenpb.ToProto(c)
		cdata, err := tokenpb.Marshal(pc)
		if err != nil {
			return tokens.Token{}, apperr.Internalf("redisstore: %w", err)
		}
		ev, err := cloudevent.New(specConsumed, c.GlobalAccount, c.Name,
			&tokenv1.TokenConsumed{Revision: c.Revision, Token: pc}, now)
		if err != nil {
			return tokens.Token{}, apperr.Internalf("redisstore: %w", err)
		}
		tx := s.o.Tx()
		tx.ExpectRevision(rk, rev)
		tx.ExpectHashFieldAbove(rk, "exp", s.now().UnixMilli())
		tx.PutRecord(rk, c.Revision, cdata)
		tx.HSet(rk, "state", c.State.String())
		tx.ZRem(s.typeKey(sub.GlobalAccount, c.SystemType), hash)
		tx.ZRem(s.systemKey(sub), hash)
		tx.Emit(ev)
		err = tx.Commit(ctx)
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
		tx := s.o.Tx()
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
