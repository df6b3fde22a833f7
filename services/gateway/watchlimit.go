package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Leases of the watch limit in Redis (docs/API.md, "Watch").
const (
	// WatchLeaseTTL is how long a watch's lease lives in Redis without a
	// refresh: the watches of a gateway that died stop counting after it.
	WatchLeaseTTL = 30 * time.Second
	// watchLeaseRefresh is how often a gateway refreshes its leases.
	watchLeaseRefresh = WatchLeaseTTL / 3
	// watchLeaseTimeout bounds one Redis call of the limit.
	watchLeaseTimeout = 250 * time.Millisecond
	// watchLeaseDownRetry is how often the limit tries Redis while it
	// does not answer; watches in between do not wait for it.
	watchLeaseDownRetry = time.Second
)

// watchLimit holds "at most MaxWatchesPerAccount watches of a global
// account at once" across every gateway replica. Each watch takes a lease:
// a member of the sorted set <prefix>:gateway:watches:<ga>, scored with
// its expiry in Redis's own clock; a watch is admitted when fewer than the
// limit are live. One goroutine per gateway (not per watch) refreshes the
// process's leases every watchLeaseRefresh, so a gateway that dies without
// releasing frees its slots after WatchLeaseTTL.
//
// The process also counts its own watches (watchers): that count is the
// bound when there is no Redis, and the fallback when Redis does not
// answer. A watch is no guessing budget (it needs a JWT of the account),
// so the limit fails open to the per-process bound, where the pairing
// limit fails closed; the next refresh writes the leases of watches
// admitted meanwhile, so the shared count catches up once Redis answers.
type watchLimit struct {
	rdb    redis.UniversalClient // nil: the per-process count only
	prefix string
	ttl    time.Duration // WatchLeaseTTL; shorter in tests
	every  time.Duration // refresh period: ttl / 3
	logger *slog.Logger
	local  watchers

	id      string // this process's lease prefix
	next    atomic.Uint64
	down    atomic.Bool
	retryAt atomic.Int64 // while down: unix nanos of the next Redis attempt

	mu     sync.Mutex
	leases map[string]map[string]struct{} // ga → lease members held here
	start  sync.Once
	// refreshing orders a release's ZREM after a refresh in flight, which
	// would otherwise write the released lease again.
	refreshing sync.Mutex
	stop       chan struct{}
	stopOnce   sync.Once
}

func newWatchLimit(rdb redis.UniversalClient, prefix string, logger *slog.Logger) *watchLimit {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &watchLimit{rdb: rdb, prefix: prefix, logger: logger, ttl: WatchLeaseTTL, every: watchLeaseRefresh, id: hex.EncodeToString(b), leases: map[string]map[string]struct{}{}, stop: make(chan struct{})}
}

// key is the Redis key of a global account's leases.
func (l *watchLimit) key(ga string) string { return l.prefix + ":gateway:watches:" + ga }

// acquireScript: KEYS[1] the account's leases; ARGV[1] the member, ARGV[2]
// the TTL (ms), ARGV[3] the limit. Drops expired leases, then adds the
// member when fewer than the limit are live. Returns 1 when admitted.
var acquireScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call("ZADD", KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call("PEXPIRE", KEYS[1], tonumber(ARGV[2]))
return 1
`)

// refreshScript: KEYS[1] the account's leases; ARGV[1] the TTL (ms),
// ARGV[2…] the members held by this process. Extends (or writes again)
// each lease.
var refreshScript = redis.NewScript(`
local t = redis.call("TIME")
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call("ZADD", KEYS[1], expiry, ARGV[i])
end
redis.call("PEXPIRE", KEYS[1], tonumber(ARGV[1]))
return 1
`)

// acquire admits a watch of ga and returns its release, or false when the
// account has MaxWatchesPerAccount watches already.
func (l *watchLimit) acquire(ctx context.Context, ga string) (func(), bool) {
	if !l.local.acquire(ga) {
		return nil, false
	}
	if l.rdb == nil {
		return func() { l.local.release(ga) }, true
	}
	l.start.Do(func() { go l.refreshLoop() })
	member := l.id + "-" + strconv.FormatUint(l.next.Add(1), 10)
	// While Redis is down it is tried once a second (watchLeaseDownRetry); the
	// watches in between do not wait for it, and the next refresh
	// writes their leases.
	if l.tryRedis() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), watchLeaseTimeout)
		ok, err := acquireScript.Run(cctx, l.rdb, []string{l.key(ga)}, member, l.ttl.Milliseconds(), MaxWatchesPerAccount).Int()
		cancel()
		l.noteRedis(err)
		if err == nil && ok != 1 {
			l.local.release(ga)
			return nil, false
		}
	}
	l.mu.Lock()
	if l.leases[ga] == nil {
		l.leases[ga] = map[string]struct{}{}
	}
	l.leases[ga][member] = struct{}{}
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		delete(l.leases[ga], member)
		if len(l.leases[ga]) == 0 {
			delete(l.leases, ga)
		}
		l.mu.Unlock()
		l.local.release(ga)
		if !l.tryRedis() {
			return // the lease expires on its own
		}
		l.refreshing.Lock()
		defer l.refreshing.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), watchLeaseTimeout)
		defer cancel()
		l.noteRedis(l.rdb.ZRem(ctx, l.key(ga), member).Err())
	}, true
}

// refreshLoop extends this process's leases until close.
func (l *watchLimit) refreshLoop() {
	t := time.NewTicker(l.every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.refresh()
		}
	}
}

// close stops the refreshes; the leases still held expire after
// WatchLeaseTTL.
func (l *watchLimit) close() { l.stopOnce.Do(func() { close(l.stop) }) }

func (l *watchLimit) refresh() {
	l.refreshing.Lock()
	defer l.refreshing.Unlock()
	l.mu.Lock()
	held := make(map[string][]any, len(l.leases))
	for ga, ms := range l.leases {
		args := make([]any, 0, len(ms)+1)
		args = append(args, l.ttl.Milliseconds())
		for m := range ms {
			args = append(args, m)
		}
		held[ga] = args
	}
	l.mu.Unlock()
	if len(held) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*watchLeaseTimeout)
	defer cancel()
	pipe := l.rdb.Pipeline()
	for ga, args := range held {
		// Eval, not EvalSha: a pipeline cannot fall back on NOSCRIPT.
		refreshScript.Eval(ctx, pipe, []string{l.key(ga)}, args...)
	}
	_, err := pipe.Exec(ctx)
	l.noteRedis(err)
}

// tryRedis reports whether to call Redis: always while it answers, once
// per watchLeaseDownRetry while it does not.
func (l *watchLimit) tryRedis() bool {
	return !l.down.Load() || time.Now().UnixNano() >= l.retryAt.Load()
}

// noteRedis logs the start and the end of a Redis outage once each.
func (l *watchLimit) noteRedis(err error) {
	if err != nil && err != redis.Nil {
		l.retryAt.Store(time.Now().Add(watchLeaseDownRetry).UnixNano())
		if !l.down.Swap(true) {
			l.logger.Warn("watch limit: Redis unavailable; counting this gateway's watches only until it answers", "error", err.Error())
		}
		return
	}
	if l.down.Swap(false) {
		l.logger.Info("watch limit: Redis available again")
	}
}
