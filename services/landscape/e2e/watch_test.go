package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/gateway"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// sseEvent is one Server-Sent Event of a watch.
type sseEvent struct {
	ID, Event string
	CE        cloudevent.Event
}

// sseWatch is a watch connection read in the background.
type sseWatch struct {
	Status int
	Body   string // the refusal's body when Status is not 200
	events chan sseEvent
	cancel context.CancelFunc
}

// openWatch opens GET {base}/v1/globalAccounts/{ga}/events:watch{query}.
func openWatch(t testing.TB, base, ga, jwt, query, lastEventID string) *sseWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/globalAccounts/"+ga+"/events:watch"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if jwt != "" {
		req.Header.Set("Authorization", "Bearer "+jwt)
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	w := &sseWatch{Status: res.StatusCode, events: make(chan sseEvent, 10000), cancel: cancel}
	if res.StatusCode != http.StatusOK {
		b := make([]byte, 4096)
		n, _ := res.Body.Read(b)
		w.Body = string(b[:n])
		_ = res.Body.Close()
		cancel()
		return w
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("watch content type %q", ct)
	}
	go func() {
		defer res.Body.Close()
		defer close(w.events)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var cur sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.ID != "" {
					w.events <- cur
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				cur.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				cur.Event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev, err := cloudevent.Decode([]byte(line[6:]))
				if err != nil {
					t.Errorf("watch data is not a CloudEvent: %v: %s", err, line)
				}
				cur.CE = ev
			}
		}
	}()
	return w
}

// next returns the next event, failing after timeout.
func (w *sseWatch) next(t testing.TB, timeout time.Duration) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-w.events:
		if !ok {
			t.Fatalf("watch closed")
		}
		return ev
	case <-time.After(timeout):
		t.Fatalf("no event within %s", timeout)
	}
	return sseEvent{}
}

// seedFlow registers, pairs, creates a formation and assigns, over REST in
// global account ga; it returns the number of events it causes.
func seedFlow(t *testing.T, st *stacktest.Stack, ga, id string) int {
	t.Helper()
	jwt := st.AdminJWT(ga)
	r := httpCall(t, st.HTTP, "POST", st.BaseURL+"/v1/globalAccounts/"+ga+"/systems?systemId="+id, jwt,
		`{"displayName": "SF `+id+`", "type": "sap-successfactors"}`)
	if r.Status != 200 {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	var reg registration
	walkDecodeTB(t, r.Body, &reg)
	r = httpCall(t, st.HTTP, "POST", st.BaseURL+"/v1/systems:pair", "",
		fmt.Sprintf(`{"integrationToken": %q, "systemType": "sap-successfactors", "baseUrl": "https://x.example.com", "externalId": "x"}`, reg.IntegrationToken.Token))
	if r.Status != 200 {
		t.Fatalf("pair: %d %s", r.Status, r.Body)
	}
	r = httpCall(t, st.HTTP, "POST", st.BaseURL+"/v1/globalAccounts/"+ga+"/formations?formationId=f-"+id, jwt,
		`{"displayName": "F `+id+`", "formationType": "side-by-side-extensibility-with-kyma"}`)
	if r.Status != 200 {
		t.Fatalf("create formation: %d %s", r.Status, r.Body)
	}
	r = httpCall(t, st.HTTP, "POST", st.BaseURL+"/v1/globalAccounts/"+ga+"/formations/f-"+id+":assignSystem", jwt,
		`{"system": "globalAccounts/`+ga+`/systems/`+id+`"}`)
	if r.Status != 200 {
		t.Fatalf("assign: %d %s", r.Status, r.Body)
	}
	// system.created, token.issued, token.consumed, system.registered,
	// formation.created, assignment.created, system.updated (formations).
	return 7
}

func walkDecodeTB(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// TestWatch: a reader connected before the seed flow sees every event of
// its global account and none of another's; a reader that resumes with
// the cursor of event k gets k+1… with no gap and no duplicate, also on
// another gateway process; since works; refusals.
func TestWatch(t *testing.T) {
	t.Parallel()
	st := stacktest.StartHealthy(t, stacktest.Options{})
	waitStreams(t, st)
	before := time.Now().Add(-time.Second)
	viewer := st.JWT("acme", string(authn.RoleSystemLandscapeViewer))
	w := openWatch(t, st.BaseURL, "acme", viewer, "", "")
	if w.Status != 200 {
		t.Fatalf("watch: %d %s", w.Status, w.Body)
	}
	other := openWatch(t, st.BaseURL, "other", st.AdminJWT("other"), "", "")
	n := seedFlow(t, st, "acme", "sf-1")
	seedFlow(t, st, "other", "sf-9")

	var got []sseEvent
	for range n {
		ev := w.next(t, 15*time.Second)
		if ev.CE.GlobalAccount != "acme" || ev.Event != ev.CE.Type {
			t.Fatalf("watch of acme got %+v", ev)
		}
		got = append(got, ev)
	}
	seen := map[string]bool{}
	for _, ev := range got {
		if seen[ev.CE.ID] {
			t.Fatalf("duplicate event %s", ev.CE.ID)
		}
		seen[ev.CE.ID] = true
	}
	for range n {
		if ev := other.next(t, 15*time.Second); ev.CE.GlobalAccount != "other" {
			t.Fatalf("watch of other got %+v", ev)
		}
	}

	// A second gateway process (its own NATS connection) over the same
	// streams resumes any cursor.
	srv2URL := secondGateway(t, st)
	for k := range n - 1 {
		for _, how := range []string{"header", "query"} {
			base, query, last := srv2URL, "", got[k].ID
			if how == "query" {
				base, query, last = st.BaseURL, "?after="+got[k].ID, ""
			}
			r := openWatch(t, base, "acme", viewer, query, last)
			if r.Status != 200 {
				t.Fatalf("resume: %d %s", r.Status, r.Body)
			}
			// The three streams interleave differently on each
			// connection; per stream (so per resource) the order is the
			// commit order, and together they are exactly got[k+1:].
			want := map[string]bool{}
			for _, ev := range got[k+1:] {
				want[ev.CE.ID] = true
			}
			for range n - k - 1 {
				ev := r.next(t, 15*time.Second)
				if !want[ev.CE.ID] {
					t.Fatalf("resume after %d (%s): got %s (%s), a duplicate or not of the account", k, how, ev.CE.ID, ev.CE.Type)
				}
				delete(want, ev.CE.ID)
			}
			r.cancel()
		}
	}
	// since: from a time before the flow, the same events.
	r := openWatch(t, st.BaseURL, "acme", viewer, "?since="+before.UTC().Format(time.RFC3339Nano), "")
	if r.Status != 200 {
		t.Fatalf("since: %d %s", r.Status, r.Body)
	}
	all := map[string]bool{}
	for range n {
		all[r.next(t, 15*time.Second).CE.ID] = true
	}
	for _, ev := range got {
		if !all[ev.CE.ID] {
			t.Fatalf("since: %s (%s) missing", ev.CE.ID, ev.CE.Type)
		}
	}
	r.cancel()

	// Refusals.
	for _, c := range []struct {
		name, ga, jwt, query, last string
		status                     int
		reason                     string
	}{
		{"no JWT", "acme", "", "", "", 401, "UNAUTHENTICATED"},
		{"another account", "acme", st.AdminJWT("other"), "", "", 403, "PERMISSION_DENIED"},
		{"no known role", "acme", st.JWT("acme", "auditor"), "", "", 403, "PERMISSION_DENIED"},
		{"malformed cursor", "acme", viewer, "", "not-a-cursor", 400, "INVALID_ARGUMENT"},
		{"malformed after", "acme", viewer, "?after=%21%21", "", 400, "INVALID_ARGUMENT"},
		{"cursor past the end", "acme", viewer, "", "OTk5OTkuMC4w", 400, "INVALID_ARGUMENT"},
		{"bad since", "acme", viewer, "?since=yesterday", "", 400, "INVALID_ARGUMENT"},
	} {
		r := openWatch(t, st.BaseURL, c.ga, c.jwt, c.query, c.last)
		if r.Status != c.status || !strings.Contains(r.Body, c.reason) {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.Status, r.Body, c.status, c.reason)
		}
	}
	// Expired: the stream no longer holds what follows the cursor.
	s, err := st.JetStream.Stream(t.Context(), cloudevent.StreamName("registry"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := openWatch(t, st.BaseURL, "acme", viewer, "", got[0].ID); r.Status != 410 || !strings.Contains(r.Body, "CURSOR_EXPIRED") {
		t.Errorf("expired cursor: %d %s", r.Status, r.Body)
	}
}

// TestWatchLimitsAndSlowReaders: the 101st watch of an account is 429; a
// reader that stops reading is cut off instead of buffered without bound.
func TestWatchLimitsAndSlowReaders(t *testing.T) {
	t.Parallel()
	st := stacktest.StartHealthy(t, stacktest.Options{})
	waitStreams(t, st)
	jwt := st.JWT("many", string(authn.RoleSystemLandscapeViewer))
	for i := range gateway.MaxWatchesPerAccount {
		if w := openWatch(t, st.BaseURL, "many", jwt, "", ""); w.Status != 200 {
			t.Fatalf("watch %d: %d %s", i+1, w.Status, w.Body)
		}
	}
	w := openWatch(t, st.BaseURL, "many", jwt, "", "")
	if w.Status != 429 || !strings.Contains(w.Body, "RATE_LIMITED") {
		t.Fatalf("watch 101: %d %s", w.Status, w.Body)
	}
	if w := openWatch(t, st.BaseURL, "few", st.JWT("few", string(authn.RoleSystemLandscapeViewer)), "", ""); w.Status != 200 {
		t.Fatalf("another account's watch: %d %s", w.Status, w.Body)
	}

	// A reader that never reads: events pile up in the socket, then in its
	// buffer, and the gateway closes the connection.
	slow := st.JWT("slow", string(authn.RoleSystemLandscapeViewer))
	req, _ := http.NewRequest(http.MethodGet, st.BaseURL+"/v1/globalAccounts/slow/events:watch", nil)
	req.Header.Set("Authorization", "Bearer "+slow)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("slow watch: %v", err)
	}
	defer res.Body.Close()
	payload := strings.Repeat("x", 2000)
	for i := range 3000 {
		body := fmt.Sprintf(`{"specversion":"1.0","id":"slow-%d","source":"/landscape/registry","type":"t","subject":"s","globalaccount":"slow","data":{"pad":%q}}`, i, payload)
		if _, err := st.JetStream.PublishAsync("landscape.registry.slow.system.updated", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	<-st.JetStream.PublishAsyncComplete()
	// Reading now ends (the server closed the connection) before all
	// 3000 events arrive.
	done := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		n := 0
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "id: ") {
				n++
			}
		}
		done <- n
	}()
	select {
	case n := <-done:
		if n >= 3000 {
			t.Fatalf("the slow reader got all %d events: not cut off", n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the slow reader was not cut off")
	}
	testkit.Eventually(t, 5*time.Second, "the watch is released", func() bool {
		w := openWatch(t, st.BaseURL, "slow", slow, "", "")
		w.cancel()
		return w.Status == 200
	})
}

// waitStreams waits until the services have created their streams.
func waitStreams(t testing.TB, st *stacktest.Stack) {
	t.Helper()
	testkit.Eventually(t, 15*time.Second, "the three event streams", func() bool {
		for _, c := range []string{"registry", "token", "formation"} {
			if _, err := st.JetStream.Stream(t.Context(), cloudevent.StreamName(c)); err != nil {
				return false
			}
		}
		return true
	})
}

// secondGateway starts another gateway process's worth of state over the
// stack's services, streams and Redis: its own NATS connection, its own
// JWT check, its own watch count. It is what another replica behind the
// same load balancer is.
func secondGateway(t testing.TB, st *stacktest.Stack) string {
	t.Helper()
	auth, err := authn.New(authn.Config{HS256Secret: stacktest.Secret})
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := natsconn.Connect(st.NATSURL, "gateway-2", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	gw, err := gateway.New(gateway.Config{RegistryAddr: st.GRPCAddr, TokenAddr: st.GRPCAddr, FormationAddr: st.GRPCAddr,
		JetStream: js, Auth: auth, Redis: st.Redis, KeyPrefix: st.KeyPrefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestWatchLimitAcrossGateways: the 100 watches of an account are counted
// across gateway replicas (they share Redis): 50 on each, then the 101st
// is 429 on both; a watch that ends frees its slot for the other replica.
func TestWatchLimitAcrossGateways(t *testing.T) {
	t.Parallel()
	st := stacktest.StartHealthy(t, stacktest.Options{})
	waitStreams(t, st)
	other := secondGateway(t, st)
	jwt := st.JWT("spread", string(authn.RoleSystemLandscapeViewer))
	var first []*sseWatch
	for i := range gateway.MaxWatchesPerAccount {
		base := st.BaseURL
		if i%2 == 1 {
			base = other
		}
		w := openWatch(t, base, "spread", jwt, "", "")
		if w.Status != 200 {
			t.Fatalf("watch %d: %d %s", i+1, w.Status, w.Body)
		}
		if base == st.BaseURL {
			first = append(first, w)
		}
	}
	for _, base := range []string{st.BaseURL, other} {
		if w := openWatch(t, base, "spread", jwt, "", ""); w.Status != 429 || !strings.Contains(w.Body, "RATE_LIMITED") {
			t.Fatalf("watch %d on %s: %d %s, want 429 RATE_LIMITED", gateway.MaxWatchesPerAccount+1, base, w.Status, w.Body)
		}
	}
	first[0].cancel()
	testkit.Eventually(t, 10*time.Second, "a slot freed on one gateway is free on the other", func() bool {
		w := openWatch(t, other, "spread", jwt, "", "")
		w.cancel()
		return w.Status == 200
	})
}

// TestWatchNATSOutage: the NATS server stops under open watches and starts
// again on the same port and store. A watch either stays open (keep-alives)
// or closes cleanly; resuming with its last cursor, the reader gets every
// event — those published before, those committed while NATS was down
// (published by the outbox afterwards) and those after — once each.
func TestWatchNATSOutage(t *testing.T) {
	t.Parallel()
	st := stacktest.StartHealthy(t, stacktest.Options{})
	waitStreams(t, st)
	const ga = "outage"
	viewer, admin := st.JWT(ga, string(authn.RoleSystemLandscapeViewer)), st.AdminJWT(ga)
	publish := func(ids ...string) {
		for _, id := range ids {
			body := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/landscape/registry","type":"t","subject":"s","globalaccount":%q}`, id, ga)
			testkit.Eventually(t, 30*time.Second, "publish "+id, func() bool {
				ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
				defer cancel()
				_, err := st.JetStream.Publish(ctx, "landscape.registry."+ga+".system.updated", []byte(body))
				return err == nil
			})
		}
	}
	w := openWatch(t, st.BaseURL, ga, viewer, "", "")
	if w.Status != 200 {
		t.Fatalf("watch: %d %s", w.Status, w.Body)
	}
	seen := map[string]int{}
	var last string
	reconnects := 0
	// take reads n events, resuming with the last cursor whenever the
	// watch closes.
	take := func(n int) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for range n {
			for {
				select {
				case ev, ok := <-w.events:
					if ok {
						seen[ev.CE.ID]++
						last = ev.ID
						goto next
					}
					reconnects++
					testkit.Eventually(t, 30*time.Second, "the watch resumes after NATS is back", func() bool {
						w = openWatch(t, st.BaseURL, ga, viewer, "", last)
						return w.Status == 200
					})
				case <-deadline:
					t.Fatalf("events seen %v: missing some", seen)
				}
			}
		next:
		}
	}
	publish("before-1", "before-2", "before-3")
	take(3)

	st.NATSServer.Stop()
	// A registration commits while NATS is down: its events wait in the
	// registry's outbox.
	r := httpCall(t, st.HTTP, "POST", st.BaseURL+"/v1/globalAccounts/"+ga+"/systems?systemId=during", admin,
		`{"displayName": "During", "type": "sap-successfactors"}`)
	if r.Status != 200 {
		t.Fatalf("register while NATS is down: %d %s", r.Status, r.Body)
	}
	st.NATSServer.Start()
	publish("after-1", "after-2", "after-3")
	take(5) // system created, token issued, after-1..3

	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
	for _, id := range []string{"before-1", "before-2", "before-3", "after-1", "after-2", "after-3"} {
		if seen[id] != 1 {
			t.Errorf("event %s: delivered %d times", id, seen[id])
		}
	}
	if len(seen) != 8 {
		t.Errorf("events seen %v, want 8", seen)
	}
	t.Logf("the watch resumed %d times with its cursor", reconnects)
}
