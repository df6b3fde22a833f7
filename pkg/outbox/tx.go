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
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/eventctx"
	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/telemetry"
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
	// emitted are the events, by the ARGV index of their body; Commit
	// adds the extension attributes of its context to each.
	emitted []emitted

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

// ExpectCountBelow requires fewer than limit members of the sorted sets at
// keys (at least one), counted together, to have a score of at least min.
// A failure names keys[0].
func (t *Tx) ExpectCountBelow(keys []string, min float64, limit int64) *Tx {
	args := []any{strconv.FormatFloat(min, 'f', -1, 64), limit}
	for _, k := range keys[1:] {
		args = append(args, t.key(k)) // the KEYS index of each further set
	}
	return t.expect("zcount_lt", keys[0], args...)
}

// RecordChunk is the most bytes of a record's data in one hash field.
// Redis keeps a hash whose values are all at most hash-max-listpack-value
// bytes (64 by default) in one compact listpack; a single longer value
// turns the whole hash into a hash table, about 200 bytes more per record.
const RecordChunk = 64

// chunkedMark is the data field of a record kept in chunks: one byte that
// is no proto message, so that a version from before chunks, which reads
// data alone, fails on such a record instead of reading part of it.
const chunkedMark = "\xff"

// chunkField names the n-th chunk of a record's data (from 0).
func chunkField(n int) string { return "d" + strconv.Itoa(n) }

// PutRecord stores an aggregate at key as a hash {rev, data, d0, d1, ...}:
// d0 holds the first RecordChunk bytes of data, d1 the next and so on, so
// that the hash stays a listpack (see RecordChunk), and the field data
// holds chunkedMark. The chunk after the last is deleted, so a shorter
// record never reads a longer one's tail. GetRecord also reads the
// earlier form, {rev, data} with all of the data in data.
func (t *Tx) PutRecord(key string, rev int64, data []byte) *Tx {
	n := max(1, (len(data)+RecordChunk-1)/RecordChunk)
	args := make([]any, 0, 4+2*n)
	args = append(args, "rev", rev, "data", chunkedMark)
	for i := range n {
		args = append(args, chunkField(i), data[i*RecordChunk:min((i+1)*RecordChunk, len(data))])
	}
	t.op("hset", key, args...)
	return t.op("hdel", key, chunkField(n))
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

// ZAddLT adds a member of a sorted set, or lowers its score, never
// raising it (ZADD LT): a member keeps an earlier place in line.
func (t *Tx) ZAddLT(key string, score float64, member string) *Tx {
	return t.op("zadd_lt", key, strconv.FormatFloat(score, 'f', -1, 64), member)
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

type emitted struct {
	arg int
	msg cloudevent.Message
}

// Emit appends an event to the outbox; the relay publishes it after Commit.
// Commit adds the extension attributes of its context (package eventctx)
// to the event's envelope: what lands in the outbox is what is published.
func (t *Tx) Emit(m cloudevent.Message) *Tx {
	t.op("xadd", t.o.key, m.Subject, m.ID, m.Body)
	t.emitted = append(t.emitted, emitted{arg: len(t.args) - 1, msg: m})
	return t
}

// attrs returns the extension attributes of the events of a commit under
// ctx: those of ctx, with actor service:<context> when ctx names none (a
// change the service makes on its own), and traceparent naming the span
// of ctx (the commit's span) when traced. A traceparent attribute that ctx
// carries from elsewhere never passes: the event names the trace of the
// commit or none.
func (t *Tx) attrs(ctx context.Context, traced bool) eventctx.Attrs {
	a := eventctx.From(ctx)
	if a.Get(eventctx.Actor) == "" {
		ctx = eventctx.WithActor(ctx, eventctx.ServicePrefix+t.o.context)
		a = eventctx.From(ctx)
	}
	var tp string
	if traced {
		tp = telemetry.Traceparent(ctx)
	}
	if tp != "" || a.Get(cloudevent.TraceparentAttr) != "" {
		a = eventctx.From(eventctx.With(ctx, cloudevent.TraceparentAttr, tp))
	}
	return a
}

// Commit runs the step. It returns nil, a *ConflictError when an
// expectation failed (nothing written), or an apperr UNAVAILABLE error when
// Redis cannot be reached.
//
// On a client that waits for replicas (redisconn.OpenDurable with N > 0)
// Commit returns nil only once N replicas hold the step, and a conflict
// only once they hold what it was judged on; when they do not in time it
// returns UNAVAILABLE, and the step may or may not have happened (the
// relay publishes its events only once the replicas hold them).
//
// Under a span (a traced call), the step is a span of its own
// (outbox.commit), and its events carry its trace context (the CloudEvents
// extension attribute traceparent) to the relay and the consumers.
func (t *Tx) Commit(ctx context.Context) error {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return t.commit(ctx, false)
	}
	ctx, span := trace.SpanFromContext(ctx).TracerProvider().Tracer(telemetry.TracerName("outbox")).Start(ctx, "outbox.commit",
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "redis"), attribute.String("landscape.context", t.o.context)))
	defer span.End()
	err := t.commit(ctx, true)
	if _, conflict := IsConflict(err); conflict {
		span.SetAttributes(attribute.Bool("landscape.conflict", true))
	} else if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "commit failed")
	}
	return err
}

// commit runs the step (Commit); traced: ctx holds the commit's span.
func (t *Tx) commit(ctx context.Context, traced bool) error {
	t.args[0] = len(t.conds)
	if len(t.emitted) > 0 {
		attrs := t.attrs(ctx, traced)
		for _, e := range t.emitted {
			t.args[e.arg] = e.msg.WithAttrs(attrs).Body
		}
	}
	res, err := commitScript.Run(redisconn.Durable(ctx), t.o.rdb, t.keys, t.args...).Result()
	if err != nil {
		return redisconn.Classify(err)
	}
	if n, ok := res.(int64); ok && n >= 0 {
		// The step wrote nothing, so its WAIT covered only what its
		// connection wrote before: sync to cover the state that refused it.
		if err := redisconn.Sync(ctx, t.o.rdb); err != nil {
			return err
		}
		return &ConflictError{Index: int(n), Key: t.conds[n]}
	}
	return nil
}

// recordFields are the fields a read asks for at first: the revision, the
// data field and up to 4 chunks (256 bytes, most records); a longer record
// is read again whole (HGETALL). Every field asked for costs Redis a scan
// of the listpack and a reply, found or not.
var recordFields = func() []string {
	f := []string{"rev", "data"}
	for n := range 4 {
		f = append(f, chunkField(n))
	}
	return f
}()

// GetRecord reads a record written by PutRecord. A missing record has
// revision 0 and nil data.
func GetRecord(ctx context.Context, rdb redis.Cmdable, key string) (rev int64, data []byte, err error) {
	revs, datas, err := GetRecords(ctx, rdb, []string{key})
	if err != nil {
		return 0, nil, err
	}
	return revs[0], datas[0], nil
}

// GetRecords reads several records in one round trip (two when any is
// longer than 256 bytes); missing ones have revision 0 and nil data.
func GetRecords(ctx context.Context, rdb redis.Cmdable, keys []string) (revs []int64, datas [][]byte, err error) {
	if len(keys) == 0 {
		return nil, nil, nil
	}
	var cmds []*redis.SliceCmd
	if len(keys) == 1 {
		cmds = []*redis.SliceCmd{rdb.HMGet(ctx, keys[0], recordFields...)}
	} else {
		cmds = make([]*redis.SliceCmd, len(keys))
		_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = p.HMGet(ctx, k, recordFields...)
			}
			return nil
		})
	}
	revs = make([]int64, len(keys))
	datas = make([][]byte, len(keys))
	var long []int
	for i, c := range cmds {
		vals, err := c.Result()
		if err != nil {
			return nil, nil, redisconn.Classify(err)
		}
		more := false
		if revs[i], datas[i], more, err = parseRecord(vals); err != nil {
			return nil, nil, err
		}
		if more {
			long = append(long, i)
		}
	}
	if err := readLong(ctx, rdb, keys, long, revs, datas); err != nil {
		return nil, nil, err
	}
	return revs, datas, nil
}

// readLong reads whole, in one round trip, the records keys[i] for i in
// long (longer than recordFields reach) into revs[i] and datas[i].
func readLong(ctx context.Context, rdb redis.Cmdable, keys []string, long []int, revs []int64, datas [][]byte) error {
	if len(long) == 0 {
		return nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(long))
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for j, i := range long {
			cmds[j] = p.HGetAll(ctx, keys[i])
		}
		return nil
	})
	for j, i := range long {
		var err error
		if revs[i], datas[i], err = WholeRecord(cmds[j]); err != nil {
			return err
		}
	}
	return nil
}

// ReadWholeRecord queues on a pipeline the read of the whole record at key,
// one round trip whatever its length; WholeRecord decodes it.
func ReadWholeRecord(ctx context.Context, p redis.Cmdable, key string) *redis.MapStringStringCmd {
	return p.HGetAll(ctx, key)
}

// WholeRecord decodes a ReadWholeRecord: revision 0 and nil data when the
// record is missing.
func WholeRecord(c *redis.MapStringStringCmd) (rev int64, data []byte, err error) {
	fields, err := c.Result()
	if err != nil {
		return 0, nil, redisconn.Classify(err)
	}
	return parseFields(fields)
}

// parseFields reads a record from all of its hash's fields (HGETALL).
func parseFields(fields map[string]string) (rev int64, data []byte, err error) {
	vals := []any{nil, fields["data"]}
	if r, ok := fields["rev"]; ok {
		vals[0] = r
	}
	for n := 0; ; n++ {
		c, ok := fields[chunkField(n)]
		if !ok {
			break
		}
		vals = append(vals, c)
	}
	rev, data, _, err = parseRecord(vals)
	return rev, data, err
}

// indexedScript reads, for GetIndexed, the rev field of the hash KEYS[1]
// and the members of the sorted set KEYS[2] scored from ARGV[1] up, each
// followed by all fields of the record at ARGV[2] .. member. It names the
// record keys itself (they depend on what it reads), which a standalone
// Redis or Sentinel allows; a Redis Cluster would need them in one slot.
var indexedScript = redis.NewScript(`
local out = {redis.call("HGET", KEYS[1], "rev") or "0"}
for _, m in ipairs(redis.call("ZRANGE", KEYS[2], ARGV[1], "+inf", "BYSCORE")) do
  out[#out+1] = m
  out[#out+1] = redis.call("HGETALL", ARGV[2] .. m)
end
return out
`)

// Indexed is what GetIndexed read: the revision field of a hash, and the
// members of a sorted set with the records they name (revision 0 and nil
// data for a member whose record is gone).
type Indexed struct {
	Rev     int64
	Members []string
	Revs    []int64
	Datas   [][]byte
}

// GetIndexed reads in one command (a read-only script, so that under the
// batcher it shares a round trip with other callers' commands, which a
// pipeline of several reads does not): the integer in field rev of the
// hash at revKey (0 when missing), and the members of the sorted set index
// scored min or more (Redis syntax: "(5" excludes 5) with the records
// (PutRecord) at recordPrefix + member. The reads are one atomic snapshot.
func GetIndexed(ctx context.Context, rdb redis.Scripter, revKey, index, min, recordPrefix string) (Indexed, error) {
	res, err := indexedScript.Run(ctx, rdb, []string{revKey, index}, min, recordPrefix).Slice()
	if err != nil {
		return Indexed{}, redisconn.Classify(err)
	}
	var out Indexed
	if len(res) == 0 || len(res)%2 != 1 {
		return Indexed{}, apperr.Internalf("outbox: indexed read: %d values", len(res))
	}
	r, _ := res[0].(string)
	if out.Rev, err = strconv.ParseInt(r, 10, 64); err != nil {
		return Indexed{}, apperr.Internalf("outbox: bad revision %q: %w", res[0], err)
	}
	n := len(res) / 2
	out.Members, out.Revs, out.Datas = make([]string, n), make([]int64, n), make([][]byte, n)
	for i := range n {
		out.Members[i], _ = res[1+2*i].(string)
		flat, _ := res[2+2*i].([]any)
		fields := make(map[string]string, len(flat)/2)
		for j := 0; j+1 < len(flat); j += 2 {
			k, _ := flat[j].(string)
			v, _ := flat[j+1].(string)
			fields[k] = v
		}
		if out.Revs[i], out.Datas[i], err = parseFields(fields); err != nil {
			return Indexed{}, err
		}
	}
	return out, nil
}

// parseRecord reads the values of a record's fields rev, data, d0, d1, ...:
// its revision, and its data, joined from the chunks up to the first
// missing one when data is chunkedMark (else data is the whole of it, the
// earlier form). more reports that every chunk asked for was there, so
// there may be more.
func parseRecord(vals []any) (rev int64, data []byte, more bool, err error) {
	if len(vals) < 2 || vals[0] == nil {
		return 0, nil, false, nil
	}
	r, _ := vals[0].(string)
	rev, err = strconv.ParseInt(r, 10, 64)
	if err != nil {
		return 0, nil, false, apperr.Internalf("outbox: bad revision %q: %w", vals[0], err)
	}
	if d, _ := vals[1].(string); d != chunkedMark {
		return rev, []byte(d), false, nil
	}
	size, n := 0, 2
	for ; n < len(vals); n++ {
		c, ok := vals[n].(string)
		if !ok {
			break
		}
		size += len(c)
	}
	data = make([]byte, 0, size)
	for _, v := range vals[2:n] {
		data = append(data, v.(string)...)
	}
	return rev, data, n == len(vals) && len(vals) == len(recordFields), nil
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
    local sum = redis.call("ZCOUNT", k, A[b+1], "+inf")
    for j = b + 3, b + c - 1 do sum = sum + redis.call("ZCOUNT", KEYS[tonumber(A[j])], A[b+1], "+inf") end
    if sum >= tonumber(A[b+2]) then return tonumber(A[b]) end
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
  elseif name == "hdel" then
    redis.call("HDEL", KEYS[tonumber(A[i+1])], unpack(A, b, b + c - 1))
  elseif name == "set" then
    if A[b+1] ~= "0" then
      redis.call("SET", KEYS[tonumber(A[i+1])], A[b], "PX", A[b+1])
    else
      redis.call("SET", KEYS[tonumber(A[i+1])], A[b])
    end
  elseif name == "zadd" then
    redis.call("ZADD", KEYS[tonumber(A[i+1])], A[b], A[b+1])
  elseif name == "zadd_lt" then
    redis.call("ZADD", KEYS[tonumber(A[i+1])], "LT", A[b], A[b+1])
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
