package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
)

// feeds share the live events of a global account among the watches of
// that account on this gateway: one ordered consumer per stream, filtered
// by the account, started by the account's first watch and stopped after
// its last. A watch costs the server no consumer of its own and the
// gateway no NATS subscription of its own (before, three each: 136 KiB of
// gateway memory per idle watch, and every JetStream stream allows 1,000
// consumers by default, so 333 watches in all filled it). A watch that
// resumes from a cursor reads what it missed with a consumer of its own
// (catchUp) and then joins the feed; the per-stream sequences tell what
// it has seen, so nothing is lost or repeated at the hand-over.
type feeds struct {
	js jetstream.JetStream
	mu sync.Mutex
	m  map[string]*feed
}

// feed is one global account's live events on this gateway.
type feed struct {
	ga    string
	ready chan struct{} // closed once the consumers run (or failed: err)
	err   error
	ccs   []jetstream.ConsumeContext
	cons  []jetstream.Consumer
	js    jetstream.JetStream

	mu   sync.Mutex
	subs map[*watchSub]struct{}
}

// watchSub is one watch's place in a feed: the events wait in a bounded
// channel; a watch that lets it fill is cut off.
type watchSub struct {
	events chan watchEvent
	cutOff chan struct{}
	onCut  func() // unblocks a write waiting on the reader
	once   sync.Once
}

func (s *watchSub) cut() {
	s.once.Do(func() {
		close(s.cutOff)
		s.onCut()
	})
}

// join adds a watch to the feed of ga, starting the feed when it is the
// account's first watch. Every event the feed takes from now on reaches
// the watch (or cuts it off, calling onCut). leave must follow.
func (fs *feeds) join(ctx context.Context, ga string, onCut func()) (*feed, *watchSub, error) {
	sub := &watchSub{events: make(chan watchEvent, WatchBuffer), cutOff: make(chan struct{}), onCut: onCut}
	fs.mu.Lock()
	if fs.m == nil {
		fs.m = map[string]*feed{}
	}
	f, ok := fs.m[ga]
	if !ok {
		f = &feed{ga: ga, ready: make(chan struct{}), subs: map[*watchSub]struct{}{}}
		fs.m[ga] = f
	}
	f.mu.Lock()
	f.subs[sub] = struct{}{}
	f.mu.Unlock()
	fs.mu.Unlock()
	if !ok {
		f.err = f.start(ctx, fs.js)
		close(f.ready)
	}
	select {
	case <-f.ready:
	case <-ctx.Done():
		fs.leave(f, sub)
		return nil, nil, ctx.Err()
	}
	if f.err != nil {
		fs.leave(f, sub)
		return nil, nil, f.err
	}
	return f, sub, nil
}

// leave removes a watch; the account's last watch stops the feed.
func (fs *feeds) leave(f *feed, sub *watchSub) {
	fs.mu.Lock()
	f.mu.Lock()
	delete(f.subs, sub)
	last := len(f.subs) == 0
	f.mu.Unlock()
	if last && fs.m[f.ga] == f {
		delete(fs.m, f.ga)
	}
	fs.mu.Unlock()
	if last {
		<-f.ready
		f.stop()
	}
}

// start runs the feed's consumers from the streams' ends: only events
// published from now on (a watch reads older ones with catchUp). The feed outlives the request that
// started it, so its consumers do not end with ctx.
func (f *feed) start(ctx context.Context, js jetstream.JetStream) error {
	f.js = js
	for i, c := range watchContexts {
		// From the stream's end by sequence, not DeliverNew: an ordered
		// consumer that has delivered nothing yet and is made again
		// (NATS was down) starts where this one did, not at that later
		// moment's end, which would skip what was published meanwhile.
		s, err := js.Stream(ctx, cloudevent.StreamName(c))
		if err != nil {
			f.stop()
			return apperr.New(apperr.Unavailable, "the event streams cannot be read; retry").WithCause(err)
		}
		cons, err := js.OrderedConsumer(ctx, cloudevent.StreamName(c), jetstream.OrderedConsumerConfig{
			FilterSubjects:    []string{"landscape." + c + "." + f.ga + ".>"},
			DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:       s.CachedInfo().State.LastSeq + 1,
			InactiveThreshold: feedInactiveThreshold,
		})
		if err != nil {
			f.stop()
			return apperr.New(apperr.Unavailable, "the event streams cannot be read; retry").WithCause(err)
		}
		f.cons = append(f.cons, cons)
		cc, err := cons.Consume(func(m jetstream.Msg) { f.dispatch(i, m) })
		if err != nil {
			f.stop()
			return apperr.New(apperr.Unavailable, "the event streams cannot be read; retry").WithCause(err)
		}
		f.ccs = append(f.ccs, cc)
	}
	return nil
}

// feedInactiveThreshold is how long the server keeps a consumer nobody
// pulls from: the consumers of a gateway that died go after it (an
// ordered consumer makes a new one when its own is gone).
const feedInactiveThreshold = time.Minute

// stop stops the consumers and deletes them on the server (stopping
// alone leaves them there until feedInactiveThreshold), in the
// background: no watch waits for it.
func (f *feed) stop() {
	for _, cc := range f.ccs {
		cc.Stop()
	}
	cons := f.cons
	f.ccs, f.cons = nil, nil
	go deleteConsumers(f.js, cons)
}

// deleteConsumers deletes consumers a watch no longer reads; one the
// server does not know (any more) is no error.
func deleteConsumers(js jetstream.JetStream, cons []jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range cons {
		if info := c.CachedInfo(); info != nil {
			_ = js.DeleteConsumer(ctx, info.Stream, info.Name)
		}
	}
}

// dispatch hands an event to every watch of the feed; a watch whose
// buffer is full is cut off, the others go on.
func (f *feed) dispatch(stream int, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	ev := watchEvent{stream: stream, seq: md.Sequence.Stream, data: m.Data()}
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		select {
		case s.events <- ev:
		default:
			s.cut()
		}
	}
}

// catchUp calls emit for each event of ga in the stream after sequence
// from, in order, up to the stream's end as it is now; it reads with an
// ordered consumer of its own, which it deletes when done.
func catchUp(ctx context.Context, js jetstream.JetStream, stream int, ga string, from uint64, emit func(watchEvent) bool) error {
	c := watchContexts[stream]
	cons, err := js.OrderedConsumer(ctx, cloudevent.StreamName(c), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"landscape." + c + "." + ga + ".>"},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    from + 1,
	})
	if err != nil {
		return apperr.New(apperr.Unavailable, "the event streams cannot be read; retry").WithCause(err)
	}
	defer deleteConsumers(js, []jetstream.Consumer{cons})
	info, err := cons.Info(ctx)
	if err != nil {
		return apperr.New(apperr.Unavailable, "the event streams cannot be read; retry").WithCause(err)
	}
	pending := info.NumPending
	for pending > 0 {
		batch, err := cons.Fetch(int(min(pending, WatchBuffer)), jetstream.FetchContext(ctx))
		if err != nil {
			return apperr.New(apperr.Unavailable, "the event streams cannot be read; retry").WithCause(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			if !emit(watchEvent{stream: stream, seq: md.Sequence.Stream, data: m.Data()}) {
				return context.Canceled
			}
			pending = md.NumPending
		}
		if err := batch.Error(); err != nil {
			return apperr.New(apperr.Unavailable, "the event streams cannot be read; retry").WithCause(err)
		}
		if n == 0 {
			return apperr.New(apperr.Unavailable, "the event streams cannot be read; retry")
		}
	}
	return nil
}
