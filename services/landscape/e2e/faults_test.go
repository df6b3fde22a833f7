package e2e

// Faults. Each test owns its infrastructure: a
// redis-server process (testkit.RedisProcess: own port, AOF with
// appendfsync always) and a NATS server with JetStream (testkit.NATS:
// embedded in the test process, stopped and started on the same port and
// store) — never the machine's shared Redis or NATS. The landscape
// itself runs in-process (stack.Start) or as the real binary
// (landscape dev / registry / token / formation / gateway subprocesses)
// when the test kills it.
//
// Every test checks the same promise at the end: every call answered OK
// is in Redis, and every committed state change is on its stream exactly
// once (by resource, event and revision, and by Nats-Msg-Id).

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/landscape/stack"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

const (
	faultGA     = "faults"
	faultSecret = "faults-hs256-secret-not-for-production"
	// faultCallDeadline is the deadline of every call of the fault load.
	faultCallDeadline = 5 * time.Second
)

// faultLoad drives RegisterSystem + PairSystem cycles and remembers every
// answer: what was acknowledged (system name → acknowledged etag), and
// for failed calls their codes and the slowest failure.
type faultLoad struct {
	lb *logbook

	mu       sync.Mutex
	acked    map[string]int64
	paired   map[string]string // token → system type, of each pairing answered OK
	codes    map[string]int
	maxFail  time.Duration
	okCalls  atomic.Int64
	badCalls atomic.Int64
	seq      atomic.Int64
}

func newFaultLoad(lb *logbook) *faultLoad {
	return &faultLoad{lb: lb, acked: map[string]int64{}, paired: map[string]string{}, codes: map[string]int{}}
}

func (l *faultLoad) ack(name string, rev int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if rev > l.acked[name] {
		l.acked[name] = rev
	}
}

func (l *faultLoad) fail(what string, err error, took time.Duration) {
	code, reason := reasonOf(err)
	l.badCalls.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.codes[what+" "+code.String()+" "+reason]++
	if took > l.maxFail {
		l.maxFail = took
	}
}

// snapshot returns the acknowledged systems and the failure summary.
func (l *faultLoad) snapshot() (map[string]int64, map[string]int, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	acked := make(map[string]int64, len(l.acked))
	for k, v := range l.acked {
		acked[k] = v
	}
	codes := make(map[string]int, len(l.codes))
	for k, v := range l.codes {
		codes[k] = v
	}
	return acked, codes, l.maxFail
}

// call makes one call with the fault deadline and counts it: acknowledged,
// or failed (unless ctx ended: the load is stopping).
func (l *faultLoad) call(ctx context.Context, what string, f func(context.Context) error) bool {
	cctx, cancel := context.WithTimeout(ctx, faultCallDeadline)
	defer cancel()
	start := time.Now()
	if err := f(cctx); err != nil {
		if ctx.Err() == nil {
			l.fail(what, err, time.Since(start))
		}
		return false
	}
	l.okCalls.Add(1)
	return true
}

// cycle registers a system and pairs it; each acknowledged step is noted.
func (l *faultLoad) cycle(ctx context.Context, reg registryv1.RegistryServiceClient, jwt string) {
	n := l.seq.Add(1)
	typ := systemTypes[n%int64(len(systemTypes))]
	var res *registryv1.RegisterSystemResponse
	if !l.call(stacktest.Ctx(ctx, jwt), "RegisterSystem", func(ctx context.Context) (err error) {
		res, err = reg.RegisterSystem(ctx, &registryv1.RegisterSystemRequest{
			Parent: "globalAccounts/" + faultGA,
			System: &registryv1.System{DisplayName: fmt.Sprintf("fault %d %s", n, testkit.RandomID(3)), Type: typ},
		})
		return err
	}) {
		return
	}
	l.lb.keep(res.GetIntegrationToken().GetToken())
	l.ack(res.GetSystem().GetName(), etagOf(res.GetSystem().GetEtag()))
	if n%4 == 0 {
		return // leave some systems PENDING
	}
	var sys *registryv1.System
	if !l.call(ctx, "PairSystem", func(ctx context.Context) (err error) {
		sys, err = reg.PairSystem(ctx, &registryv1.PairSystemRequest{
			IntegrationToken: res.GetIntegrationToken().GetToken(), SystemType: typ,
			BaseUrl: "https://fault.example.com", ExternalId: "f" + strconv.FormatInt(n, 10),
		})
		return err
	}) {
		return
	}
	l.ack(sys.GetName(), etagOf(sys.GetEtag()))
	l.mu.Lock()
	l.paired[res.GetIntegrationToken().GetToken()] = typ
	l.mu.Unlock()
}

// run starts workers that run cycles, each at most every pace, until the
// returned stop is called (stop waits for them).
func (l *faultLoad) run(reg registryv1.RegistryServiceClient, jwt string, workers int, pace time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			tk := time.NewTicker(pace)
			defer tk.Stop()
			for ctx.Err() == nil {
				l.cycle(ctx, reg, jwt)
				select {
				case <-ctx.Done():
				case <-tk.C:
				}
			}
		})
	}
	return func() { cancel(); wg.Wait() }
}

func etagOf(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// faultEnv is what every fault test owns: a logbook, a redis-server
// process, a NATS server and an admin JWT of the fault global account
// (kept in the logbook).
type faultEnv struct {
	lb  *logbook
	rp  *testkit.RedisProc
	ns  *testkit.NATSServer
	jwt string
}

func newFaultEnv(t *testing.T) *faultEnv {
	t.Helper()
	e := &faultEnv{lb: newLogbook(t), rp: testkit.RedisProcess(t, testkit.RedisOptions{}), ns: testkit.NATS(t), jwt: faultJWT(t)}
	e.lb.keep(e.jwt)
	return e
}

// inProcess starts the landscape in-process on e's Redis and NATS and
// returns it, a registry client of it and a fault load logging into e.lb.
func (e *faultEnv) inProcess(t *testing.T) (*stack.Stack, registryv1.RegistryServiceClient, *faultLoad) {
	t.Helper()
	st := startFaultStack(t, e.rp.URL(), e.ns.URL(), e.lb)
	return st, registryv1.NewRegistryServiceClient(dialGRPC(t, st.GRPCAddr)), newFaultLoad(e.lb)
}

// processes returns the landscape binary and a service secret (kept in
// e.lb) for the tests that run the landscape as processes.
func (e *faultEnv) processes(t *testing.T) (bin, serviceSecret string) {
	t.Helper()
	bin = buildLandscape(t)
	serviceSecret = "faults-service-" + testkit.RandomID(16) // the service commands take 32 bytes or more
	e.lb.keep(serviceSecret)
	return bin, serviceSecret
}

// startFaultStack runs the landscape in-process on the test's own Redis
// and NATS.
func startFaultStack(t *testing.T, redisURL, natsURL string, lb *logbook) *stack.Stack {
	t.Helper()
	st, err := stack.Start(context.Background(), stack.Config{
		RedisURL: redisURL, NATSURL: natsURL, JWTHS256Secret: faultSecret, Logger: lb.Logger(),
	})
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	waitHealthz(t, st.GatewayURL(), http.StatusOK, 20*time.Second)
	return st
}

func faultJWT(t testing.TB) string {
	t.Helper()
	jwt, err := authn.MintHS256(faultSecret, "fault-admin", faultGA, []string{string(authn.RoleGlobalAccountAdmin)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return jwt
}

// waitHealthz waits until /healthz answers want.
func waitHealthz(t testing.TB, baseURL string, want int, timeout time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	testkit.Eventually(t, timeout, fmt.Sprintf("GET %s/healthz = %d", baseURL, want), func() bool {
		res, err := c.Get(baseURL + "/healthz")
		if err != nil {
			return false
		}
		_ = res.Body.Close()
		return res.StatusCode == want
	})
}

func dialGRPC(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// jetStreamAt connects a test client to NATS.
func jetStreamAt(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, js, err := natsconn.Connect(url, "e2e", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return js
}

// committedSystems lists every system of the fault global account in
// Redis with its revision (etag), through ListSystems.
func committedSystems(t testing.TB, reg registryv1.RegistryServiceClient, jwt string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	token := ""
	for {
		var page *registryv1.ListSystemsResponse
		var err error
		// UNAVAILABLE tells a client to retry (a connection that broke in
		// the fault may fail one call after Redis is back); the verdict
		// reads what is committed, so it retries too.
		for try := 0; ; try++ {
			ctx, cancel := context.WithTimeout(stacktest.Ctx(context.Background(), jwt), 20*time.Second)
			page, err = reg.ListSystems(ctx, &registryv1.ListSystemsRequest{Parent: "globalAccounts/" + faultGA, PageSize: 1000, PageToken: token})
			cancel()
			if status.Code(err) != codes.Unavailable || try == 10 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("list systems: %v", err)
		}
		for _, s := range page.GetSystems() {
			out[s.GetName()] = etagOf(s.GetEtag())
		}
		if token = page.GetNextPageToken(); token == "" {
			return out
		}
	}
}

// faultVerdict checks the promise and logs the figures:
//   - every acknowledged system is committed at (at least) its
//     acknowledged revision;
//   - every committed revision of every system has its event on
//     LANDSCAPE_REGISTRY (waiting up to wait for the relay), and no state
//     change and no Nats-Msg-Id is on any stream twice;
//   - the outboxes are drained.
func faultVerdict(t *testing.T, name string, l *faultLoad, reg registryv1.RegistryServiceClient, js jetstream.JetStream, rdb *redis.Client, prefix string, wait time.Duration) {
	t.Helper()
	jwt := faultJWT(t)
	acked, codes, maxFail := l.snapshot()
	committed := committedSystems(t, reg, jwt)
	lost := 0
	for sys, rev := range acked {
		if committed[sys] < rev {
			lost++
			if lost <= 5 {
				t.Errorf("%s: acknowledged %s at revision %d, committed %d", name, sys, rev, committed[sys])
			}
		}
	}
	// Every committed revision must reach the stream.
	var evs []streamEvent
	missing := 0
	deadline := time.Now().Add(wait)
	for {
		evs = readStreams(t, js, l.lb)
		have := map[string]bool{}
		for _, e := range evs {
			if e.Stream == "LANDSCAPE_REGISTRY" {
				have[e.Event.Subject+"|"+strconv.FormatInt(e.Revision, 10)] = true
			}
		}
		missing = 0
		for sys, rev := range committed {
			for r := int64(1); r <= rev; r++ {
				if !have[sys+"|"+strconv.FormatInt(r, 10)] {
					missing++
				}
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond) // polling the stream with a deadline
	}
	if missing > 0 {
		t.Errorf("%s: %d committed system revisions have no event on LANDSCAPE_REGISTRY after %s", name, missing, wait)
	}
	// Exactly once: by state change and by message id.
	seenKey, seenID := map[string]int{}, map[string]int{}
	dupes := 0
	for _, e := range evs {
		seenKey[e.key()]++
		seenID[e.MsgID]++
		if e.MsgID != e.Event.ID {
			t.Errorf("%s: Nats-Msg-Id %q is not the CloudEvent id %q", name, e.MsgID, e.Event.ID)
		}
	}
	for k, n := range seenKey {
		if n > 1 {
			dupes++
			if dupes <= 5 {
				t.Errorf("%s: state change %s is on the stream %d times", name, k, n)
			}
		}
	}
	for id, n := range seenID {
		if n > 1 {
			t.Errorf("%s: message id %s is on the stream %d times", name, id, n)
		}
	}
	// No token in plain text at rest.
	if rdb != nil {
		scanRedisForSecrets(t, rdb, prefix, l.lb)
	}
	// The outboxes are drained.
	if rdb != nil {
		testkit.Eventually(t, wait, name+": outboxes drained", func() bool {
			for _, ctxName := range []string{"registry", "token", "formation"} {
				if n, _ := rdb.XLen(context.Background(), prefix+":"+ctxName+":outbox").Result(); n > 0 {
					return false
				}
			}
			return true
		})
	}
	perStream := map[string]int{}
	for _, e := range evs {
		perStream[e.Stream]++
	}
	failures := make([]string, 0, len(codes))
	for k, n := range codes {
		failures = append(failures, fmt.Sprintf("%s x%d", k, n))
	}
	slices.Sort(failures)
	t.Logf("%s: %d calls OK, %d failed %v (slowest failure %s, deadline %s); %d systems acknowledged, %d committed, %d lost; events %v, %d missing, %d duplicated",
		name, l.okCalls.Load(), l.badCalls.Load(), failures, maxFail.Round(time.Millisecond), faultCallDeadline,
		len(acked), len(committed), lost, perStream, missing, dupes)
}

// TestFaultNATSDown: NATS is stopped for 30 s under load. The API keeps
// answering (every call OK, /healthz 200), and after NATS returns every
// change's event arrives, none twice.
func TestFaultNATSDown(t *testing.T) {
	t.Parallel()
	e := newFaultEnv(t)
	ns, jwt := e.ns, e.jwt
	st, reg, load := e.inProcess(t)
	stop := load.run(reg, jwt, 4, 80*time.Millisecond)

	testkit.Eventually(t, 10*time.Second, "load running", func() bool { return load.okCalls.Load() > 20 })
	ns.Stop()
	outageStart := time.Now()
	before := load.okCalls.Load()
	const outage = 30 * time.Second
	hc := &http.Client{Timeout: 5 * time.Second}
	healthChecks := 0
	for time.Since(outageStart) < outage {
		res, err := hc.Get(st.GatewayURL() + "/healthz")
		if err != nil || res.StatusCode != http.StatusOK {
			t.Errorf("/healthz while NATS is down: %v %v", res, err)
		} else {
			healthChecks++
		}
		if res != nil {
			_ = res.Body.Close()
		}
		time.Sleep(time.Second) // load runs meanwhile; this only paces the health probe
	}
	during := load.okCalls.Load() - before
	ns.Start()
	testkit.Eventually(t, 10*time.Second, "load after NATS returns", func() bool { return load.okCalls.Load() > before+during+20 })
	stop()

	if during == 0 {
		t.Fatal("no call answered while NATS was down")
	}
	if n := load.badCalls.Load(); n > 0 {
		t.Errorf("%d calls failed although only NATS was down", n)
	}
	t.Logf("NATS down %s: %d calls answered OK meanwhile, /healthz 200 %d times", outage, during, healthChecks)
	faultVerdict(t, "NATS down 30s", load, reg, st.JetStream, st.Redis, st.KeyPrefix, 60*time.Second)
}

// TestFaultRedisDown: Redis is killed (SIGKILL) under load for 5 s.
// Calls fail fast with UNAVAILABLE (gRPC) and 503 UNAVAILABLE (REST),
// never hang past their deadline; /healthz says 503; the services
// recover by themselves once Redis is back; nothing acknowledged is lost.
func TestFaultRedisDown(t *testing.T) {
	t.Parallel()
	e := newFaultEnv(t)
	lb, rp, jwt := e.lb, e.rp, e.jwt
	st, reg, load := e.inProcess(t)
	stop := load.run(reg, jwt, 4, 40*time.Millisecond)

	// A REST client too, to see the gateway's answer.
	var restFail, restOK atomic.Int64
	var restBad sync.Map
	var restMax atomic.Int64
	restCtx, restStop := context.WithCancel(context.Background())
	var restWG sync.WaitGroup
	restWG.Go(func() {
		c := &http.Client{Timeout: 2 * faultCallDeadline}
		for i := 0; restCtx.Err() == nil; i++ {
			start := time.Now()
			r := httpCall(t, c, "POST", st.GatewayURL()+"/v1/globalAccounts/"+faultGA+"/systems", jwt,
				fmt.Sprintf(`{"displayName":"rest fault %d","type":"sap-successfactors"}`, i))
			took := time.Since(start)
			switch {
			case r.Status == 200:
				restOK.Add(1)
				out, _ := keepRegistration(lb, r.Body)
				load.ack(out.System.Name, etagOf(out.System.Etag))
			default:
				restFail.Add(1)
				restBad.Store(fmt.Sprintf("%d %s", r.Status, r.Reason), true)
				if int64(took) > restMax.Load() {
					restMax.Store(int64(took))
				}
			}
			time.Sleep(50 * time.Millisecond) // paces the REST client
		}
	})

	testkit.Eventually(t, 10*time.Second, "load running", func() bool { return load.okCalls.Load() > 20 })
	rp.Kill()
	down := time.Now()
	waitHealthz(t, st.GatewayURL(), http.StatusServiceUnavailable, 15*time.Second)
	t.Logf("/healthz 503 %s after Redis died", time.Since(down).Round(time.Millisecond))
	testkit.Eventually(t, 15*time.Second, "calls failing", func() bool { return load.badCalls.Load() > 20 && restFail.Load() > 3 })
	for time.Since(down) < 5*time.Second {
		time.Sleep(100 * time.Millisecond) // the load runs against the dead Redis
	}
	rp.Start()
	back := time.Now()
	okAtBack := load.okCalls.Load()
	testkit.Eventually(t, 30*time.Second, "calls succeed again after Redis returns", func() bool { return load.okCalls.Load() > okAtBack+20 })
	t.Logf("calls succeed again %s after Redis returned", time.Since(back).Round(time.Millisecond))
	waitHealthz(t, st.GatewayURL(), http.StatusOK, 30*time.Second)
	stop()
	restStop()
	restWG.Wait()

	_, codesSeen, maxFail := load.snapshot()
	for k := range codesSeen {
		if !strings.Contains(k, " Unavailable UNAVAILABLE") {
			t.Errorf("a call failed otherwise than UNAVAILABLE while Redis was down: %s", k)
		}
	}
	if maxFail >= faultCallDeadline {
		t.Errorf("the slowest failed call took %s: not faster than its deadline %s", maxFail, faultCallDeadline)
	}
	restBad.Range(func(k, _ any) bool {
		if k.(string) != "503 UNAVAILABLE" {
			t.Errorf("a REST call failed with %s while Redis was down, want 503 UNAVAILABLE", k)
		}
		return true
	})
	t.Logf("REST: %d OK, %d failed (slowest %s)", restOK.Load(), restFail.Load(), time.Duration(restMax.Load()).Round(time.Millisecond))
	faultVerdict(t, "Redis killed 5s", load, reg, st.JetStream, st.Redis, st.KeyPrefix, 60*time.Second)
}

// landscapeBinDir holds the landscape binary built for this package's
// tests ("" until one is built); TestMain removes it.
var landscapeBinDir string

// landscapeBinary builds the landscape binary once per test run, with the
// flags of `make build` (so that the two share the build cache), into a
// temporary folder.
var landscapeBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "landscape-e2e-")
	if err != nil {
		return "", err
	}
	landscapeBinDir = dir
	bin := filepath.Join(dir, "landscape")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/landscape-dev/landscape/services/landscape/cmd/landscape")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build landscape: %w\n%s", err, out)
	}
	return bin, nil
})

// buildLandscape returns the landscape binary, built on first use.
func buildLandscape(t testing.TB) string {
	t.Helper()
	bin, err := landscapeBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if landscapeBinDir != "" {
		_ = os.RemoveAll(landscapeBinDir)
	}
	os.Exit(code)
}

var bannerGRPC = regexp.MustCompile(`(?m)^\s*gRPC:\s+(\S+)`)
var bannerHTTP = regexp.MustCompile(`(?m)^\s*Gateway:\s+(http://\S+)`)

// startDev runs `landscape dev` on free ports against the test's Redis
// and NATS and returns the process and its gRPC and gateway addresses.
func startDev(t *testing.T, bin, redisURL, natsURL, serviceSecret string) (*testkit.Process, string, string) {
	t.Helper()
	p := testkit.StartProcess(t, bin, nil, "dev",
		"--redis-url", redisURL, "--nats-url", natsURL,
		"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
		"--jwt-hs256-secret", faultSecret, "--service-secret", serviceSecret,
		"--pair-rate-limit", "0", "--log-level", "debug")
	var grpcAddr, base string
	testkit.Eventually(t, 30*time.Second, "landscape dev prints its addresses", func() bool {
		select {
		case <-p.Exited():
			t.Fatalf("landscape dev exited: %v\n%s", p.Err(), redactAll(p.Output()))
		default:
		}
		out := p.Output()
		g, h := bannerGRPC.FindStringSubmatch(out), bannerHTTP.FindStringSubmatch(out)
		if g == nil || h == nil {
			return false
		}
		grpcAddr, base = g[1], h[1]
		return true
	})
	waitHealthz(t, base, http.StatusOK, 30*time.Second)
	return p, grpcAddr, base
}

// TestFaultKillProcess: `kill -9` of the landscape process under load,
// twice — once with NATS up, once while NATS is down so that the outbox
// holds events at the kill — then a restart: every acknowledged
// registration is there and every event is on its stream exactly once
// (the relay drains the outbox at start).
func TestFaultKillProcess(t *testing.T) {
	t.Parallel()
	e := newFaultEnv(t)
	lb, rp, ns, jwt := e.lb, e.rp, e.ns, e.jwt
	bin, svcSecret := e.processes(t)
	load := newFaultLoad(lb)
	kills := 0
	var procs []*testkit.Process
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(rp.Port())})
	defer rdb.Close()
	backlog := func() int64 {
		var n int64
		for _, c := range []string{"registry", "token", "formation"} {
			n += rdb.XLen(context.Background(), "ls:"+c+":outbox").Val()
		}
		return n
	}

	lifetime := func(beforeKill func()) {
		p, grpcAddr, _ := startDev(t, bin, rp.URL(), ns.URL(), svcSecret)
		procs = append(procs, p)
		reg := registryv1.NewRegistryServiceClient(dialGRPC(t, grpcAddr))
		stop := load.run(reg, jwt, 4, 40*time.Millisecond)
		at := load.okCalls.Load()
		testkit.Eventually(t, 15*time.Second, "load on the process", func() bool { return load.okCalls.Load() > at+40 })
		if beforeKill != nil {
			beforeKill()
			at = load.okCalls.Load()
			testkit.Eventually(t, 15*time.Second, "load with NATS down", func() bool { return load.okCalls.Load() > at+40 })
		}
		p.Signal(syscall.SIGKILL) // kill -9 while the load runs
		kills++
		stop()
		t.Logf("kill -9 #%d under load: %d calls OK so far, %d events waiting in the outboxes", kills, load.okCalls.Load(), backlog())
	}
	lifetime(nil)
	lifetime(ns.Stop)
	ns.Start()

	// The last life: no load, the relay drains what the killed ones left.
	p, grpcAddr, _ := startDev(t, bin, rp.URL(), ns.URL(), svcSecret)
	procs = append(procs, p)
	reg := registryv1.NewRegistryServiceClient(dialGRPC(t, grpcAddr))
	faultVerdict(t, fmt.Sprintf("landscape killed -9 %d times", kills), load, reg, jetStreamAt(t, ns.URL()), rdb, "ls", 60*time.Second)
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.Exited():
	case <-time.After(20 * time.Second):
		t.Error("landscape dev did not stop on SIGTERM")
	}
	for _, p := range procs {
		_, _ = lb.Write([]byte(p.Stderr()))
	}
}

// TestFaultPeerDown runs each service as its own process (landscape
// token, registry, formation, gateway) and kills one peer at a time: the
// callers answer UNAVAILABLE (503 through the gateway) quickly, never
// hang or answer 500, keep serving what does not need the peer, and
// recover when the peer returns on its address.
func TestFaultPeerDown(t *testing.T) {
	t.Parallel()
	e := newFaultEnv(t)
	lb, rp, ns, jwt := e.lb, e.rp, e.ns, e.jwt
	bin, svcSecret := e.processes(t)
	port := func() string {
		p, err := testkit.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		return "127.0.0.1:" + strconv.Itoa(p)
	}
	tokAddr, regAddr, formAddr, httpAddr := port(), port(), port(), port()
	common := []string{"--redis-url", rp.URL(), "--nats-url", ns.URL(), "--service-secret", svcSecret,
		"--jwt-hs256-secret", faultSecret, "--log-level", "debug", "--metrics-addr", "127.0.0.1:0"}
	var procs []*testkit.Process
	run := func(args ...string) *testkit.Process {
		p := testkit.StartProcess(t, bin, nil, args...)
		procs = append(procs, p)
		return p
	}
	startToken := func() *testkit.Process {
		return run(append([]string{"token", "--grpc-addr", tokAddr}, common...)...)
	}
	startRegistry := func() *testkit.Process {
		return run(append([]string{"registry", "--grpc-addr", regAddr, "--token-addr", tokAddr}, common...)...)
	}
	tok := startToken()
	regP := startRegistry()
	run(append([]string{"formation", "--grpc-addr", formAddr, "--registry-addr", regAddr}, common...)...)
	run("gateway", "--http-addr", httpAddr, "--registry-addr", regAddr, "--token-addr", tokAddr, "--formation-addr", formAddr,
		"--redis-url", rp.URL(), "--pair-rate-limit", "0", "--log-level", "debug", "--metrics-addr", "127.0.0.1:0")
	base := "http://" + httpAddr
	waitHealthz(t, base, http.StatusOK, 60*time.Second)
	hc := &http.Client{Timeout: 30 * time.Second}
	pre := base + "/v1/globalAccounts/" + faultGA
	n := 0
	register := func() (httpResult, time.Duration) {
		n++
		start := time.Now()
		r := httpCall(t, hc, "POST", pre+"/systems", jwt, fmt.Sprintf(`{"displayName":"peer %d","type":"sap-commerce-cloud"}`, n))
		_, _ = keepRegistration(lb, r.Body)
		return r, time.Since(start)
	}
	if r, _ := register(); r.Status != 200 {
		t.Fatalf("register with every peer up: %d %s", r.Status, r.Body)
	}
	if r := httpCall(t, hc, "POST", pre+"/formations?formationId=peer", jwt, `{"displayName":"peer","formationType":"side-by-side-extensibility-with-kyma"}`); r.Status != 200 {
		t.Fatalf("formation: %d %s", r.Status, r.Body)
	}
	sysName := "globalAccounts/" + faultGA + "/systems/"
	{
		r, _ := register()
		out, _ := keepRegistration(lb, r.Body)
		sysName = out.System.Name
	}
	faults := 0

	// 1. Token down: the registry cannot issue tokens.
	tok.Signal(syscall.SIGKILL)
	faults++
	regGRPC := registryv1.NewRegistryServiceClient(dialGRPC(t, regAddr))
	for i := range 5 {
		r, took := register()
		if r.Status != http.StatusServiceUnavailable || r.Reason != "UNAVAILABLE" {
			t.Errorf("RegisterSystem with token down (REST): %d %s %.200s", r.Status, r.Reason, r.Body)
		}
		ctx, cancel := context.WithTimeout(stacktest.Ctx(context.Background(), jwt), 10*time.Second)
		start := time.Now()
		_, err := regGRPC.RegisterSystem(ctx, &registryv1.RegisterSystemRequest{Parent: "globalAccounts/" + faultGA,
			System: &registryv1.System{DisplayName: fmt.Sprintf("peer grpc %d", i), Type: "sap-commerce-cloud"}})
		cancel()
		if c, reason := reasonOf(err); c != codes.Unavailable || reason != "UNAVAILABLE" {
			t.Errorf("RegisterSystem with token down (gRPC): %v %s %v", c, reason, err)
		}
		if i == 0 {
			t.Logf("token down: RegisterSystem answered %d in %s (REST), %s in %s (gRPC)", r.Status, took.Round(time.Millisecond), codes.Unavailable, time.Since(start).Round(time.Millisecond))
		}
		if took > 5*time.Second {
			t.Errorf("RegisterSystem with token down took %s", took)
		}
	}
	if r := httpCall(t, hc, "POST", base+"/v1/systems:pair", "", `{"integrationToken":"`+wellFormedToken()+`","systemType":"sap-commerce-cloud","baseUrl":"https://peer.example.com"}`); r.Status != http.StatusServiceUnavailable {
		t.Errorf("PairSystem with token down: %d %s", r.Status, r.Body)
	}
	if r := httpCall(t, hc, "GET", base+"/"+"v1/"+sysName, jwt, ""); r.Status != 200 {
		t.Errorf("GetSystem with token down: %d %s", r.Status, r.Body)
	}
	waitHealthz(t, base, http.StatusServiceUnavailable, 15*time.Second)
	tok = startToken()
	testkit.Eventually(t, 30*time.Second, "RegisterSystem after token returns", func() bool {
		r, _ := register()
		return r.Status == 200
	})

	// 2. Registry down: formation cannot check systems; the gateway
	// cannot reach the registry.
	regP.Signal(syscall.SIGKILL)
	faults++
	start := time.Now()
	r := httpCall(t, hc, "POST", pre+"/formations/peer:assignSystem", jwt, `{"system":"`+sysName+`"}`)
	if r.Status != http.StatusServiceUnavailable || r.Reason != "UNAVAILABLE" {
		t.Errorf("AssignSystem with registry down: %d %s %.200s", r.Status, r.Reason, r.Body)
	}
	t.Logf("registry down: AssignSystem answered %d %s in %s", r.Status, r.Reason, time.Since(start).Round(time.Millisecond))
	formGRPC := formationv1.NewFormationServiceClient(dialGRPC(t, formAddr))
	ctx, cancel := context.WithTimeout(stacktest.Ctx(context.Background(), jwt), 10*time.Second)
	_, err := formGRPC.AssignSystem(ctx, &formationv1.AssignSystemRequest{Name: "globalAccounts/" + faultGA + "/formations/peer", System: sysName})
	cancel()
	if c, reason := reasonOf(err); c != codes.Unavailable || reason != "UNAVAILABLE" {
		t.Errorf("AssignSystem with registry down (gRPC): %v %s %v", c, reason, err)
	}
	start = time.Now()
	r = httpCall(t, hc, "GET", pre+"/systems", jwt, "")
	if r.Status != http.StatusServiceUnavailable || r.Reason != "UNAVAILABLE" {
		t.Errorf("ListSystems through the gateway with registry down: %d %s", r.Status, r.Reason)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("ListSystems with registry down took %s", took)
	}
	if r := httpCall(t, hc, "GET", pre+"/formations/peer", jwt, ""); r.Status != 200 {
		t.Errorf("GetFormation with registry down: %d %s", r.Status, r.Body)
	}
	startRegistry()
	testkit.Eventually(t, 30*time.Second, "AssignSystem after registry returns", func() bool {
		r := httpCall(t, hc, "POST", pre+"/formations/peer:assignSystem", jwt, `{"system":"`+sysName+`"}`)
		return r.Status == 200
	})
	waitHealthz(t, base, http.StatusOK, 30*time.Second)
	t.Logf("peer faults survived: %d (token down, registry down), each UNAVAILABLE, each recovered", faults)
	for _, p := range procs {
		p.Signal(syscall.SIGTERM)
		_, _ = lb.Write([]byte(p.Stderr()))
	}
}
