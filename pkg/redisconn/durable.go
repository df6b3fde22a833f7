package redisconn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

// Durability. Redis replicates asynchronously: a write the primary has
// answered may be missing on the replica that Sentinel promotes when the
// primary dies. With Durability.Replicas = N > 0, a write is done only once
// N replicas acknowledge it (Redis WAIT), so a failover to one of them
// keeps it.
//
// WAIT counts the replicas that hold everything the connection it runs on
// has written, and replication is one ordered stream: a WAIT right after a
// write covers that write and every write any connection made before it.
// The batcher therefore sends a write that asks for durability (Durable)
// and a WAIT in one pipeline on one connection; concurrent callers' writes
// that share a pipeline share its one WAIT. Sync covers what others wrote:
// it writes nothing to the data (a PUBLISH, which Redis replicates) and
// WAITs after it.

// Durability is how many replicas must hold a write before it counts as
// done.
type Durability struct {
	// Replicas is N: the replicas that must acknowledge each durable
	// write (Redis WAIT); 0 waits for none.
	Replicas int
	// Timeout is the longest wait for them (default DefaultWaitTimeout).
	Timeout time.Duration
}

// DefaultWaitTimeout is the default Durability.Timeout.
const DefaultWaitTimeout = time.Second

// syncChannel is the channel Sync publishes nothing to, to move the
// connection's replication offset to the present.
const syncChannel = "landscape:sync"

// ErrNotReplicated is the cause of the UNAVAILABLE error a durable write
// or Sync returns when fewer than N replicas acknowledged in time. The
// write may have happened on the primary: its outcome is unknown.
var ErrNotReplicated = errors.New("redis: fewer replicas than required acknowledged the write in time")

// notReplicated is the error a caller sees.
func notReplicated(got int64, cause error) error {
	if cause == nil {
		cause = fmt.Errorf("%w (%d acknowledged)", ErrNotReplicated, got)
	} else {
		cause = fmt.Errorf("%w: %w", ErrNotReplicated, cause)
	}
	return apperr.New(apperr.Unavailable, "the change is not yet held by enough Redis replicas; its outcome is unknown, retry (with the same requestId where the call takes one)",
		"dependency", "redis").WithCause(cause)
}

// Client is a Redis client opened with a Durability (OpenDurable).
type Client struct {
	*redis.Client
	durability Durability
	b          *batcher
}

// Durability is the client's durability.
func (c *Client) Durability() Durability { return c.durability }

// OpenDurable is Open with a durability: commands sent with a context
// from Durable, and Sync, wait for d.Replicas replicas.
func OpenDurable(url string, d Durability) (*Client, error) {
	if d.Replicas < 0 {
		return nil, fmt.Errorf("redis: replicas to wait for must not be negative, got %d", d.Replicas)
	}
	if d.Timeout <= 0 {
		d.Timeout = DefaultWaitTimeout
	}
	c, b, err := open(url, d)
	if err != nil {
		return nil, err
	}
	return &Client{Client: c, durability: d, b: b}, nil
}

// DurabilityOf returns the durability of a client from OpenDurable; any
// other client has none (N = 0).
func DurabilityOf(rdb redis.UniversalClient) Durability {
	if c, ok := rdb.(*Client); ok {
		return c.durability
	}
	return Durability{}
}

type durableKey struct{}

// Durable marks the commands sent with the returned context as writes
// that must be held by the client's replicas before they count as done: a
// client from OpenDurable (with N > 0) follows each with a WAIT, shared
// among the commands of one pipeline, and when fewer than N replicas
// acknowledge in time, a command that succeeded fails with an UNAVAILABLE
// error (cause ErrNotReplicated) instead. Other clients ignore the mark.
func Durable(ctx context.Context) context.Context {
	return context.WithValue(ctx, durableKey{}, true)
}

func isDurable(ctx context.Context) bool {
	v, _ := ctx.Value(durableKey{}).(bool)
	return v
}

// Sync returns once the client's N replicas hold every write the primary
// had acknowledged when Sync was called, whoever made it; with fewer in
// time it returns an UNAVAILABLE error (cause ErrNotReplicated). It costs
// nothing (no round trip) on a client with N = 0.
func Sync(ctx context.Context, rdb redis.UniversalClient) error {
	c, ok := rdb.(*Client)
	if !ok || c.durability.Replicas == 0 {
		return nil
	}
	cmd := redis.NewIntCmd(ctx, "publish", syncChannel, "")
	_ = c.b.sendDurable(ctx, []redis.Cmder{cmd}, []bool{true})
	return Classify(cmd.Err())
}

// waitCmd is the WAIT command for d, its timeout cut to what is left of
// ctx's deadline so that Redis answers before the client gives up (WAIT 0
// would block forever: at least 1 ms).
func waitCmd(ctx context.Context, d Durability) *redis.IntCmd {
	timeout := d.Timeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl) - 5*time.Millisecond; left < timeout {
			timeout = left
		}
	}
	ms := max(timeout.Milliseconds(), 1)
	return redis.NewIntCmd(ctx, "wait", d.Replicas, ms)
}
