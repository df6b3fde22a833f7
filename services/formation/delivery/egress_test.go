package delivery_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/egress"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/pkg/webhook"
	"github.com/landscape-dev/landscape/services/formation/delivery"
	"github.com/landscape-dev/landscape/services/formation/formations"
)

// resolver answers from a table, like DNS would (a name that resolves to
// loopback stands for one that rebinds after registration).
type resolver map[string]string

func (r resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	a, ok := r[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	return []netip.Addr{netip.MustParseAddr(a)}, nil
}

// noDial fails the test on any connection: the guard must refuse first.
func noDial(t *testing.T) egress.DialFunc {
	return func(_ context.Context, _, addr string) (net.Conn, error) {
		t.Errorf("a dial to %s got past the egress guard", addr)
		return nil, errors.New("test dialer: no connection allowed")
	}
}

// engineWith runs an engine with its own guard until the test ends.
func (e *env) engineWith(app *formations.Service, guard *egress.Guard) {
	eng := delivery.New(app, e.store, e.dir, guard, slog.New(slog.DiscardHandler), delivery.Options{PublicURL: "https://landscape.example.com"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = eng.Run(ctx); close(done) }()
	e.t.Cleanup(func() { cancel(); <-done })
}

// assignment reads the one assignment of formation id.
func (e *env) assignment(id string) formations.Assignment {
	f, err := e.store.Get(e.t.Context(), e.ga, id)
	if err != nil || len(f.Assignments) != 1 {
		e.t.Fatalf("formation %s: %v", id, err)
	}
	return f.Assignments[0]
}

// Without --webhook-allow-insecure, the engine refuses at dial time an
// http URL, a name that resolves to loopback (DNS rebinding after the
// registration check), a private and a metadata address: the assignment
// turns ERROR and no connection is opened.
func TestDeliveryRefusesInsideTargetsByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, receiver := newCounter(t, 0)
	port := receiver[strings.LastIndexByte(receiver, ':')+1:]
	targets := []string{
		receiver + "/hook", // http://127.0.0.1:port
		"https://hooks.example.test:" + port + "/hook", // resolves to 127.0.0.1
		"https://10.1.2.3/hook",
		"https://169.254.169.254/latest",
		"https://[::1]:" + port + "/hook",
	}
	app := e.app(e.store)
	var fids []string
	for i, u := range targets {
		sys := "sys" + string(rune('a'+i))
		e.dir.mu.Lock()
		e.dir.urls[sys] = u
		e.dir.mu.Unlock()
		f, err := app.Create(t.Context(), e.ga, formations.CreateInput{ID: "g" + sys, DisplayName: "G " + sys, Type: "side-by-side-extensibility-with-kyma"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := app.Assign(t.Context(), e.ga, f.ID, "globalAccounts/ga1/systems/"+sys); err != nil {
			t.Fatal(err)
		}
		fids = append(fids, f.ID)
	}
	e.engineWith(app, &egress.Guard{Resolver: resolver{"hooks.example.test": "127.0.0.1"}, Dial: noDial(t)})
	for i, id := range fids {
		testkit.Eventually(t, 20*time.Second, targets[i]+" refused", func() bool { return e.assignment(id).State == formations.Error })
		if msg := e.assignment(id).StateMessage; !strings.Contains(msg, "egress guard") {
			t.Errorf("%s: stateMessage %q", targets[i], msg)
		}
	}
}

// With --webhook-allow-insecure the same http URL on a name that resolves
// to loopback is delivered (still only to 127.0.0.0/8 here).
func TestDeliveryAllowInsecureReachesLoopback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, receiver := newCounter(t, 0)
	u, _ := url.Parse(receiver)
	app := e.app(e.store)
	e.dir.mu.Lock()
	e.dir.urls["local"] = "http://hooks.example.test:" + u.Port() + "/hook"
	e.dir.mu.Unlock()
	f, err := app.Create(t.Context(), e.ga, formations.CreateInput{ID: "f-local", DisplayName: "Local", Type: "side-by-side-extensibility-with-kyma"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Assign(t.Context(), e.ga, f.ID, "globalAccounts/ga1/systems/local"); err != nil {
		t.Fatal(err)
	}
	e.engineWith(app, &egress.Guard{AllowInsecure: true, Resolver: resolver{"hooks.example.test": "127.0.0.1"}, Dial: testkit.LoopbackDialer(t)})
	testkit.Eventually(t, 20*time.Second, "READY", func() bool { return e.assignment(f.ID).State == formations.Ready })
	if distinct, _ := c.total(); distinct != 1 {
		t.Fatalf("%d notifications received, want 1", distinct)
	}
}

// A fast system's status callback can come before the engine has recorded
// its 202: the callback settles the assignment, and the 202 recorded
// afterwards awaits nothing (the assignment stays READY, the delivery is
// gone).
func TestCallbackBeforeItsAcceptedIsRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	app := e.app(e.store)
	ids := e.pending(1, "https://s0.example.com/hook")
	ref := formations.DeliveryRef{GlobalAccount: e.ga, FormationID: ids[0], SystemID: "s0"}
	d, _, err := e.store.Pending(t.Context(), ref)
	if err != nil || d == nil {
		t.Fatalf("pending delivery: %v %v", d, err)
	}
	// The system answered 202 and at once reported READY.
	body := []byte(`{"state": "READY", "configuration": {"queue": "q"}}`)
	h := http.Header{}
	webhook.SetHeaders(h, []string{e.dir.secret}, "cb-fast", time.Now(), body)
	if _, err := app.ReportStatus(t.Context(), formations.StatusReport{Ref: ref, Payload: body,
		WebhookID: h.Get(webhook.HeaderID), Timestamp: h.Get(webhook.HeaderTimestamp), Signature: h.Get(webhook.HeaderSignature)}, webhook.Verify); err != nil {
		t.Fatal(err)
	}
	if a := e.assignment(ids[0]); a.State != formations.Ready {
		t.Fatalf("after the callback: %s", a.State)
	}
	// Now the engine records the 202 of the attempt it read before.
	if err := app.Deliver(t.Context(), ref, d, formations.Outcome{Kind: formations.Accepted}); err != nil {
		t.Fatal(err)
	}
	if a := e.assignment(ids[0]); a.State != formations.Ready || string(a.Configuration) != `{"queue":"q"}` {
		t.Fatalf("after the late 202: %s %s", a.State, a.Configuration)
	}
	if left, _, _ := e.store.Pending(t.Context(), ref); left != nil {
		t.Fatalf("a delivery is left: %+v", left)
	}
}
