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
// timed on its own.
func (b *bench) idle(ctx context.Context) {
	if !b.want("idle") || b.t.baseURL == "" {
		return
	}
	var get, reg hist
	var errs [2]uint64
	var first firstError
	cpu := startCPU()
	stop := startProfiles(profileLabel("idle", "REST", 1))
	t0 := time.Now()
	for n := 0; time.Since(t0) < b.dur && ctx.Err() == nil && n < maxOpsPerRun; n++ {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		s := time.Now()
		err := b.t.rest(cctx, http.MethodGet, "/v1/systemTypes", b.t.ga("base"), nil, nil)
		d := time.Since(s)
		if err != nil {
			errs[0]++
			first.set(err)
		} else {
			get.record(d)
		}
		s = time.Now()
		_, tok, err := b.t.registerREST(cctx, "idle")
		d = time.Since(s)
		cancel()
		if err != nil {
			errs[1]++
			first.set(err)
		} else {
			reg.record(d)
			b.pool.put(tok)
		}
	}
	elapsed := time.Since(t0)
	spent := cpu.end()
	stop()
	for i, h := range []*hist{&get, &reg} {
		r := Result{Scenario: idleGetScenario, Transport: "REST", Clients: 1,
			Ops: h.n, Errors: errs[i], Seconds: elapsed.Seconds(), Throughput: float64(h.n) / elapsed.Seconds()}
		if i == 1 {
			r.Scenario = idleRegisterScenario
			r.Note = "calls alternate with GET /v1/systemTypes; CPU ms/op is of one of each"
		}
		r.fill(h)
		if i == 1 {
			spent.apply(&r)
		}
		if err := first.get(); err != nil {
			r.FirstError = err.Error()
		}
		b.add(ctx, r)
	}
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
	names := []string{"GET /v1/systemTypes", "health Check", "Redis PING", "RegisterSystem"}
	transports := []string{"REST", "gRPC", "RESP", "REST"}
	calls := []func(context.Context) error{
		func(ctx context.Context) error {
			return b.t.rest(ctx, http.MethodGet, "/v1/systemTypes", b.t.ga("base"), nil, nil)
		},
		func(ctx context.Context) error {
			_, err := b.t.client(0).health.Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		},
		func(ctx context.Context) error { return b.t.redis.Ping(ctx).Err() },
		func(ctx context.Context) error {
			_, tok, err := b.t.registerREST(ctx, "idle")
			if err == nil {
				b.pool.put(tok)
			}
			return err
		},
	}
	hs := make([]hist, len(calls))
	errs := make([]uint64, len(calls))
	var first firstError
	t0 := time.Now()
	for n := 0; time.Since(t0) < b.dur && ctx.Err() == nil && n < maxOpsPerRun; n++ {
		for i, call := range calls {
			time.Sleep(quietGap)
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			s := time.Now()
			err := call(cctx)
			d := time.Since(s)
			cancel()
			if err != nil {
				errs[i]++
				first.set(err)
				continue
			}
			hs[i].record(d)
		}
	}
	elapsed := time.Since(t0)
	p50 := func(i int) float64 { return ms(hs[i].quantile(0.50)) }
	for i := range calls {
		r := Result{Scenario: names[i] + " (after 10 ms quiet)", Transport: transports[i], Clients: 1,
			Ops: hs[i].n, Errors: errs[i], Seconds: elapsed.Seconds(), Throughput: float64(hs[i].n) / elapsed.Seconds()}
		r.fill(&hs[i])
		if i == len(calls)-1 && p50(0) > 0 {
			floor := p50(0) + 2*p50(1) + 2*p50(2)
			r.Note = fmt.Sprintf("its round trips alone (GET + 2 gRPC + 2 Redis, p50s) take %.2f ms = %.2f× GET; measured %.2f×", floor, floor/p50(0), r.P50ms/p50(0))
		}
		if err := first.get(); err != nil {
			r.FirstError = err.Error()
		}
		b.add(ctx, r)
	}
}
