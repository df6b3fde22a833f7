package keyspace

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/outbox"
)

// Store is the part every service's Redis store shares: the client, the
// context's key space and its outbox. A store embeds it and adds its own
// keys and operations.
type Store struct {
	Redis redis.UniversalClient
	Keys  Space
	Box   *outbox.Outbox
}

// NewStore returns the shared part of the store of service context ctx
// under the key prefix ("ls" in production).
func NewStore(rdb redis.UniversalClient, prefix, ctx string) Store {
	return Store{Redis: rdb, Keys: New(prefix, ctx), Box: outbox.New(rdb, prefix, ctx)}
}

// Outbox is the store's outbox, for the relay.
func (s Store) Outbox() *outbox.Outbox { return s.Box }

// Ping checks that Redis answers (health).
func (s Store) Ping(ctx context.Context) error { return s.Redis.Ping(ctx).Err() }

// NameKey is the unique display-name index key of global account ga
// (Account.Name).
func (s Store) NameKey(ga, displayName string) string { return s.Keys.Account(ga).Name(displayName) }
