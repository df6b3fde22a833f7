package main

import (
	"context"
	"net/http"
	"time"
)

// The rows of the idle step.
const (
	idleGetScenario      = "GET /v1/systemTypes (idle, one at a time)"
	idleRegisterScenario = "RegisterSystem (idle, one at a time)"
)

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
}
