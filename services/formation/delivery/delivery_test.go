package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/egress"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/pkg/webhook"
	"github.com/landscape-dev/landscape/services/formation/delivery"
	"github.com/landscape-dev/landscape/services/formation/formations"
	"github.com/landscape-dev/landscape/services/formation/redisstore"
)

// directory is the registry as the formation service sees it: every
// system is paired, with a webhook at the URL the test gives it.
type directory struct {
	mu     sync.Mutex
	urls   map[string]string
	secret string
}

func (d *directory) GetSystem(_ context.Context, ga, id string) (formations.System, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sys := formations.System{GlobalAccount: ga, ID: id, Type: "sap-s4hana-cloud", State: formations.SystemRegistered, Revision: 1,
		BaseURL: "https://" + id + ".example.com"}
	if u := d.urls[id]; u != "" {
		sys.Webhook = &formations.SystemWebhook{URL: u}
	}
	return sys, nil
}

func (d *directory) SystemType(context.Context, string) (formations.SystemType, bool, error) {
	return formations.SystemType{ID: "sap-s4hana-cloud", Environments: []formations.Environment{formations.Kyma}}, true, nil
}

func (d *directory) WebhookSecrets(context.Context, string, string) ([]string, error) {
	return []string{d.secret}, nil
}

// crashable is the repository of a process that can die: after die(),
// every commit fails, as if the process had stopped right after sending.
type crashable struct {
	*redisstore.Store
	dead atomic.Bool
}

func (c *crashable) Commit(ctx context.Context, s formations.Step) error {
	if c.dead.Load() {
		return errors.New("process killed")
	}
	return c.Store.Commit(ctx, s)
}

type env struct {
	t     testing.TB
	store *redisstore.Store
	dir   *directory
	ga    string
}

func newEnv(t testing.TB) *env {
	rdb, prefix := testkit.Redis(t)
	return &env{t: t, store: redisstore.New(rdb, prefix),
		dir: &directory{urls: map[string]string{}, secret: webhook.NewSecret()}, ga: "ga1"}
}

func (e *env) app(repo formations.Repository) *formations.Service {
	app := formations.NewService(repo, e.dir, formations.DefaultCatalog(), nil)
	app.Integrate(formations.Integration{RetryBase: 20 * time.Millisecond})
	return app
}

// engine runs an engine (a replica) until the returned stop is called.
func (e *env) engine(app *formations.Service, o delivery.Options) (stop func()) {
	o.PublicURL = "http://127.0.0.1:8080"
	eng := delivery.New(app, e.store, e.dir, &egress.Guard{AllowInsecure: true, Dial: testkit.LoopbackDialer(e.t)}, slog.New(slog.DiscardHandler), o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = eng.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	e.t.Cleanup(stop)
	return stop
}

// pending makes n formations with one system each, whose webhook is url:
// n notifications wait in the schedule.
func (e *env) pending(n int, url string) []string {
	app := e.app(e.store)
	ctx := e.t.Context()
	var ids []string
	for i := range n {
		sys := fmt.Sprintf("s%d", i)
		e.dir.mu.Lock()
		e.dir.urls[sys] = url
		e.dir.mu.Unlock()
		f, err := app.Create(ctx, e.ga, formations.CreateInput{ID: fmt.Sprintf("f%d", i), DisplayName: fmt.Sprintf("F %d", i), Type: "side-by-side-extensibility-with-kyma"})
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := app.Assign(ctx, e.ga, f.ID, "globalAccounts/ga1/systems/"+sys); err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, f.ID)
	}
	return ids
}

func (e *env) ready(ids []string) int {
	n := 0
	for _, id := range ids {
		f, err := e.store.Get(e.t.Context(), e.ga, id)
		if err == nil && f.State() == formations.Ready {
			n++
		}
	}
	return n
}

// counter is a receiver that counts requests per webhook-id and notices
// two requests with one id in flight at once.
type counter struct {
	mu         sync.Mutex
	sent       map[string]int
	inFlight   map[string]int
	concurrent int
	hold       time.Duration
}

func (c *counter) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	id := r.Header.Get(webhook.HeaderID)
	c.mu.Lock()
	c.sent[id]++
	c.inFlight[id]++
	if c.inFlight[id] > 1 {
		c.concurrent++
	}
	c.mu.Unlock()
	time.Sleep(c.hold) // a receiver that takes a while; widens any race
	c.mu.Lock()
	c.inFlight[id]--
	c.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (c *counter) total() (distinct, all int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.sent {
		all += n
	}
	return len(c.sent), all
}

func newCounter(t testing.TB, hold time.Duration) (*counter, string) {
	c := &counter{sent: map[string]int{}, inFlight: map[string]int{}, hold: hold}
	srv := httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(srv.Close)
	return c, srv.URL
}

// A replica dies with 500 notifications pending (some sent, their answers
// never recorded): after a restart every one is delivered, none lost, and
// the ones sent twice carry the same webhook-id.
func TestCrashWith500PendingLosesNone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, url := newCounter(t, 5*time.Millisecond)
	ids := e.pending(500, url)
	repo := &crashable{Store: e.store}
	opts := delivery.Options{Lease: time.Second, Timeout: 500 * time.Millisecond, PerEndpoint: 64}
	stopA := e.engine(e.app(repo), opts)
	testkit.Eventually(t, 30*time.Second, "the first replica sent 100", func() bool { _, all := c.total(); return all >= 100 })
	repo.dead.Store(true) // killed: what it sends from now on is never recorded
	stopA()
	before := e.ready(ids)
	if before == 500 {
		t.Fatal("everything was delivered before the crash; the test proves nothing")
	}
	e.engine(e.app(e.store), opts) // the restarted process
	testkit.Eventually(t, 60*time.Second, "all 500 READY after the restart", func() bool { return e.ready(ids) == 500 })
	distinct, all := c.total()
	if distinct != 500 {
		t.Fatalf("%d distinct webhook-ids delivered, want 500", distinct)
	}
	t.Logf("ready before the crash: %d; requests: %d for 500 notifications (the extra ones repeat a webhook-id)", before, all)
	if n, _ := e.store.Scheduled(t.Context()); n != 0 {
		t.Fatalf("%d deliveries left in the schedule", n)
	}
}

// Two replicas on one Redis: every notification is sent once, never by
// both at once.
func TestTwoReplicasNeverSendOneNotificationConcurrently(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, url := newCounter(t, 2*time.Millisecond)
	ids := e.pending(500, url)
	opts := delivery.Options{PerEndpoint: 64}
	e.engine(e.app(e.store), opts)
	e.engine(e.app(e.store), opts)
	testkit.Eventually(t, 60*time.Second, "all 500 READY", func() bool { return e.ready(ids) == 500 })
	distinct, all := c.total()
	c.mu.Lock()
	concurrent := c.concurrent
	c.mu.Unlock()
	if concurrent != 0 || distinct != 500 || all != 500 {
		t.Fatalf("concurrent duplicates %d, distinct %d, requests %d; want 0, 500, 500", concurrent, distinct, all)
	}
}

// One receiver that never answers does not hold up the healthy ones: they
// are all READY while its requests still hang.
func TestHangingReceiverDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := make(chan struct{})
	var hanging atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hanging.Add(1)
		<-release
	}))
	t.Cleanup(slow.Close)
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(free)
	_, url := newCounter(t, 0)
	slowIDs := e.pending(20, slow.URL) // s0..s19 on the hanging receiver; s20..s219 healthy
	healthy := make([]string, 0, 200)
	app := e.app(e.store)
	for i := 20; i < 220; i++ {
		sys := fmt.Sprintf("s%d", i)
		e.dir.mu.Lock()
		e.dir.urls[sys] = url
		e.dir.mu.Unlock()
		f, err := app.Create(t.Context(), e.ga, formations.CreateInput{ID: fmt.Sprintf("f%d", i), DisplayName: fmt.Sprintf("F %d", i), Type: "side-by-side-extensibility-with-kyma"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := app.Assign(t.Context(), e.ga, f.ID, "globalAccounts/ga1/systems/"+sys); err != nil {
			t.Fatal(err)
		}
		healthy = append(healthy, f.ID)
	}
	start := time.Now()
	e.engine(app, delivery.Options{Timeout: time.Minute, Lease: 2 * time.Minute})
	testkit.Eventually(t, 30*time.Second, "the 200 healthy assignments READY", func() bool { return e.ready(healthy) == 200 })
	took := time.Since(start)
	if e.ready(slowIDs) != 0 || hanging.Load() == 0 {
		t.Fatalf("the hanging receiver answered? ready %d, requests %d", e.ready(slowIDs), hanging.Load())
	}
	t.Logf("200 healthy deliveries READY in %s while %d requests hung on one receiver (shared machine)", took, hanging.Load())
	free()
}

// heldReceiver answers every notification 200 with {"configuration":
// {"name": <system id>}}, except that it holds the first one to a until
// the gate opens. It notes each system's notifications in order, the last
// one's body, and whether one system ever had two requests at once.
type heldReceiver struct {
	gate     chan struct{}
	mu       sync.Mutex
	got      map[string][]formations.NotificationType
	last     map[string]delivery.Notification
	inFlight map[string]int
	overlap  int
}

func (h *heldReceiver) serve(w http.ResponseWriter, r *http.Request) {
	var n delivery.Notification
	_ = json.NewDecoder(r.Body).Decode(&n)
	sys := n.Self.System[strings.LastIndexByte(n.Self.System, '/')+1:]
	h.mu.Lock()
	h.inFlight[sys]++
	if h.inFlight[sys] > 1 {
		h.overlap++
	}
	h.got[sys] = append(h.got[sys], n.Type)
	h.last[sys] = n
	hold := sys == "a" && len(h.got[sys]) == 1
	h.mu.Unlock()
	if hold {
		<-h.gate
	}
	h.mu.Lock()
	h.inFlight[sys]--
	h.mu.Unlock()
	fmt.Fprintf(w, `{"configuration": {"name": %q}}`, sys)
}

func (h *heldReceiver) notifications(sys string) []formations.NotificationType {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]formations.NotificationType(nil), h.got[sys]...)
}

// A notification that is out is not replaced: the peers.changed that b's
// joining owes a waits for a's answer to its assignment.created and goes
// out after it, never beside it; that answer's configuration still
// reaches b, and both end with each other's configuration.
func TestNewerNotificationWaitsForTheOneOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := &heldReceiver{gate: make(chan struct{}), got: map[string][]formations.NotificationType{},
		last: map[string]delivery.Notification{}, inFlight: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(srv.Close)
	var openOnce sync.Once
	open := func() { openOnce.Do(func() { close(h.gate) }) }
	t.Cleanup(open)
	e.dir.mu.Lock()
	e.dir.urls["a"], e.dir.urls["b"] = srv.URL+"/a", srv.URL+"/b"
	e.dir.mu.Unlock()
	app := e.app(e.store)
	f, err := app.Create(t.Context(), e.ga, formations.CreateInput{ID: "f-held", DisplayName: "Held", Type: "side-by-side-extensibility-with-kyma"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Assign(t.Context(), e.ga, f.ID, "globalAccounts/ga1/systems/a"); err != nil {
		t.Fatal(err)
	}
	e.engine(app, delivery.Options{})
	testkit.Eventually(t, 20*time.Second, "a's assignment.created out", func() bool { return len(h.notifications("a")) == 1 })
	if _, err := app.Assign(t.Context(), e.ga, f.ID, "globalAccounts/ga1/systems/b"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "b READY while a's notification is held", func() bool {
		return e.assignmentOf(f.ID, "b").State == formations.Ready
	})
	if got := h.notifications("a"); len(got) != 1 {
		t.Fatalf("a got %v while its first notification was out; want the newer one to wait", got)
	}
	open()
	testkit.Eventually(t, 20*time.Second, "the formation READY and the schedule empty", func() bool {
		cur, err := e.store.Get(t.Context(), e.ga, f.ID)
		n, _ := e.store.Scheduled(t.Context())
		return err == nil && cur.State() == formations.Ready && n == 0
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.overlap != 0 {
		t.Fatalf("%d times a system had two notifications out at once", h.overlap)
	}
	if got := h.got["a"]; len(got) < 2 || got[0] != formations.NotifyAssignmentCreated || got[1] != formations.NotifyPeersChanged {
		t.Fatalf("a got %v; want assignment.created, then peers.changed", got)
	}
	for sys, peer := range map[string]string{"a": "b", "b": "a"} {
		n := h.last[sys]
		if len(n.Peers) != 1 || !strings.HasSuffix(n.Peers[0].System, "/"+peer) || string(n.Peers[0].Configuration) != fmt.Sprintf(`{"name":%q}`, peer) {
			t.Fatalf("%s's last notification shows peers %+v; want %s with its configuration", sys, n.Peers, peer)
		}
	}
}

// assignmentOf reads the assignment of system sys in formation id.
func (e *env) assignmentOf(id, sys string) formations.Assignment {
	f, err := e.store.Get(e.t.Context(), e.ga, id)
	if err != nil {
		e.t.Fatalf("formation %s: %v", id, err)
	}
	i := f.Assignment(sys)
	if i < 0 {
		e.t.Fatalf("formation %s has no assignment of %s", id, sys)
	}
	return f.Assignments[i]
}
