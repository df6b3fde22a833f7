// Package ratelimit is a rate limit per key kept in Redis, shared by
// every replica of a process: the pairing limit of the gateway (per client
// address) and of the registry (per client, where pairing happens).
package ratelimit

import (
	"context"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// limitTimeout bounds one rate-limit decision; past it the request is
// refused.
const limitTimeout = 250 * time.Millisecond

// Limiter is a per-key rate limit kept in Redis (GCRA: one key per client
// holding its theoretical arrival time), so that every replica shares one
// budget per client.
//
// When Redis is slow or cannot be reached the limiter fails closed: the
// request is refused (429 with a Retry-After of one second), and the
// outage is logged once (and its end once); while it lasts, Redis is tried
// again once a second and other requests do not wait for it. Letting every
// pairing through while the limiter cannot count would hand an attacker
// who can slow Redis an unlimited guessing budget on the one route without
// a JWT; the pairing flow needs Redis anyway (tokens live there), so a
// refusal costs legitimate callers nothing they would otherwise get.
type Limiter struct {
	rdb      redis.UniversalClient
	prefix   string
	interval time.Duration // emission interval: 1/rate
	burst    int
	logger   *slog.Logger
	down     atomic.Bool
	retryAt  atomic.Int64 // while down: unix nanos of the next Redis attempt
}

// downRetry is how often a limiter whose Redis is down tries it again;
// requests in between go on at once instead of waiting for a timeout.
const downRetry = time.Second

// downRetrySeconds is the Retry-After of a refusal while Redis is down.
const downRetrySeconds = int(downRetry / time.Second)

// New allows rate requests per second per key with bursts of burst,
// keyed <prefix><key> (prefix e.g. "ls:gateway:ratelimit:").
func New(rdb redis.UniversalClient, prefix string, rate float64, burst int, logger *slog.Logger) *Limiter {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	interval := time.Duration(float64(time.Second) / rate)
	if interval < time.Microsecond {
		interval = time.Microsecond
	}
	if burst < 1 {
		burst = 1
	}
	return &Limiter{rdb: rdb, prefix: prefix, interval: interval, burst: burst, logger: logger}
}

// gcraScript: KEYS[1] the key; ARGV[1] emission interval (µs), ARGV[2]
// burst. Time comes from Redis (TIME), so replicas need no clock sync.
// Returns {1, 0} when allowed, {0, wait µs} when not.
var gcraScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call("GET", KEYS[1]) or "0")
if tat < now then tat = now end
local newtat = tat + interval
local allowAt = newtat - burst * interval
if allowAt > now then
  return {0, allowAt - now}
end
redis.call("SET", KEYS[1], string.format("%.0f", newtat), "PX", math.ceil((newtat - now) / 1000) + 1000)
return {1, 0}
`)

// Key is the Redis key of a client.
func (l *Limiter) Key(client string) string { return l.prefix + client }

// Allow reports whether a request from client may go on and, when not,
// after how many seconds to retry (rounded up, at least 1).
func (l *Limiter) Allow(ctx context.Context, client string) (bool, int) {
	if l.down.Load() && time.Now().UnixNano() < l.retryAt.Load() {
		return false, downRetrySeconds
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limitTimeout)
	defer cancel()
	res, err := gcraScript.Run(ctx, l.rdb, []string{l.Key(client)}, l.interval.Microseconds(), l.burst).Int64Slice()
	if err != nil || len(res) != 2 {
		l.retryAt.Store(time.Now().Add(downRetry).UnixNano())
		if l.down.CompareAndSwap(false, true) {
			msg := "unexpected answer"
			if err != nil {
				msg = err.Error()
			}
			l.logger.Warn("rate limit unavailable: refusing requests until Redis answers", "key_prefix", l.prefix, "error", msg)
		}
		return false, downRetrySeconds
	}
	if l.down.CompareAndSwap(true, false) {
		l.logger.Info("rate limit available again", "key_prefix", l.prefix)
	}
	if res[0] == 1 {
		return true, 0
	}
	secs := int(math.Ceil(float64(res[1]) / 1e6))
	if secs < 1 {
		secs = 1
	}
	return false, secs
}
