package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/config"
	"github.com/landscape-dev/landscape/services/registry/redisstore"
)

// registryStream is the registry's JetStream stream (docs/API.md, "Events").
var registryStream = cloudevent.StreamName(redisstore.Context)

// evRec pairs the start of a RegisterSystem call with the receipt of its
// system.created event (the name is known once the call returned, which
// may be after the event arrived).
type evRec struct {
	started, received, ceTime time.Time
	called                    bool // the call returned: started is set
}

// events commits RegisterSystem calls through the API at --events-rate
// (open loop: the schedule does not wait for slow calls) and measures, on
// an ephemeral JetStream consumer of the registry's stream on its own NATS
// connection, the time from each call's start (before the service
// commits) to the receipt of its system.created event; and from the
// CloudEvent time (set when the service commits) to the receipt.
func (b *bench) events(ctx context.Context, natsURL string) {
	if !b.want("events") || b.evRate <= 0 {
		return
	}
	nc, err := nats.Connect(natsURL, nats.Name("landscape-loadgen"))
	if err != nil {
		b.log("  events: connect %s: %v", config.RedactURL(natsURL), err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.log("  events: %v", err)
		return
	}
	// The registry creates its stream at start (relay); wait for it, bounded.
	var stream jetstream.Stream
	for deadline := time.Now().Add(15 * time.Second); ; {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		stream, err = js.Stream(sctx, registryStream)
		cancel()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		b.log("  events: stream %s: %v", registryStream, err)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	cons, err := stream.CreateOrUpdateConsumer(cctx, jetstream.ConsumerConfig{
		FilterSubject:     cloudevent.Spec{Context: redisstore.Context, Name: "system.created"}.NATSSubject("*"),
		DeliverPolicy:     jetstream.DeliverNewPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
	})
	cancel()
	if err != nil {
		b.log("  events: consumer: %v", err)
		return
	}

	var (
		mu                sync.Mutex
		recs              = map[string]*evRec{}
		fromStart, fromCE hist
		callErrs          atomic.Uint64
		late              atomic.Uint64
		expected          atomic.Int64
		matched           atomic.Int64
	)
	complete := func(r *evRec) {
		fromStart.record(r.received.Sub(r.started))
		if !r.ceTime.IsZero() {
			fromCE.record(r.received.Sub(r.ceTime))
		}
		matched.Add(1)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		now := time.Now()
		var ev struct {
			Subject string    `json:"subject"`
			Time    time.Time `json:"time"`
		}
		if json.Unmarshal(m.Data(), &ev) != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		r, ok := recs[ev.Subject]
		if !ok {
			recs[ev.Subject] = &evRec{received: now, ceTime: ev.Time}
			return
		}
		if r.received.IsZero() {
			r.received, r.ceTime = now, ev.Time
			complete(r)
		}
	})
	if err != nil {
		b.log("  events: consume: %v", err)
		return
	}
	defer cc.Stop()

	total := int(float64(b.evRate) * b.dur.Seconds())
	interval := time.Second / time.Duration(b.evRate)
	work := make(chan int, 1024)
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			c := b.t.client(w)
			for range work {
				callCtx, cancel := context.WithTimeout(ctx, callTimeout)
				started := time.Now()
				name, _, err := b.t.registerGRPC(callCtx, c, "ev")
				cancel()
				if err != nil {
					callErrs.Add(1)
					continue
				}
				expected.Add(1)
				mu.Lock()
				r, ok := recs[name]
				if !ok {
					recs[name] = &evRec{started: started, called: true}
				} else if !r.called {
					r.started, r.called = started, true
					complete(r)
				}
				mu.Unlock()
			}
		})
	}
	// Profiles first, as in run: the GC before the allocs profile is not
	// the window's CPU.
	stopProfiles := startProfiles(profileLabel("event commit→subscriber", "JS", 64))
	cpu := startCPU()
	t0 := time.Now()
	for i := 0; i < total && ctx.Err() == nil; i++ {
		if d := time.Until(t0.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		select {
		case work <- i:
		default:
			late.Add(1) // 1024 calls queued: the service is behind the rate
		}
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(t0)
	// Wait (bounded) for the last events.
	for deadline := time.Now().Add(15 * time.Second); matched.Load() < expected.Load() && time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(10 * time.Millisecond)
	}
	spent := cpu.end() // before the profiles stop: --memprofile's forced GC is no part of the window
	stopProfiles()
	mu.Lock()
	defer mu.Unlock()
	exp := uint64(expected.Load())
	missing := exp - min(exp, uint64(matched.Load()))
	note := fmt.Sprintf("%d calls at %d/s target (%.0f/s achieved); %d not received; %d calls not sent (queue full)",
		exp, b.evRate, float64(exp)/elapsed.Seconds(), missing, late.Load())
	for i, h := range []*hist{&fromStart, &fromCE} {
		r := Result{
			Scenario: "event commit→subscriber", Transport: "JS", Clients: 64, Ops: h.n,
			Errors: callErrs.Load() + missing, Seconds: elapsed.Seconds(), Throughput: float64(h.n) / elapsed.Seconds(),
		}
		if i == 0 {
			r.Scenario += " (from call start)"
			r.Note = note
		} else {
			r.Scenario += " (from CloudEvent time)"
		}
		r.fill(h)
		if i == 0 {
			spent.apply(&r)
		}
		b.add(ctx, r)
	}
}
