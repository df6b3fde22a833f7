// Package keyspace is the Redis key scheme that the service stores share
// (docs/ARCHITECTURE.md, "Redis keys"): the keys of a service context, the
// hash-tagged keys of one global account, the unique display-name index,
// and the list indexes of a resource by state and type with their
// page-by-key reads. Each store keeps its own keys (records, lookups) and
// names them through an Account.
//
//	<prefix>:<context>:<name>                       Space.Key: outside every global account
//	<prefix>:<context>:{<ga>}:<part>:<part>…        Account.Key
//	<prefix>:<context>:{<ga>}:name:<folded name>    Account.Name: -> id
//	<prefix>:<context>:{<ga>}:idx:state:<S>         Account.Index: sorted sets, score 0,
//	<prefix>:<context>:{<ga>}:idx:state:<S>:type:<t> members <createTime ns, 20 digits>/<id>
//	                                                 (resource.IndexMember)
//
// A filter without a state reads the indexes of every state and merges
// them (Indexes, Page): a resource has few states, and two index entries
// per resource instead of four save about 290 bytes of Redis per resource.
// Earlier versions also kept idx:all and idx:type:<t>; RetireIndexes
// removes them.
package keyspace

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/resource"
)

// Space is the keys of one service context under a key prefix ("ls" in
// production).
type Space struct{ base string }

// New returns the key space of a service context.
func New(prefix, context string) Space { return Space{base: prefix + ":" + context + ":"} }

// Key is a key of the context outside every global account.
func (s Space) Key(name string) string { return s.base + name }

// Account is the keys of one global account: they carry its hash tag, so
// that one step may write any of them.
func (s Space) Account(ga string) Account { return Account(s.base + "{" + ga + "}:") }

// Account is the common start of a global account's keys.
type Account string

// Key joins parts with ":" after the account's start.
func (a Account) Key(parts ...string) string { return string(a) + strings.Join(parts, ":") }

// Name is the unique-name key of a display name (case-folded, see
// resource.NameKey); it holds the id of the resource that has the name.
func (a Account) Name(displayName string) string { return a.Key("name", resource.NameKey(displayName)) }

// Index is the list index of the resources in state (required) of type
// typ ("" is any type).
func (a Account) Index(state, typ string) string {
	if typ == "" {
		return a.Key("idx", "state", state)
	}
	return a.Key("idx", "state", state, "type", typ)
}

// Indexes is what a filter on state and type ("" is any) reads, for a
// resource whose states are states: the one index of a given state (and
// type), else the index of every state (with the type), whose pages
// Page merges. Without a state they are every resource (of the type).
func (a Account) Indexes(states []string, state, typ string) []string {
	if state != "" {
		return []string{a.Index(state, typ)}
	}
	keys := make([]string, len(states))
	for i, s := range states {
		keys[i] = a.Index(s, typ)
	}
	return keys
}

// Entry is where a resource stands in the list indexes: the two indexes
// of its state and type, and its member.
type Entry struct {
	Keys   [2]string
	Member string
}

// Entry is the entry of a resource of state and type, created at created.
func (a Account) Entry(state, typ string, created time.Time, id string) Entry {
	return Entry{
		Keys:   [2]string{a.Index(state, ""), a.Index(state, typ)},
		Member: resource.IndexMember(created, id),
	}
}

// Add puts the entry into its indexes.
func (e Entry) Add(tx *outbox.Tx) {
	for _, k := range e.Keys {
		tx.ZAdd(k, 0, e.Member)
	}
}

// Remove takes the entry out of its indexes.
func (e Entry) Remove(tx *outbox.Tx) {
	for _, k := range e.Keys {
		tx.ZRem(k, e.Member)
	}
}

// Move moves a resource from the indexes of prev to those of e (its state
// changed): only the indexes that differ are written.
func (e Entry) Move(tx *outbox.Tx, prev Entry) {
	for i, k := range e.Keys {
		if k != prev.Keys[i] {
			tx.ZRem(prev.Keys[i], prev.Member)
			tx.ZAdd(k, 0, e.Member)
		}
	}
}

// Page reads the ids of one page of the indexes of a filter (Indexes):
// size members after the member of the page token (from the start without
// one). Each index is one ZRANGE BYLEX, so a page costs O(log n + size)
// per index; the ranges of several indexes are read in one MULTI (a
// resource that changes state meanwhile is in exactly one of them) and
// merged. next is the token of the next page, "" after the last. A token
// that is not one of PageToken's is INVALID_ARGUMENT on pageToken.
func Page(ctx context.Context, rdb redis.UniversalClient, indexes []string, size int, token string) (ids []string, next string, err error) {
	start := "-"
	if token != "" {
		after, err := resource.ParsePageToken(token)
		if err != nil {
			return nil, "", err
		}
		start = "(" + after
	}
	rng := func(p redis.Cmdable, index string) *redis.StringSliceCmd {
		return p.ZRangeArgs(ctx, redis.ZRangeArgs{Key: index, Start: start, Stop: "+", ByLex: true, Count: int64(size) + 1})
	}
	var members []string
	if len(indexes) == 1 {
		members, err = rng(rdb, indexes[0]).Result()
	} else {
		members, err = merged(ctx, rdb, indexes, rng)
	}
	if err != nil {
		return nil, "", redisconn.Classify(err)
	}
	if len(members) > size {
		members = members[:size]
		next = resource.PageToken(members[len(members)-1])
	}
	ids = make([]string, len(members))
	for i, m := range members {
		ids[i] = resource.MemberID(m)
	}
	return ids, next, nil
}

// merged reads rng of every index in one MULTI and returns their members
// in order, each once.
func merged(ctx context.Context, rdb redis.UniversalClient, indexes []string, rng func(redis.Cmdable, string) *redis.StringSliceCmd) ([]string, error) {
	cmds := make([]*redis.StringSliceCmd, len(indexes))
	if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range indexes {
			cmds[i] = rng(p, k)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var members []string
	for _, c := range cmds {
		members = append(members, c.Val()...)
	}
	slices.Sort(members)
	return slices.Compact(members), nil
}

// Records reads the records (outbox.PutRecord) of keys in one round trip
// and decodes those that exist, in the order of keys; a missing one (say,
// deleted since an index named it) is left out.
func Records[T any](ctx context.Context, rdb redis.Cmdable, keys []string, decode func(rev int64, data []byte) (T, error)) ([]T, error) {
	revs, datas, err := outbox.GetRecords(ctx, rdb, keys)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(keys))
	for i := range keys {
		if revs[i] == 0 {
			continue
		}
		v, err := decode(revs[i], datas[i])
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// List reads one page of the indexes of a filter with its records: Page,
// then Records of key(id) for each id.
func List[T any](ctx context.Context, rdb redis.UniversalClient, indexes []string, size int, token string,
	key func(id string) string, decode func(rev int64, data []byte) (T, error)) (items []T, next string, err error) {
	ids, next, err := Page(ctx, rdb, indexes, size, token)
	if err != nil {
		return nil, "", err
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = key(id)
	}
	items, err = Records(ctx, rdb, keys, decode)
	if err != nil {
		return nil, "", err
	}
	return items, next, nil
}
