package redisconn

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Batching. Under load most of the cost of a Redis call is not the command
// but the round trip: a write and a read system call on each side. The
// batcher, a go-redis hook that Open installs, lets the commands of
// concurrent callers share round trips. At most batchSenders round trips
// are in flight at once; a caller that finds a free slot sends its command
// at once, alone, so nothing ever waits for company. A caller that finds
// every slot busy queues its command, and whoever frees a slot sends all
// that queued meanwhile as one pipeline.
//
// Each caller still gets its own reply or error, commands of one caller
// keep their order (a caller waits for each reply), and the caller's
// deadline holds: a command still queued when its context ends is dropped
// unsent, and a pipeline is sent with the earliest deadline of the
// commands in it, so nobody waits past their own. The price: while Redis
// is slow, a command may time out with its pipeline before its own
// deadline (UNAVAILABLE either way; a healthy Redis answers even a full
// pipeline of 128 commit steps in a few milliseconds).
//
// go-redis copies hooks into the client's clones (Watch's Tx, Conn,
// WithTimeout), so the batcher runs there too: a command such a clone
// queues goes out in a pipeline of the client itself, not on the clone's
// connection or with its timeouts. Landscape uses none of them.
//
// go-redis has an autopipeliner of its own (Client.AutoPipeline), marked
// experimental; its blocking form waits for a command's batch whatever the
// caller's context says, which breaks the deadline promise above.

const (
	batchSenders = 2   // round trips in flight at once
	batchMax     = 128 // commands per pipeline
)

// unbatched are the commands that must not share a pipeline: those that
// block the connection (a pipeline behind them would wait) and those that
// change the connection's state.
var unbatched = map[string]bool{
	"xread": true, "xreadgroup": true, "blpop": true, "brpop": true, "brpoplpush": true,
	"blmove": true, "blmpop": true, "bzpopmin": true, "bzpopmax": true, "bzmpop": true,
	"wait": true, "waitaof": true, "subscribe": true, "psubscribe": true, "ssubscribe": true,
	"unsubscribe": true, "punsubscribe": true, "sunsubscribe": true, "monitor": true,
	"select": true, "auth": true, "hello": true, "client": true, "multi": true, "exec": true,
	"watch": true, "unwatch": true, "discard": true, "reset": true, "quit": true,
	"shutdown": true, "readonly": true, "readwrite": true,
}

// A queued call's state: queued, taken by a sender, or abandoned by its caller.
const (
	callQueued uint32 = iota
	callTaken
	callAbandoned
)

type call struct {
	ctx     context.Context
	cmd     redis.Cmder
	next    redis.ProcessHook
	durable bool // followed by a WAIT (see Durable)
	state   atomic.Uint32
	done    chan struct{}
}

// batcher is the hook. It keeps no goroutine when idle: senders exist only
// while calls are queued.
type batcher struct {
	client *redis.Client
	wait   Durability
	// waitClient sends the pipelines that end with a WAIT: client with
	// read timeouts longer by the WAIT's (nil when wait.Replicas is 0).
	waitClient *redis.Client

	mu      sync.Mutex
	senders int     // round trips in flight
	queue   []*call // waiting for a sender
}

// batch installs a batcher on c that waits for d's replicas after durable
// writes.
func batch(c *redis.Client, d Durability) *batcher {
	b := &batcher{client: c, wait: d}
	c.AddHook(b)
	if d.Replicas > 0 {
		b.waitClient = c.WithTimeout(ReadTimeout + d.Timeout)
	}
	return b
}

func (b *batcher) DialHook(next redis.DialHook) redis.DialHook { return next }

func (b *batcher) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (b *batcher) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if unbatched[cmd.Name()] {
			return next(ctx, cmd)
		}
		durable := b.wait.Replicas > 0 && isDurable(ctx)
		b.mu.Lock()
		if b.senders < batchSenders {
			// A free slot (so nothing is queued): send it now, alone.
			b.senders++
			b.mu.Unlock()
			defer b.release()
			if durable {
				_ = b.sendDurable(ctx, []redis.Cmder{cmd}, []bool{true})
				return cmd.Err()
			}
			return next(ctx, cmd)
		}
		c := &call{ctx: ctx, cmd: cmd, next: next, durable: durable, done: make(chan struct{})}
		b.queue = append(b.queue, c)
		b.mu.Unlock()
		select {
		case <-c.done:
			return cmd.Err()
		case <-ctx.Done():
			if c.state.CompareAndSwap(callQueued, callAbandoned) {
				return ctx.Err() // never sent
			}
			<-c.done // on the wire: its pipeline ends by this caller's deadline
			return cmd.Err()
		}
	}
}

// release frees a slot, or hands it to a sender when calls queued meanwhile.
func (b *batcher) release() {
	b.mu.Lock()
	if len(b.queue) == 0 {
		b.senders--
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	go b.send()
}

// send sends what is queued, a pipeline at a time, until the queue is
// empty; then it frees its slot.
func (b *batcher) send() {
	calls := make([]*call, 0, batchMax)
	for {
		b.mu.Lock()
		n := min(len(b.queue), batchMax)
		if n == 0 {
			b.senders--
			b.mu.Unlock()
			return
		}
		calls = append(calls[:0], b.queue[:n]...)
		rest := copy(b.queue, b.queue[n:])
		clear(b.queue[rest:])
		b.queue = b.queue[:rest]
		b.mu.Unlock()
		b.exec(calls)
	}
}

// exec sends the calls whose callers still wait: one alone through the
// client's usual path, several as one pipeline with the earliest deadline
// among them. When any of them is durable, the pipeline ends with one
// WAIT that covers them all.
func (b *batcher) exec(calls []*call) {
	live := calls[:0]
	var deadline time.Time
	durable := false
	for _, c := range calls {
		if !c.state.CompareAndSwap(callQueued, callTaken) {
			continue
		}
		live = append(live, c)
		durable = durable || c.durable
		if d, ok := c.ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
			deadline = d
		}
	}
	switch {
	case len(live) == 0:
		return
	case len(live) == 1 && !durable:
		c := live[0]
		c.cmd.SetErr(c.next(c.ctx, c.cmd))
		close(c.done)
		return
	}
	ctx := context.Background()
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	if durable {
		cmds := make([]redis.Cmder, len(live))
		marks := make([]bool, len(live))
		for i, c := range live {
			cmds[i], marks[i] = c.cmd, c.durable
		}
		_ = b.sendDurable(ctx, cmds, marks)
	} else {
		pipe := b.client.Pipeline()
		for _, c := range live {
			_ = pipe.Process(ctx, c.cmd)
		}
		_, _ = pipe.Exec(ctx) // each command holds its own reply or error
	}
	for _, c := range live {
		close(c.done)
	}
}

// sendDurable sends cmds and a WAIT for the batcher's replicas as one
// pipeline on one connection. When fewer replicas acknowledge in time (or
// the WAIT fails), each command marked durable that had succeeded fails
// with the not-replicated error instead, which sendDurable also returns.
// A command's own error (NOSCRIPT, a conflict reply) is kept.
func (b *batcher) sendDurable(ctx context.Context, cmds []redis.Cmder, durable []bool) error {
	pipe := b.waitClient.Pipeline()
	for _, c := range cmds {
		_ = pipe.Process(ctx, c)
	}
	w := waitCmd(ctx, b.wait)
	_ = pipe.Process(ctx, w)
	_, _ = pipe.Exec(ctx) // each command holds its own reply or error
	n, err := w.Result()
	if err == nil && n >= int64(b.wait.Replicas) {
		return nil
	}
	short := notReplicated(n, err)
	for i, c := range cmds {
		if durable[i] && c.Err() == nil {
			c.SetErr(short)
		}
	}
	return short
}
