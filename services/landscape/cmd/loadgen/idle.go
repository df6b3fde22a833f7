package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// The rows of the idle step.
const (
	idleGetScenario      = "GET /v1/systemTypes (idle, one at a time)"
	idleRegisterScenario = "RegisterSystem (idle, one at a time)"
)

// quietGap is the pause before each call of the quiet pass: long enough
// for the events of the registration before to be handled.
const quietGap = 10 * time.Millisecond

// idle measures the cost of one request on an otherwise idle landscape:
// one client, GET /v1/systemTypes and RegisterSystem over REST taking turns
// (so both see the same machine, whatever else runs on it), each call
// timed on its own. Then the quiet window (quiet).
func (b *bench) idle(ctx context.Context) {
	if !b.want("idle") || b.t.baseURL == "" {
		return
	}
	cpu := startCPU()
	stop := startProfiles(profileLabel("idle", "REST", 1))
	t := b.takeTurns(ctx, 0, b.getTypes, b.registerIdle)
	spent := cpu.end()
	stop()
	b.add(ctx, t.row(0, idleGetScenario, "REST"))
	r := t.row(1, idleRegisterScenario, "REST")
	r.Note = "calls alternate with GET /v1/systemTypes; CPU ms/op is of one of each"
	spent.apply(&r)
	b.add(ctx, r)
	b.quiet(ctx)
}

// quiet measures the round trips a registration is made of, each call
// after quietGap of quiet, in turns: GET /v1/systemTypes (the HTTP round
// trip through the gateway), a gRPC health Check (one gRPC round trip), a
// Redis PING (one Redis round trip) and RegisterSystem over REST, which is
// the HTTP round trip, two gRPC round trips (gateway to registry, registry
// to token service) and two Redis steps. The registration row's note gives
// the sum of those round trips alone as a ratio to GET: the floor of the
// idle target's ratio whatever the work in between costs.
func (b *bench) quiet(ctx context.Context) {
	health := func(ctx context.Context) error {
		_, err := b.t.client(0).health.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	ping := func(ctx context.Context) error { return b.t.redis.Ping(ctx).Err() }
	t := b.takeTurns(ctx, quietGap, b.getTypes, health, ping, b.registerIdle)
	rows := []Result{
		t.row(0, "GET /v1/systemTypes (after 10 ms quiet)", "REST"),
		t.row(1, "health Check (after 10 ms quiet)", "gRPC"),
		t.row(2, "Redis PING (after 10 ms quiet)", "RESP"),
		t.row(3, "RegisterSystem (after 10 ms quiet)", "REST"),
	}
	if get := rows[0].P50ms; get > 0 {
		floor := get + 2*rows[1].P50ms + 2*rows[2].P50ms
		rows[3].Note = fmt.Sprintf("its round trips alone (GET + 2 gRPC + 2 Redis, p50s) take %.2f ms = %.2f× GET; measured %.2f×", floor, floor/get, rows[3].P50ms/get)
	}
	for _, r := range rows {
		b.add(ctx, r)
	}
}

// getTypes is one GET /v1/systemTypes.
func (b *bench) getTypes(ctx context.Context) error {
	return b.t.rest(ctx, http.MethodGet, "/v1/systemTypes", b.t.ga("base"), nil, nil)
}

// registerIdle is one RegisterSystem over REST; its token goes to the pool.
func (b *bench) registerIdle(ctx context.Context) error {
	_, tok, err := b.t.registerREST(ctx, "idle")
	if err == nil {
		b.pool.put(tok)
	}
	return err
}

// turns is what takeTurns measured: each call's latencies and failures.
type turns struct {
	hs      []hist
	errs    []uint64
	first   firstError
	elapsed time.Duration
}

// takeTurns makes calls one after the other, over and over, for the
// window, each after gap and timed on its own.
func (b *bench) takeTurns(ctx context.Context, gap time.Duration, calls ...func(context.Context) error) *turns {
	t := &turns{hs: make([]hist, len(calls)), errs: make([]uint64, len(calls))}
	t0 := time.Now()
	for n := 0; time.Since(t0) < b.dur && ctx.Err() == nil && n < maxOpsPerRun; n++ {
		for i, call := range calls {
			time.Sleep(gap)
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			s := time.Now()
			err := call(cctx)
			d := time.Since(s)
			cancel()
			if err != nil {
				t.errs[i]++
				t.first.set(err)
				continue
			}
			t.hs[i].record(d)
		}
	}
	t.elapsed = time.Since(t0)
	return t
}

// row is the result row of call i.
func (t *turns) row(i int, scenario, transport string) Result {
	h := &t.hs[i]
	r := Result{Scenario: scenario, Transport: transport, Clients: 1, Ops: h.n, Errors: t.errs[i],
		Seconds: t.elapsed.Seconds(), Throughput: float64(h.n) / t.elapsed.Seconds()}
	r.fill(h)
	if err := t.first.get(); err != nil {
		r.FirstError = err.Error()
	}
	return r
}
