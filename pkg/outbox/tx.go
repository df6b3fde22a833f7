// Package outbox commits a service's state change and its events in one
// atomic Redis step (the transactional outbox), and relays the events to
// NATS JetStream (see Relay).
//
// A Tx collects expectations (optimistic concurrency checks), writes and
// events; Commit runs them all in one Lua script: either every expectation
// holds and every write and event lands, or nothing is written and Commit
// returns a *ConflictError naming the first expectation that failed.
// Services never write Lua and never append to the outbox any other way.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/redisconn"
)

// Outbox is the outbox of one service context in Redis: a Redis stream at
// <prefix>:<context>:outbox whose entries hold an event's NATS subject, id
// and body.
type Outbox struct {
	rdb     redis.UniversalClient
	key     string
	context string
}

// New returns the outbox of context (registry, token, formation) under the
// key prefix (ls in production).
func New(rdb redis.UniversalClient, prefix, context string) *Outbox {
	return &Outbox{rdb: rdb, key: prefix + ":" + context + ":outbox", context: context}
}

// Key is the Redis key of the outbox stream.
func (o *Outbox) Key() string { return o.key }

// Client is the Redis client the outbox commits through.
func (o *Outbox) Client() redis.UniversalClient { return o.rdb }

// ConflictError reports the expectation that did not hold; nothing was written.
type ConflictError struct {
	Index int    // position of the expectation among those added, from 0
	Key   string // its key
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("outbox: expectation %d on %s does not hold", e.Index, e.Key)
}

// IsConflict reports whether err is a *ConflictError, and returns it.
func IsConflict(err error) (*ConflictError, bool) {
	var c *ConflictError
	ok := errors.As(err, &c)
	return c, ok
}

// Tx is one atomic step. Build it with the methods below, then Commit.
// A Tx is not safe for concurrent use and is committed at most once.
//
// ARGV layout: ARGV[1] is the number of expectations, then ops: name, key
// index, argument count, arguments... Small integers (key indexes, counts,
// expectation indexes) are passed boxed: Go boxes values below 256 without
// allocating and go-redis formats them into its buffer directly. The
// backing arrays live in the Tx itself, so a typical step allocates the Tx
// and little else.
type Tx struct {
	o     *Outbox
	keys  []string
	conds []string // keys of expectations, by index
	args  []any

	keyBuf  [8]string
	condBuf [4]string
	argBuf  [96]any // a registration step of the registry or the token service fits
}

// Tx starts an atomic step.
func (o *Outbox) Tx() *Tx {
	t := &Tx{o: o}
	t.keys = t.keyBuf[:0]
	t.conds = t.condBuf[:0]
	t.args = append(t.argBuf[:0], 0) // ARGV[1]: the expectation count, set by Commit
	t.key(o.key)                     // KEYS[1] is always the outbox
	return t
}

// key returns the 1-based KEYS index of k, adding it when new. A step
// touches a handful of keys, so a linear scan finds them.
func (t *Tx) key(k string) int {
	for i, have := range t.keys {
		if have == k {
			return i + 1
		}
	}
	t.keys = append(t.keys, k)
	return len(t.keys)
}

func (t *Tx) op(name, key string, args ...any) *Tx {
	t.args = append(t.args, name, t.key(key), len(args))
	t.args = append(t.args, args...)
	return t
}

// expect adds an expectation op: its first argument is its index among
// the expectations.
func (t *Tx) expect(name, key string, args ...any) *Tx {
	t.conds = append(t.conds, key)
	t.args = append(t.args, name, t.key(key), len(args)+1, len(t.conds)-1)
	t.args = append(t.args, args...)
	return t
}

// ExpectRevision requires the record at key to be at revision rev; rev 0
// requires that no record exists.
func (t *Tx) ExpectRevision(key string, rev int64) *Tx {
	return t.expect("rev", key, rev)
}

// ExpectAbsentOr requires the string at key to be absent or equal to value
// (a unique index that may already point at the same resource).
func (t *Tx) ExpectAbsentOr(key, value string) *Tx {
	return t.expect("absent_or", key, value)
}

// ExpectEqual requires the string at key to be equal to value.
func (t *Tx) ExpectEqual(key, value string) *Tx {
	return t.expect("equal", key, value)
}

// ExpectHashField requires field of the hash at key to equal value.
func (t *Tx) ExpectHashField(key, field, value string) *Tx {
	return t.expect("hfield", key, field, value)
}

// ExpectHashFieldAbove requires field of the hash at key to hold an integer
// greater than min; a missing field fails. (Token consume: the expire time,
// in unix ms, must lie after the step's now.)
func (t *Tx) ExpectHashFieldAbove(key, field string, min int64) *Tx {
	return t.expect("hfield_gt", key, field, min)
}

// ExpectCountBelow requires fewer than limit members of the sorted set at
// key to have a score of at least min.
func (t *Tx) ExpectCountBelow(key string, min float64, limit int64) *Tx {
	return t.expect("zcount_lt", key, strconv.FormatFloat(min, 'f', -1, 64), limit)
}

// PutRecord stores an aggregate at key as a hash {rev, data}.
func (t *Tx) PutRecord(key string, rev int64, data []byte) *Tx {
	return t.op("hset", key, "rev", rev, "data", data)
}

// HSet sets fields of a hash: pairs of field, value.
func (t *Tx) HSet(key string, fieldValues ...any) *Tx {
	return t.op("hset", key, fieldValues...)
}

// Set stores a string; ttl 0 keeps it forever.
func (t *Tx) Set(key, value string, ttl time.Duration) *Tx {
	return t.op("set", key, value, ttl.Milliseconds())
}

// Del deletes keys.
func (t *Tx) Del(keys ...string) *Tx {
	for _, k := range keys {
		t.op("del", k)
	}
	return t
}

// ZAdd adds or re-scores a member of a sorted set.
func (t *Tx) ZAdd(key string, score float64, member string) *Tx {
	return t.op("zadd", key, strconv.FormatFloat(score, 'f', -1, 64), member)
}

// ZRem removes a member of a sorted set.
func (t *Tx) ZRem(key, member string) *Tx {
	return t.op("zrem", key, member)
}

// ZRemRangeByScore removes the members scored within [min, max] (Redis
// syntax: "-inf", "(5", ...).
func (t *Tx) ZRemRangeByScore(key, min, max string) *Tx {
	return t.op("zremrangebyscore", key, min, max)
}

// ExpireAt makes key expire at a moment.
func (t *Tx) ExpireAt(key string, at time.Time) *Tx {
	return t.op("pexpireat", key, at.UnixMilli())
}

// ExpireAtLeast makes key expire at at or later: it sets the expiry of a
// key that has none and extends a sooner one, never shortening it (a
// missing key stays missing).
func (t *Tx) ExpireAtLeast(key string, at time.Time) *Tx {
	return t.op("pexpireat_max", key, at.UnixMilli())
}

// HIncrBy adds n to the integer in field of the hash at key (a missing
// field counts as 0).
func (t *Tx) HIncrBy(key, field string, n int64) *Tx {
	return t.op("hincrby", key, field, n)
}

// Emit appends an event to the outbox; the relay publishes it after Commit.
func (t *Tx) Emit(m cloudevent.Message) *Tx {
	return t.op("xadd", t.o.key, m.Subject, m.ID, m.Body)
}

// Commit runs the step. It returns nil, a *ConflictError when an
// expectation failed (nothing written), or an apperr UNAVAILABLE error when
// Redis cannot be reached.
func (t *Tx) Commit(ctx context.Context) error {
	t.args[0] = len(t.conds)
	res, err := commitScript.Run(ctx, t.o.rdb, t.keys, t.args...).Result()
	if err != nil {
		return redisconn.Classify(err)
	}
	if n, ok := res.(int64); ok && n >= 0 {
		return &ConflictError{Index: int(n), Key: t.conds[n]}
	}
	return nil
}

// GetRecord reads a record written by PutRecord. A missing record has
// revision 0 and nil data.
func GetRecord(ctx context.Context, rdb redis.Cmdable, key string) (rev int64, data []byte, err error) {
	vals, err := rdb.HMGet(ctx, key, "rev", "data").Result()
	if err != nil {
		return 0, nil, redisconn.Classify(err)
	}
	return parseRecord(vals)
}

// GetRecords reads several records in one round trip; missing ones have
// revision 0 and nil data.
func GetRecords(ctx context.Context, rdb redis.Cmdable, keys []string) (revs []int64, datas [][]byte, err error) {
	if len(keys) == 0 {
		return nil, nil, nil
	}
	cmds := make([]*redis.SliceCmd, len(keys))
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HMGet(ctx, k, "rev", "data")
		}
		return nil
	})
	if err != nil {
		return nil, nil, redisconn.Classify(err)
	}
	revs = make([]int64, len(keys))
	datas = make([][]byte, len(keys))
	for i, c := range cmds {
		if revs[i], datas[i], err = parseRecord(c.Val()); err != nil {
			return nil, nil, err
		}
	}
	return revs, datas, nil
}

func parseRecord(vals []any) (int64, []byte, error) {
	if len(vals) != 2 || vals[0] == nil {
		return 0, nil, nil
	}
	r, _ := vals[0].(string)
	rev, err := strconv.ParseInt(r, 10, 64)
	if err != nil {
		return 0, nil, apperr.Internalf("outbox: bad revision %q: %w", vals[0], err)
	}
	s, _ := vals[1].(string)
	return rev, []byte(s), nil
}

// commitScript checks every expectation first, then applies every write.
// ARGV[1] is the number of expectations; then ops: name, key index,
// argument count, arguments (an expectation's first argument is its index).
// Both passes walk ARGV by index, building no tables; the first stops after
// the last expectation. It returns -1 on success, or the index of the
// failed expectation.
var commitScript = redis.NewScript(`
local A, n = ARGV, #ARGV
local left, i = tonumber(A[1]), 2
while left > 0 and i <= n do
  local name, c = A[i], tonumber(A[i+2])
  local b = i + 3
  local k = KEYS[tonumber(A[i+1])]
  if name == "rev" then
    left = left - 1
    if (redis.call("HGET", k, "rev") or "0") ~= A[b+1] then return tonumber(A[b]) end
  elseif name == "absent_or" then
    left = left - 1
    local cur = redis.call("GET", k)
    if cur and cur ~= A[b+1] then return tonumber(A[b]) end
  elseif name == "equal" then
    left = left - 1
    if redis.call("GET", k) ~= A[b+1] then return tonumber(A[b]) end
  elseif name == "hfield" then
    left = left - 1
    if redis.call("HGET", k, A[b+1]) ~= A[b+2] then return tonumber(A[b]) end
  elseif name == "hfield_gt" then
    left = left - 1
    local cur = tonumber(redis.call("HGET", k, A[b+1]) or "")
    if not cur or cur <= tonumber(A[b+2]) then return tonumber(A[b]) end
  elseif name == "below" then
    left = left - 1
    if tonumber(redis.call("GET", k) or "0") >= tonumber(A[b+1]) then return tonumber(A[b]) end
  elseif name == "zcount_lt" then
    left = left - 1
    if redis.call("ZCOUNT", k, A[b+1], "+inf") >= tonumber(A[b+2]) then return tonumber(A[b]) end
  end
  i = b + c
end
i = 2
while i <= n do
  local name, c = A[i], tonumber(A[i+2])
  local b = i + 3
  if name == "xadd" then
    redis.call("XADD", KEYS[tonumber(A[i+1])], "*", "s", A[b], "i", A[b+1], "b", A[b+2])
  elseif name == "hset" then
    redis.call("HSET", KEYS[tonumber(A[i+1])], unpack(A, b, b + c - 1))
  elseif name == "set" then
    if A[b+1] ~= "0" then
      redis.call("SET", KEYS[tonumber(A[i+1])], A[b], "PX", A[b+1])
    else
      redis.call("SET", KEYS[tonumber(A[i+1])], A[b])
    end
  elseif name == "zadd" then
    redis.call("ZADD", KEYS[tonumber(A[i+1])], A[b], A[b+1])
  elseif name == "del" then
    redis.call("DEL", KEYS[tonumber(A[i+1])])
  elseif name == "zrem" then
    redis.call("ZREM", KEYS[tonumber(A[i+1])], A[b])
  elseif name == "zremrangebyscore" then
    redis.call("ZREMRANGEBYSCORE", KEYS[tonumber(A[i+1])], A[b], A[b+1])
  elseif name == "pexpireat" then
    redis.call("PEXPIREAT", KEYS[tonumber(A[i+1])], A[b])
  elseif name == "pexpireat_max" then
    local k = KEYS[tonumber(A[i+1])]
    if redis.call("PEXPIREAT", k, A[b], "GT") == 0 and redis.call("PTTL", k) == -1 then
      redis.call("PEXPIREAT", k, A[b])
    end
  elseif name == "hincrby" then
    redis.call("HINCRBY", KEYS[tonumber(A[i+1])], A[b], A[b+1])
  end
  i = b + c
end
return -1
`)

// ApplyOnce makes the step apply an event of a resource at most once and
// never after a newer one: it requires the revision last applied from the
// resource (kept at key) to be below rev, and records rev. A stale or
// repeated event then fails with a *ConflictError, which a subscriber
// treats as done.
func (t *Tx) ApplyOnce(key string, rev int64) *Tx {
	t.expect("below", key, rev)
	return t.op("set", key, strconv.FormatInt(rev, 10), 0)
}
