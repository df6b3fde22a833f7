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
//	<prefix>:<context>:{<ga>}:idx:all               Account.Index: sorted sets, score 0,
//	<prefix>:<context>:{<ga>}:idx:state:<S>         members <createTime ns, 20 digits>/<id>
//	<prefix>:<context>:{<ga>}:idx:type:<t>          (resource.IndexMember)
//	<prefix>:<context>:{<ga>}:idx:state:<S>:type:<t>
package keyspace

import (
	"context"
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

// Index is the list index of a filter on state and type ("" is any).
func (a Account) Index(state, typ string) string {
	switch {
	case state != "" && typ != "":
		return a.Key("idx", "state", state, "type", typ)
	case state != "":
		return a.Key("idx", "state", state)
	case typ != "":
		return a.Key("idx", "type", typ)
	}
	return a.Key("idx", "all")
}

// Entry is where a resource stands in the list indexes: the four indexes
// of its state and type, and its member.
type Entry struct {
	Keys   [4]string
	Member string
}

// Entry is the entry of a resource of state and type, created at created.
// Keys[0] is idx:all, which holds every resource of the global account.
func (a Account) Entry(state, typ string, created time.Time, id string) Entry {
	return Entry{
		Keys:   [4]string{a.Index("", ""), a.Index(state, ""), a.Index("", typ), a.Index(state, typ)},
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

// Page reads the ids of one page of an index: size members after the
// member of the page token (from the start without one), in one ZRANGE
// BYLEX, so a page costs O(log n + size). next is the token of the next
// page, "" after the last. A token that is not one of PageToken's is
// INVALID_ARGUMENT on pageToken.
func Page(ctx context.Context, rdb redis.Cmdable, index string, size int, token string) (ids []string, next string, err error) {
	start := "-"
	if token != "" {
		after, err := resource.ParsePageToken(token)
		if err != nil {
			return nil, "", err
		}
		start = "(" + after
	}
	members, err := rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: index, Start: start, Stop: "+", ByLex: true, Count: int64(size) + 1,
	}).Result()
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

// List reads one page of an index with its records: Page, then Records
// of key(id) for each id.
func List[T any](ctx context.Context, rdb redis.Cmdable, index string, size int, token string,
	key func(id string) string, decode func(rev int64, data []byte) (T, error)) (items []T, next string, err error) {
	ids, next, err := Page(ctx, rdb, index, size, token)
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
