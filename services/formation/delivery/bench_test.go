package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/egress"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/formation/delivery"
	"github.com/landscape-dev/landscape/services/formation/formations"
	"github.com/landscape-dev/landscape/services/formation/redisstore"
)

// readyClock is the repository of the benchmark: it notes when each
// assignment first turns READY (the commit that makes it so returned).
type readyClock struct {
	*redisstore.Store
	commits, conflicts atomic.Int64
	mu                 sync.Mutex
	ready              map[string]time.Time // formation/system -> first READY
}

func (r *readyClock) Commit(ctx context.Context, s formations.Step) error {
	err := r.Store.Commit(ctx, s)
	r.commits.Add(1)
	if errors.Is(err, formations.ErrConflict) {
		r.conflicts.Add(1)
	}
	if err != nil {
		return err
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range s.Puts {
		if p.Next == nil {
			continue
		}
		for _, a := range p.Next.Assignments {
			k := p.Next.ID + "/" + a.SystemID
			if _, ok := r.ready[k]; !ok && a.State == formations.Ready {
				r.ready[k] = now
			}
		}
	}
	return nil
}

// firstSent notes when each assignment's first notification reached its
// receiver, to split assignment → READY into the wait for the first send
// and what follows it.
var firstSent = struct {
	sync.Mutex
	at map[string]time.Time // formation/system
}{at: map[string]time.Time{}}

func noteSent(assignment string) {
	// globalAccounts/{ga}/formations/{f}/assignments/{s}
	p := strings.Split(assignment, "/")
	if len(p) != 6 {
		return
	}
	now := time.Now()
	firstSent.Lock()
	defer firstSent.Unlock()
	k := p[3] + "/" + p[5]
	if _, ok := firstSent.at[k]; !ok {
		firstSent.at[k] = now
	}
}

// benchRun assigns systems*formations systems (webhook receivers in urls,
// round robin; none when urls is empty) with 16 callers, at most one
// assignment per every (0: as fast as they go), and returns the
// assignment → READY latencies and the wall time until all are READY.
func benchRun(b *testing.B, formationsN, systems int, urls []string, every time.Duration) ([]time.Duration, time.Duration, int64) {
	e := newEnv(b)
	firstSent.Lock()
	clear(firstSent.at)
	firstSent.Unlock()
	repo := &readyClock{Store: e.store, ready: map[string]time.Time{}}
	app := e.app(repo)
	var eng *delivery.Engine
	if len(urls) > 0 {
		eng = delivery.New(app, e.store, e.dir, insecureGuard(b), discard(), delivery.Options{PublicURL: "http://127.0.0.1:8080"})
		integ := formations.Integration{Scheduled: eng.Wake}
		app.Integrate(integ)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = eng.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
	}
	ctx := context.Background()
	e.dir.mu.Lock()
	for f := range formationsN {
		for s := range systems {
			sys := fmt.Sprintf("s%d-%d", f, s)
			if len(urls) > 0 {
				e.dir.urls[sys] = urls[(f*systems+s)%len(urls)]
			}
		}
	}
	e.dir.mu.Unlock()
	for f := range formationsN {
		if _, err := app.Create(ctx, e.ga, formations.CreateInput{ID: fmt.Sprintf("f%d", f), DisplayName: fmt.Sprintf("F %d", f), Type: "side-by-side-extensibility-with-kyma"}); err != nil {
			b.Fatal(err)
		}
	}
	var (
		mu       sync.Mutex
		assigned = map[string]time.Time{}
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	var pace <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		pace = t.C
	}
	start := time.Now()
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if pace != nil {
					<-pace
				}
				i := int(next.Add(1) - 1)
				if i >= formationsN*systems {
					return
				}
				f, s := i%formationsN, i/formationsN // spread over the formations
				sys := fmt.Sprintf("s%d-%d", f, s)
				at := time.Now()
				if _, err := app.Assign(ctx, e.ga, fmt.Sprintf("f%d", f), "globalAccounts/ga1/systems/"+sys); err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				assigned[fmt.Sprintf("f%d/%s", f, sys)] = at
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	total := formationsN * systems
	testkit.Eventually(b, 120*time.Second, "every assignment READY", func() bool {
		repo.mu.Lock()
		defer repo.mu.Unlock()
		return len(repo.ready) >= total
	})
	wall := time.Since(start)
	// Settle: wait until no delivery is left (the peers.changed rounds).
	testkit.Eventually(b, 120*time.Second, "the schedule empty", func() bool {
		n, _ := e.store.Scheduled(ctx)
		return n == 0
	})
	settled := time.Since(start)
	lat := make([]time.Duration, 0, total)
	var toSend, afterSend []time.Duration
	repo.mu.Lock()
	firstSent.Lock()
	for k, at := range assigned {
		lat = append(lat, repo.ready[k].Sub(at))
		if sent, ok := firstSent.at[k]; ok {
			toSend = append(toSend, sent.Sub(at))
			afterSend = append(afterSend, repo.ready[k].Sub(sent))
		}
	}
	firstSent.Unlock()
	repo.mu.Unlock()
	_ = settled
	b.Logf("commits %d, conflicts %d", repo.commits.Load(), repo.conflicts.Load())
	if len(toSend) > 0 {
		b.Logf("assignment → its first notification at the receiver: p50 %s p99 %s; from there → READY: p50 %s p99 %s",
			pct(toSend, 0.5), pct(toSend, 0.99), pct(afterSend, 0.5), pct(afterSend, 0.99))
	}
	return lat, wall, int64(settled / time.Millisecond)
}

func pct(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkAssignToReady: 1,000 assignments across 100 formations (10
// systems each, made by 16 callers, spread over the formations) whose
// webhooks are 64 receivers on loopback, each answering 200 with the
// system's configuration, so the members also exchange configurations
// (peers.changed), delivered by one engine (64 workers). It reports the
// assignment → READY latency (p50, p99; READY: the first time the
// assignment is), the deliveries (requests the receivers got) per second
// until the schedule is empty and per 1,000 assignments, and as the
// baseline of the same run the same assignments of systems without a
// webhook (READY within the call).
//
//	go test -run '^$' -bench AssignToReady -benchtime 1x -count 3 ./services/formation/delivery/
func BenchmarkAssignToReady(b *testing.B) {
	const formationsN, systems, receivers = 100, 10, 64
	var delivered, peersChanged atomic.Int64
	var urls []string
	for range receivers {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			delivered.Add(1)
			var n struct {
				Type, Assignment string
				Self             struct{ System string }
			}
			_ = decodeJSON(r, &n)
			noteSent(n.Assignment)
			if n.Type == string(formations.NotifyPeersChanged) {
				peersChanged.Add(1)
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"configuration": {"endpoint": "https://%s.example.com/api"}}`, n.Self.System[strings.LastIndexByte(n.Self.System, '/')+1:])
		}))
		b.Cleanup(srv.Close)
		urls = append(urls, srv.URL+"/hook")
	}
	for b.Loop() {
		base, baseWall, _ := benchRun(b, formationsN, systems, nil, 0)
		delivered.Store(0)
		peersChanged.Store(0)
		lat, wall, settledMS := benchRun(b, formationsN, systems, urls, 0)
		n, peers := delivered.Load(), peersChanged.Load()
		// The same at a steady 100 assignments/s (10 s).
		paced, pacedWall, _ := benchRun(b, formationsN, systems, urls, 10*time.Millisecond)
		// And at 40% of the capacity the burst showed (assignments/s made
		// READY): latency at a load a deployment runs at, not in a queue.
		capacity := float64(formationsN*systems) / wall.Seconds()
		open, openWall, _ := benchRun(b, formationsN, systems, urls, time.Duration(float64(time.Second)/(0.4*capacity)))
		b.ReportMetric(float64(pct(base, 0.99).Microseconds())/1000, "baseline-p99-ms")
		b.ReportMetric(float64(pct(lat, 0.99).Microseconds())/1000, "burst-p99-ms")
		b.ReportMetric(float64(pct(paced, 0.99).Microseconds())/1000, "paced-p99-ms")
		b.ReportMetric(float64(pct(open, 0.99).Microseconds())/1000, "at40%-p99-ms")
		b.ReportMetric(float64(n)/(float64(settledMS)/1000), "deliveries/s")
		b.ReportMetric(float64(n)*1000/float64(formationsN*systems), "deliveries/1000-assignments")
		load, _ := os.ReadFile("/proc/loadavg")
		b.Logf("baseline (no webhooks): p99 %s, all READY after %s", pct(base, 0.99), baseWall)
		b.Logf("workload: %d assignments into %d formations of %d systems, 16 callers, webhooks on %d receivers (loopback, 200 with a configuration)",
			formationsN*systems, formationsN, systems, receivers)
		b.Logf("burst (1,000 at once): p50 %s p99 %s max %s, all READY after %s; %d deliveries (%.0f/s, %.1f per assignment) until the schedule was empty after %d ms",
			pct(lat, 0.5), pct(lat, 0.99), pct(lat, 1), wall, n, float64(n)/(float64(settledMS)/1000), float64(n)/float64(formationsN*systems), settledMS)
		b.Logf("burst deliveries by type: %d peers.changed, %d others (assignment.created)", peers, n-peers)
		b.Logf("paced (100/s): p50 %s p99 %s max %s, all READY after %s", pct(paced, 0.5), pct(paced, 0.99), pct(paced, 1), pacedWall)
		b.Logf("at 40%% of capacity (%.0f/s of %.0f/s): p50 %s p99 %s max %s, all READY after %s", 0.4*capacity, capacity, pct(open, 0.5), pct(open, 0.99), pct(open, 1), openWall)
		b.Logf("load average %s", strings.TrimSpace(string(load)))
	}
}

func insecureGuard(tb testing.TB) *egress.Guard {
	return &egress.Guard{AllowInsecure: true, Dial: testkit.LoopbackDialer(tb)}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func decodeJSON(r *http.Request, v any) error { return json.NewDecoder(r.Body).Decode(v) }
