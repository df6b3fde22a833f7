package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/services/token/tokens"
)

// The rows of the Redis memory step.
const (
	redisPendingScenario    = "Redis per PENDING system with its token"
	redisRegisteredScenario = "Redis per REGISTERED system"
	redisAuditScenario      = "Redis per audit trail entry"
)

// redisMemory measures Redis memory per system: n systems registered
// through the API into global accounts of their own (the rotation "rmem"),
// so that every key of theirs is known: the keys that carry one of those
// global accounts ({ga}) and the token records, found from the secrets
// (their key is the secret's hash). It sums MEMORY USAGE (SAMPLES 0: every
// element) of those keys per system, once while the systems are PENDING
// with their token, and once they are paired, without the keys that have a
// time to live (the consumed token's record and indexes, which go after
// the token's retention): what a REGISTERED system keeps for good.
// MEMORY USAGE counts each key's name, value and dictionary entry; not the
// allocator's fragmentation, nor the entry of a key with a time to live in
// Redis's expires table (about 30 bytes per such key).
//
// The system rows count what the system and its token keep: the audit
// trail is not a system's but its events', an entry per event kept for the
// audit retention (400 days by default) whatever becomes of the system, so
// it is its own row, per entry, and each system row's note says what the
// trail of those systems' events held.
func (b *bench) redisMemory(ctx context.Context, n int) {
	if !b.want("redis-memory") || n <= 0 || b.keyPrefix == "" || b.t.redis == nil || b.t.fixedGA != "" {
		return
	}
	toks := make([]issued, n)
	names := make([]string, n)
	t0 := time.Now()
	err := parallel(ctx, n, 64, func(ctx context.Context, i int) error {
		name, tok, err := b.t.registerGRPC(ctx, b.t.client(i), "rmem")
		toks[i], names[i] = tok, name
		return err
	})
	b.log("  (registered %d systems for the Redis memory in %.1fs)", n, time.Since(t0).Seconds())
	if err != nil {
		b.log("  redis memory: %v", err)
		return
	}
	b.settle(ctx)
	gas := map[string]bool{}
	for _, name := range names {
		gas[gaOf(name)] = true
	}
	tokenKeys := make([]string, n)
	for i, t := range toks {
		tokenKeys[i] = b.keyPrefix + ":token:hash:" + tokens.HashSecret(t.token)
	}
	if !b.addKeysUsage(ctx, redisPendingScenario, n, gas, tokenKeys, false, func(keys int) string {
		return fmt.Sprintf("MEMORY USAGE of %d keys over %d systems registered through the API", keys, n)
	}) {
		return
	}

	err = parallel(ctx, n, 64, func(ctx context.Context, i int) error {
		return b.t.pairGRPC(ctx, b.t.client(i), toks[i])
	})
	if err != nil {
		b.log("  redis memory: pairing: %v", err)
		return
	}
	b.settle(ctx)
	b.addKeysUsage(ctx, redisRegisteredScenario, n, gas, tokenKeys, true, func(keys int) string {
		return fmt.Sprintf("MEMORY USAGE of the %d keys without a time to live once the %d systems paired (the consumed token's keys expire after its retention)", keys, n)
	})
}

// addKeysUsage adds the row of scenario: the bytes per system of n of the
// keys keysUsage counts, without the audit trail, with the note about
// them; after the REGISTERED row, the audit trail's row. False when it
// could not count them (logged).
func (b *bench) addKeysUsage(ctx context.Context, scenario string, n int, gas map[string]bool, extra []string, lasting bool, note func(keys int) string) bool {
	u, err := b.keysUsage(ctx, gas, extra, lasting)
	if err != nil {
		b.log("  redis memory: %v", err)
		return false
	}
	b.add(ctx, Result{Scenario: scenario, Transport: "Redis", Value: float64(u.bytes-u.audit) / float64(n), Unit: "B", Note: note(u.keys-u.auditKeys) + u.auditNote(n)})
	if scenario == redisRegisteredScenario && u.entries > 0 {
		b.add(ctx, Result{Scenario: redisAuditScenario, Transport: "Redis", Value: float64(u.audit) / float64(u.entries), Unit: "B",
			Note: fmt.Sprintf("MEMORY USAGE of the %d audit keys of those global accounts over their %d entries (%.1f per system): the entry and its place in the indexes by time, subject, type and actor", u.auditKeys, u.entries, float64(u.entries)/float64(n))})
	}
	return true
}

// usage is what keysUsage summed: all the bytes and keys, and those of the
// audit trail (its entries and indexes in the global account's keys),
// which grows with the events of a system and is kept for the audit
// retention, with its entries.
type usage struct {
	bytes, audit    int64
	keys, auditKeys int
	entries         int64
}

// auditNote tells what the audit trail held besides, per system of n.
func (u usage) auditNote(n int) string {
	if u.audit == 0 {
		return ""
	}
	return fmt.Sprintf("; not counted: the audit trail of their events, %.0f B per system (%.0f B with it)",
		float64(u.audit)/float64(n), float64(u.bytes)/float64(n))
}

// keysUsage sums MEMORY USAGE of the keys of the global accounts gas (under
// the key prefix) and of extra, without those that have a time to live when
// lasting.
func (b *bench) keysUsage(ctx context.Context, gas map[string]bool, extra []string, lasting bool) (usage, error) {
	keys := append([]string(nil), extra...)
	var cursor uint64
	for range 1_000_000 {
		page, next, err := b.t.redis.Scan(ctx, cursor, b.keyPrefix+":*", 5000).Result()
		if err != nil {
			return usage{}, err
		}
		for _, k := range page {
			if ga := hashTag(k); ga != "" && gas[ga] {
				keys = append(keys, k)
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	var u usage
	for start := 0; start < len(keys); start += 1000 {
		chunk := keys[start:min(start+1000, len(keys))]
		mem := make([]*redis.IntCmd, len(chunk))
		ttl := make([]*redis.DurationCmd, len(chunk))
		entries := make([]*redis.IntCmd, len(chunk))
		_, err := b.t.redis.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range chunk {
				mem[i] = p.MemoryUsage(ctx, k, 0)
				ttl[i] = p.PTTL(ctx, k)
				if strings.HasSuffix(k, ":audit:entries") {
					entries[i] = p.HLen(ctx, k)
				}
			}
			return nil
		})
		if err != nil && err != redis.Nil {
			return usage{}, err
		}
		for i := range chunk {
			n, err := mem[i].Result()
			if err != nil { // gone
				continue
			}
			if lasting && ttl[i].Val() > 0 {
				continue
			}
			u.bytes += n
			u.keys++
			if strings.Contains(chunk[i], ":audit:") {
				u.audit += n
				u.auditKeys++
			}
			if entries[i] != nil {
				u.entries += entries[i].Val()
			}
		}
	}
	return u, nil
}

// hashTag is the text between the first { and the next } of a key.
func hashTag(k string) string {
	_, rest, ok := strings.Cut(k, "{")
	if !ok {
		return ""
	}
	tag, _, ok := strings.Cut(rest, "}")
	if !ok {
		return ""
	}
	return tag
}
