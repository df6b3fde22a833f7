package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/outbox"
	formationstore "github.com/landscape-dev/landscape/services/formation/redisstore"
	"github.com/landscape-dev/landscape/services/registry/redisstore"
	"github.com/landscape-dev/landscape/services/registry/system"
	tokenstore "github.com/landscape-dev/landscape/services/token/redisstore"
)

// bench is one load run: the target, its settings and the results so far.
type bench struct {
	t        *target
	dur      time.Duration
	clients  []int
	filter   []string
	listSize int
	evRate   int
	// openLoad is the fraction of the closed-loop capacity an open-loop
	// window sends at; openFixed, when positive, a fixed rate instead.
	openLoad, openFixed float64
	// store, when not nil, seeds systems through the registry's own Redis
	// store (in-process mode, or a known key prefix); else through the API.
	store *redisstore.Store
	// keyPrefix is the landscape's Redis key prefix when known (with store).
	keyPrefix string
	js        jetstream.JetStream // the landscape's NATS, to see its consumers catch up
	pool      tokenPool
	results   []Result
	log       func(format string, args ...any)
}

// want reports whether a scenario key passes the --scenarios filter.
func (b *bench) want(key string) bool {
	if len(b.filter) == 0 {
		return true
	}
	for _, f := range b.filter {
		if f == "all" || strings.Contains(key, f) {
			return true
		}
	}
	return false
}

func (b *bench) add(ctx context.Context, r Result) {
	b.log("  %-26s %-5s %3d clients: %8d ops %9.0f/s  p50 %7.2fms p99 %7.2fms  errors %d %s",
		r.Scenario, r.Transport, r.Clients, r.Ops, r.Throughput, r.P50ms, r.P99ms, r.Errors, r.FirstError)
	if r.Ops > 0 && r.Unit == "" {
		// A window's calls are done when it ends; their events may not be:
		// the work the relays and consumers still had is the window's too.
		if took := b.settle(ctx); took > settleNoise {
			r.CatchUpSeconds = took.Seconds()
			r.Note = strings.TrimPrefix(r.Note+"; ", "; ") + fmt.Sprintf(
				"the relays and consumers handled its events %.1fs after the window (%.0f/s over both)",
				took.Seconds(), r.Sustained())
		}
	}
	b.results = append(b.results, r)
}

// baselines: the same clients, no service logic behind.
func (b *bench) baselines(ctx context.Context) {
	for _, n := range b.clients {
		if b.want("baseline-health-grpc") {
			actx, err := b.t.authCtx(ctx, b.t.ga("base"))
			if err != nil {
				b.log("baseline: %v", err)
				return
			}
			r := closedLoop(actx, "health Check (baseline)", "gRPC", n, b.dur, func(ctx context.Context, c int) error {
				_, err := b.t.client(c).health.Check(ctx, &healthpb.HealthCheckRequest{})
				return err
			})
			r.Baseline = true
			b.add(ctx, r)
		}
		if b.want("baseline-healthz-rest") {
			r := closedLoop(ctx, "GET /healthz (baseline)", "REST", n, b.dur, func(ctx context.Context, c int) error {
				return b.t.rest(ctx, http.MethodGet, "/healthz", "", nil, nil)
			})
			r.Baseline = true
			b.add(ctx, r)
		}
		if b.want("baseline-systemtypes-rest") && b.t.baseURL != "" {
			r := closedLoop(ctx, systemTypesBaseline, "REST", n, b.dur, func(ctx context.Context, c int) error {
				return b.t.rest(ctx, http.MethodGet, "/v1/systemTypes", b.t.ga("base"), nil, nil)
			})
			r.Baseline = true
			b.add(ctx, r)
		}
		if b.want("baseline-redis-ping") && b.t.redis != nil {
			r := closedLoop(ctx, "Redis PING (baseline)", "RESP", n, b.dur, func(ctx context.Context, c int) error {
				return b.t.redis.Ping(ctx).Err()
			})
			r.Baseline = true
			b.add(ctx, r)
		}
	}
}

// register runs RegisterSystem over gRPC and REST; the tokens go to the
// pool for the pairing scenarios.
func (b *bench) register(ctx context.Context) {
	for _, n := range b.clients {
		if b.want("register-grpc") {
			b.add(ctx, closedLoop(ctx, "RegisterSystem", "gRPC", n, b.dur, func(ctx context.Context, c int) error {
				_, tok, err := b.t.registerGRPC(ctx, b.t.client(c), "reg")
				if err == nil {
					b.pool.put(tok)
				}
				return err
			}))
		}
	}
	if !b.want("register-rest") {
		return
	}
	reg := func(ctx context.Context, _ int) error {
		_, tok, err := b.t.registerREST(ctx, "reg")
		if err == nil {
			b.pool.put(tok)
		}
		return err
	}
	for _, n := range b.clients {
		b.add(ctx, closedLoop(ctx, "RegisterSystem", "REST", n, b.dur, reg))
	}
	if rate := b.openRate(b.capacity("RegisterSystem", "REST")); rate > 0 {
		b.add(ctx, openLoop(ctx, "RegisterSystem", "REST", rate, b.dur, reg))
	}
}

// fillPool registers systems (outside any timed window) until the pool
// holds n tokens.
func (b *bench) fillPool(ctx context.Context, n int) error {
	missing := n - b.pool.len()
	if missing <= 0 {
		return nil
	}
	t0 := time.Now()
	err := parallel(ctx, missing, 64, func(ctx context.Context, i int) error {
		_, tok, err := b.t.registerGRPC(ctx, b.t.client(i), "pre")
		if err == nil {
			b.pool.put(tok)
		}
		return err
	})
	b.log("  (pre-registered %d systems for their tokens in %.1fs)", missing, time.Since(t0).Seconds())
	return err
}

// pair runs PairSystem over gRPC and REST with tokens of the pool.
func (b *bench) pair(ctx context.Context) {
	last := 0.0 // the previous pairing throughput sizes the next pool
	for _, transport := range []string{"gRPC", "REST"} {
		key := "pair-" + strings.ToLower(transport)
		if transport == "gRPC" {
			key = "pair-grpc"
		}
		for _, n := range b.clients {
			if !b.want(key) {
				continue
			}
			// Enough tokens for the window at 1.5x the fastest pairing (or,
			// before any, twice the fastest registration; or 800/s) seen so
			// far. Pre-registering costs about as long as the window.
			rate := max(last, b.fastest("RegisterSystem")*2)
			if rate == 0 {
				rate = 800
			}
			need := min(int(rate*1.5*b.dur.Seconds()), 200_000)
			if err := b.fillPool(ctx, need); err != nil {
				b.log("  pre-registration failed: %v", err)
			}
			b.settle(ctx)
			r := closedLoop(ctx, "PairSystem", transport, n, b.dur, func(ctx context.Context, c int) error {
				tok, ok := b.pool.take()
				if !ok {
					return errExhausted
				}
				if transport == "gRPC" {
					return b.t.pairGRPC(ctx, b.t.client(c), tok)
				}
				return b.t.pairREST(ctx, tok)
			})
			last = max(last, r.Throughput)
			b.add(ctx, r)
		}
	}
	// Open loop: pairings arrive at the registrations' rate (each system
	// registered pairs once), a fraction of RegisterSystem's REST capacity.
	rate := b.openRate(b.capacity("RegisterSystem", "REST"))
	if !b.want("pair-rest") || rate <= 0 {
		return
	}
	if err := b.fillPool(ctx, int(rate*b.dur.Seconds())+64); err != nil {
		b.log("  pre-registration failed: %v", err)
	}
	b.settle(ctx)
	b.add(ctx, openLoop(ctx, "PairSystem", "REST", rate, b.dur, func(ctx context.Context, _ int) error {
		tok, ok := b.pool.take()
		if !ok {
			return errExhausted
		}
		return b.t.pairREST(ctx, tok)
	}))
}

// systemTypesBaseline is the scenario name of the GET /v1/systemTypes
// baseline: a REST call through the gateway to the registry, answered from
// its catalog in memory (no Redis).
const systemTypesBaseline = "GET /v1/systemTypes (baseline)"

// openRate is the arrival rate of an open-loop window: --open-rate when
// set, else --open-load times capacity (0: no open-loop window).
func (b *bench) openRate(capacity float64) float64 {
	if b.openFixed > 0 {
		return b.openFixed
	}
	return b.openLoad * capacity
}

// capacity is the closed-loop throughput of a scenario at the most clients
// of this run, catch-up counted (Result.Sustained); 0 when it did not run.
func (b *bench) capacity(scenario, transport string) float64 {
	most := 0
	for _, n := range b.clients {
		most = max(most, n)
	}
	for _, r := range b.results {
		if r.Scenario == scenario && r.Transport == transport && r.Clients == most && r.Mode == "" {
			return r.Sustained()
		}
	}
	return 0
}

// seed creates n PENDING systems of the given types in ga, outside any
// timed window, and returns their ids. Through the registry's store when
// there is one (one atomic step per system, the same step RegisterSystem
// commits, without a token: the token quota does not apply), else through
// the API (RegisterSystem then PairSystem at once, so that no global
// account ever holds more than a few unused tokens).
func (b *bench) seed(ctx context.Context, ga string, n int, types []string) ([]string, error) {
	ids := make([]string, n)
	t0 := time.Now()
	var err error
	if b.store != nil {
		base := time.Now()
		err = parallel(ctx, n, 32, func(ctx context.Context, i int) error {
			now := base.Add(time.Duration(i) * time.Microsecond)
			sys := &system.System{
				GlobalAccount: ga, ID: system.NewID(), DisplayName: fmt.Sprintf("Seed %07d", i),
				Type: types[i%len(types)], State: system.Pending, CreateTime: now, UpdateTime: now, Revision: 1,
			}
			ids[i] = sys.ID
			return b.store.Create(ctx, sys, "", 0, system.EventCreated)
		})
	} else {
		err = parallel(ctx, n, 64, func(ctx context.Context, i int) error {
			c := b.t.client(i)
			actx, err := b.t.authCtx(ctx, ga)
			if err != nil {
				return err
			}
			typ := types[i%len(types)]
			res, err := c.registry.RegisterSystem(actx, &registryv1.RegisterSystemRequest{
				Parent: "globalAccounts/" + ga,
				System: &registryv1.System{DisplayName: fmt.Sprintf("Seed %07d", i), Type: typ},
			})
			if err != nil {
				return err
			}
			name := res.GetSystem().GetName()
			ids[i] = name[strings.LastIndexByte(name, '/')+1:]
			return b.t.pairGRPC(ctx, c, issued{token: res.GetIntegrationToken().GetToken(), typ: typ})
		})
	}
	how := "the registry's store"
	if b.store == nil {
		how = "RegisterSystem+PairSystem"
	}
	b.log("  (seeded %d systems in %s through %s in %.1fs)", n, ga, how, time.Since(t0).Seconds())
	return ids, err
}

// settle waits (bounded) until the landscape has finished the background
// work earlier steps left: the relays have published what is in the
// outboxes (the registry's, the token service's and formation's), and
// every durable consumer (natsconn.Durables) has acked every event.
// Without it, seeding and earlier windows ran beside the next measurement
// and took up to half of its CPU. add calls it after each timed window;
// it returns how long it waited.
func (b *bench) settle(ctx context.Context) time.Duration {
	type check struct {
		what string
		done func() bool
	}
	var checks []check
	if b.keyPrefix != "" {
		for _, outboxContext := range []string{redisstore.Context, tokenstore.Context, formationstore.Context} {
			key := outbox.New(nil, b.keyPrefix, outboxContext).Key()
			checks = append(checks, check{outboxContext + "'s outbox relay", func() bool {
				n, err := b.t.redis.XLen(ctx, key).Result()
				return err != nil || n == 0
			}})
		}
	}
	if b.js != nil {
		// Every durable consumer of every service (the reactions and the
		// audit trail's): one still draining the last window's events
		// would run its work inside the next window.
		for _, byContext := range natsconn.Durables {
			for context, durables := range byContext {
				for _, durable := range durables {
					checks = append(checks, check{durable, func() bool {
						cons, err := b.js.Consumer(ctx, cloudevent.StreamName(context), durable)
						if err != nil {
							return true // not there (yet): nothing to wait for
						}
						info, err := cons.Info(ctx)
						return err != nil || (info.NumPending == 0 && info.NumAckPending == 0)
					}})
				}
			}
		}
	}
	// All at once in one poll: a consumer that writes events keeps a
	// relay busy, so each check's last busy poll tells who finished last.
	t0 := time.Now()
	deadline := t0.Add(3 * time.Minute)
	var slowest string
	for time.Now().Before(deadline) && ctx.Err() == nil {
		busy := ""
		for _, c := range checks {
			if !c.done() {
				busy = c.what
			}
		}
		if busy == "" {
			break
		}
		slowest = busy
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(t0)
	if took > settleNoise {
		b.log("  (waited %.1fs for the relays and consumers to catch up; the last busy: %s)", took.Seconds(), slowest)
	}
	return took
}

// settleNoise is the longest settle that only polled (each poll sleeps
// 100ms): shorter, the relays and consumers had kept up.
const settleNoise = 200 * time.Millisecond

// get runs GetSystem on systems seeded for it.
func (b *bench) get(ctx context.Context) {
	if !b.want("get-grpc") {
		return
	}
	ga := b.t.ga("get")
	ids, err := b.seed(ctx, ga, 2000, systemTypes)
	if err != nil {
		b.log("  GetSystem seeding failed: %v", err)
		return
	}
	b.settle(ctx)
	actx, err := b.t.authCtx(ctx, ga)
	if err != nil {
		return
	}
	get := func(ctx context.Context, c int) error {
		_, err := b.t.client(c).registry.GetSystem(ctx, &registryv1.GetSystemRequest{
			Name: system.SystemName(ga, ids[rand.IntN(len(ids))]),
		})
		return err
	}
	for _, n := range b.clients {
		b.add(ctx, closedLoop(actx, "GetSystem", "gRPC", n, b.dur, get))
	}
	if rate := b.openRate(b.capacity("GetSystem", "gRPC")); rate > 0 {
		b.add(ctx, openLoop(actx, "GetSystem", "gRPC", rate, b.dur, get))
	}
}

// list runs ListSystems (page of 100) in a global account of --list-size
// systems: page 1, deep pages (from page tokens past the middle), and page
// 1 of a global account of 1,000 systems for comparison.
func (b *bench) list(ctx context.Context) {
	if !b.want("list-grpc") {
		return
	}
	big, small := b.t.ga("list"), b.t.ga("list-small")
	if _, err := b.seed(ctx, big, b.listSize, systemTypes); err != nil {
		b.log("  ListSystems seeding failed: %v", err)
		return
	}
	if _, err := b.seed(ctx, small, min(1000, b.listSize), systemTypes); err != nil {
		b.log("  ListSystems seeding failed: %v", err)
		return
	}
	b.settle(ctx)
	bigCtx, _ := b.t.authCtx(ctx, big)
	smallCtx, _ := b.t.authCtx(ctx, small)
	// Walk the whole list once with pages of 1000 (100 for small lists) for
	// page tokens deep in it.
	var deep []string
	token, seen := "", 0
	c0 := b.t.client(0)
	walk := int32(1000)
	if b.listSize < 10_000 {
		walk = 100
	}
	for i := 0; i < b.listSize/int(walk)+2; i++ {
		cctx, cancel := context.WithTimeout(bigCtx, callTimeout)
		res, err := c0.registry.ListSystems(cctx, &registryv1.ListSystemsRequest{Parent: "globalAccounts/" + big, PageSize: walk, PageToken: token})
		cancel()
		if err != nil {
			b.log("  ListSystems walk failed: %v", err)
			return
		}
		seen += len(res.GetSystems())
		token = res.GetNextPageToken()
		if token == "" {
			break
		}
		if seen >= b.listSize/2 {
			deep = append(deep, token)
		}
	}
	b.log("  (walked %d systems of %s; %d deep page tokens)", seen, big, len(deep))
	if len(deep) == 0 {
		deep = []string{""}
	}
	page := func(ga string, tokens []string) func(ctx context.Context, c int) error {
		return func(ctx context.Context, c int) error {
			tok := tokens[rand.IntN(len(tokens))]
			res, err := b.t.client(c).registry.ListSystems(ctx, &registryv1.ListSystemsRequest{Parent: "globalAccounts/" + ga, PageSize: 100, PageToken: tok})
			if err == nil && len(res.GetSystems()) == 0 {
				return errors.New("empty page")
			}
			return err
		}
	}
	p1 := fmt.Sprintf("ListSystems p1 of %d", b.listSize)
	for _, n := range b.clients {
		b.add(ctx, closedLoop(bigCtx, p1, "gRPC", n, b.dur, page(big, []string{""})))
		b.add(ctx, closedLoop(bigCtx, fmt.Sprintf("ListSystems deep of %d", b.listSize), "gRPC", n, b.dur, page(big, deep)))
		b.add(ctx, closedLoop(smallCtx, fmt.Sprintf("ListSystems p1 of %d", min(1000, b.listSize)), "gRPC", n, b.dur, page(small, []string{""})))
	}
	if rate := b.openRate(b.capacity(p1, "gRPC")); rate > 0 {
		b.add(ctx, openLoop(bigCtx, p1, "gRPC", rate, b.dur, page(big, []string{""})))
	}
}

// assign runs AssignSystem: each client assigns PENDING systems of the
// types that may join before pairing to four formations of its own
// (non-exclusive type), so that clients do not contend on one formation.
func (b *bench) assign(ctx context.Context) {
	if !b.want("assign-grpc") {
		return
	}
	ga := b.t.ga("asg")
	need := min(int(2500*b.dur.Seconds())*len(b.clients), 150_000)
	ids, err := b.seed(ctx, ga, need, cxTypes)
	if err != nil {
		b.log("  AssignSystem seeding failed: %v", err)
		return
	}
	b.settle(ctx)
	actx, _ := b.t.authCtx(ctx, ga)
	var cursor atomic.Int64
	for _, n := range b.clients {
		const perClient = 4
		forms := make([]string, n*perClient)
		err := parallel(actx, len(forms), 16, func(ctx context.Context, i int) error {
			f, err := b.t.client(i).formation.CreateFormation(ctx, &formationv1.CreateFormationRequest{
				Parent:    "globalAccounts/" + ga,
				Formation: &formationv1.Formation{DisplayName: fmt.Sprintf("Load %d-%d", n, i), FormationType: "side-by-side-extensibility-with-kyma"},
			})
			if err == nil {
				forms[i] = f.GetName()
			}
			return err
		})
		if err != nil {
			b.log("  CreateFormation failed: %v", err)
			return
		}
		var k atomic.Int64
		b.add(ctx, closedLoop(actx, "AssignSystem", "gRPC", n, b.dur, func(ctx context.Context, c int) error {
			i := cursor.Add(1) - 1
			if i >= int64(len(ids)) {
				return errExhausted
			}
			f := forms[c*perClient+int(k.Add(1)%perClient)]
			_, err := b.t.client(c).formation.AssignSystem(ctx, &formationv1.AssignSystemRequest{Name: f, System: system.SystemName(ga, ids[i])})
			return err
		}))
	}
}

// fastest is the best throughput of a scenario so far (0 when none).
func (b *bench) fastest(scenario string) float64 {
	best := 0.0
	for _, r := range b.results {
		if r.Scenario == scenario {
			best = max(best, r.Throughput)
		}
	}
	return best
}
