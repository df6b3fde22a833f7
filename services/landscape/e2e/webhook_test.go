package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/pkg/webhook"
	"github.com/landscape-dev/landscape/services/formation/delivery"
	"github.com/landscape-dev/landscape/services/landscape/stack"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// receiver is a system's webhook on 127.0.0.1: it checks every
// notification's signature with the system's secret and answers with
// answer (default 200 with its configuration).
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	got    []delivery.Notification
	ids    []string
	answer func(n int, note delivery.Notification, id string) (int, string)
	bad    int // requests whose signature did not verify
}

func newReceiver(t *testing.T, answer func(n int, note delivery.Notification, id string) (int, string)) *receiver {
	r := &receiver{t: t, answer: answer}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	secret := r.secret
	r.mu.Unlock()
	if err := webhook.VerifyRequest([]string{secret}, req.Header, body, time.Now()); err != nil {
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var note delivery.Notification
	if err := json.Unmarshal(body, &note); err != nil {
		r.t.Errorf("notification is not JSON: %v", err)
	}
	r.mu.Lock()
	r.got = append(r.got, note)
	r.ids = append(r.ids, req.Header.Get(webhook.HeaderID))
	n := len(r.got)
	r.mu.Unlock()
	code, out := 200, ""
	if r.answer != nil {
		code, out = r.answer(n, note, req.Header.Get(webhook.HeaderID))
	}
	w.WriteHeader(code)
	_, _ = io.WriteString(w, out)
}

func (r *receiver) notes() []delivery.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery.Notification(nil), r.got...)
}

// api is a small REST client of a test stack.
type api struct {
	t   *testing.T
	s   *stacktest.Stack
	jwt string
}

func (a api) do(method, path string, body any, want int) map[string]any {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.s.BaseURL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if a.jwt != "" {
		req.Header.Set("Authorization", "Bearer "+a.jwt)
	}
	res, err := a.s.HTTP.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		a.t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, raw, want)
	}
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return out
}

// pairWithWebhook registers and pairs a system whose webhook is r, and
// gives r the secret of the pairing response.
func (a api) pairWithWebhook(id string, r *receiver, mode string) map[string]any {
	a.t.Helper()
	reg := a.do("POST", "/v1/globalAccounts/ga1/systems?systemId="+id, map[string]any{"displayName": id, "type": "sap-s4hana-cloud"}, 200)
	tok := reg["integrationToken"].(map[string]any)["token"].(string)
	sys := (api{t: a.t, s: a.s}).do("POST", "/v1/systems:pair", map[string]any{
		"integrationToken": tok, "systemType": "sap-s4hana-cloud", "baseUrl": "https://" + id + ".example.com", "externalId": "ext-" + id,
		"webhook": map[string]any{"url": r.srv.URL + "/hook", "mode": mode},
	}, 200)
	secret, _ := sys["webhookSecret"].(string)
	if !strings.HasPrefix(secret, "whsec_") {
		a.t.Fatalf("pair response without webhookSecret: %v", sys)
	}
	r.mu.Lock()
	r.secret = secret
	r.mu.Unlock()
	return sys
}

// pairAndAssign pairs system id with r's webhook in mode and assigns it to
// formation fid.
func (a api) pairAndAssign(id string, r *receiver, mode, fid string) {
	a.pairWithWebhook(id, r, mode)
	a.assign(fid, id)
}

// assign assigns system id to formation fid of ga1 and returns the
// formation.
func (a api) assign(fid, id string) map[string]any {
	return a.do("POST", "/v1/globalAccounts/ga1/formations/"+fid+":assignSystem", map[string]any{"system": "globalAccounts/ga1/systems/" + id}, 200)
}

func (a api) formation(id string) map[string]any {
	return a.do("GET", "/v1/globalAccounts/ga1/formations/"+id, nil, 200)
}

func assignmentOf(f map[string]any, sys string) map[string]any {
	as, _ := f["assignments"].([]any)
	for _, x := range as {
		m := x.(map[string]any)
		if m["system"] == "globalAccounts/ga1/systems/"+sys {
			return m
		}
	}
	return nil
}

// waitAssignment waits until the assignment of sys is in state.
func (a api) waitAssignment(fid, sys, state string) map[string]any {
	a.t.Helper()
	var last map[string]any
	testkit.Eventually(a.t, 20*time.Second, fmt.Sprintf("assignment %s in %s", sys, state), func() bool {
		last = assignmentOf(a.formation(fid), sys)
		return last != nil && last["state"] == state
	})
	return last
}

func webhookStack(t *testing.T, w stack.Webhooks) (*stacktest.Stack, api) {
	w.AllowInsecure = true
	if w.RetryBase == 0 {
		w.RetryBase = 20 * time.Millisecond
	}
	s := stacktest.StartHealthy(t, stacktest.Options{Webhooks: w})
	a := api{t: t, s: s, jwt: s.AdminJWT("ga1")}
	a.do("POST", "/v1/globalAccounts/ga1/formations?formationId=f1", map[string]any{
		"displayName": "F1", "formationType": "side-by-side-extensibility-with-kyma"}, 200)
	return s, a
}

// statusAnswer answers every notification with code and no body.
func statusAnswer(code int) func(int, delivery.Notification, string) (int, string) {
	return func(int, delivery.Notification, string) (int, string) { return code, "" }
}

func configAnswer(name string) func(int, delivery.Notification, string) (int, string) {
	return func(int, delivery.Notification, string) (int, string) {
		return 200, `{"configuration": {"from": "` + name + `", "endpoint": "https://` + name + `.example.com/api"}}`
	}
}

// Two systems with SYNC webhooks learn each other's configuration; the
// secret is shown once and never again.
func TestWebhookSyncConfigurationExchange(t *testing.T) {
	t.Parallel()
	_, a := webhookStack(t, stack.Webhooks{})
	ra, rb := newReceiver(t, configAnswer("a")), newReceiver(t, configAnswer("b"))
	a.pairWithWebhook("a", ra, "SYNC")
	a.pairWithWebhook("b", rb, "SYNC")
	got := a.do("GET", "/v1/globalAccounts/ga1/systems/a", nil, 200)
	if _, ok := got["webhookSecret"]; ok {
		t.Fatal("GetSystem shows the webhook secret")
	}
	if w, _ := got["webhook"].(map[string]any); w["url"] != ra.srv.URL+"/hook" || w["mode"] != "SYNC" {
		t.Fatalf("system webhook = %v", got["webhook"])
	}
	a.assign("f1", "a")
	f := a.assign("f1", "b")
	if as := assignmentOf(f, "b"); as["state"] != "SYNCHRONIZING" && as["state"] != "READY" {
		t.Fatalf("fresh assignment = %v", as)
	}
	a.waitAssignment("f1", "a", "READY")
	asB := a.waitAssignment("f1", "b", "READY")
	if c, _ := asB["configuration"].(map[string]any); c["from"] != "b" {
		t.Fatalf("b's configuration = %v", asB["configuration"])
	}
	testkit.Eventually(t, 20*time.Second, "a learns b's configuration and b learns a's", func() bool {
		return sawPeerConfig(ra, "b") && sawPeerConfig(rb, "a")
	})
	testkit.Eventually(t, 20*time.Second, "formation READY", func() bool { return a.formation("f1")["state"] == "READY" })
	for _, n := range ra.notes() {
		if n.StatusURL != a.s.BaseURL+"/v1/globalAccounts/ga1/formations/f1/assignments/a:reportStatus" || n.Self.BaseURL != "https://a.example.com" {
			t.Fatalf("notification = %+v", n)
		}
	}
	if ra.bad+rb.bad != 0 {
		t.Fatalf("%d notifications with a bad signature", ra.bad+rb.bad)
	}
}

func sawPeerConfig(r *receiver, peer string) bool {
	for _, n := range r.notes() {
		for _, p := range n.Peers {
			var c map[string]any
			_ = json.Unmarshal(p.Configuration, &c)
			if p.System == "globalAccounts/ga1/systems/"+peer && c["from"] == peer {
				return true
			}
		}
	}
	return false
}

// signedPost posts a status callback signed with secret.
func signedPost(t *testing.T, s *stacktest.Stack, url, secret, id string, at time.Time, body string, tamper bool) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	webhook.SetHeaders(req.Header, []string{secret}, id, at, []byte(body))
	if tamper {
		req.Body = io.NopCloser(strings.NewReader(strings.Replace(body, "READY", "ERROR", 1)))
		req.ContentLength = -1
	}
	res, err := s.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return res.StatusCode
}

// 202 then a signed callback: READY; a tampered body, a stale timestamp
// and a replayed id are 401.
func TestWebhookAsyncCallback(t *testing.T) {
	t.Parallel()
	s, a := webhookStack(t, stack.Webhooks{})
	r := newReceiver(t, statusAnswer(202))
	a.pairAndAssign("a", r, "ASYNC_CALLBACK", "f1")
	testkit.Eventually(t, 20*time.Second, "notification received", func() bool { return len(r.notes()) > 0 })
	url := r.notes()[0].StatusURL
	r.mu.Lock()
	secret := r.secret
	r.mu.Unlock()
	body := `{"state": "READY", "configuration": {"queue": "orders"}}`
	if c := signedPost(t, s, url, secret, "cb-1", time.Now(), body, true); c != 401 {
		t.Fatalf("tampered body: %d", c)
	}
	if c := signedPost(t, s, url, secret, "cb-2", time.Now().Add(-6*time.Minute), body, false); c != 401 {
		t.Fatalf("stale timestamp: %d", c)
	}
	if c := signedPost(t, s, url, "whsec_"+strings.Repeat("A", 44), "cb-3", time.Now(), body, false); c != 401 {
		t.Fatalf("wrong secret: %d", c)
	}
	if as := assignmentOf(a.formation("f1"), "a"); as["state"] != "SYNCHRONIZING" {
		t.Fatalf("before the callback: %v", as)
	}
	if c := signedPost(t, s, url, secret, "cb-4", time.Now(), body, false); c != 200 {
		t.Fatalf("good callback: %d", c)
	}
	as := a.waitAssignment("f1", "a", "READY")
	if c, _ := as["configuration"].(map[string]any); c["queue"] != "orders" {
		t.Fatalf("configuration = %v", as["configuration"])
	}
	if c := signedPost(t, s, url, secret, "cb-4", time.Now(), body, false); c != 401 {
		t.Fatalf("replayed id: %d", c)
	}
}

// 500 three times, then 200: READY after retries, all with one webhook-id.
func TestWebhookRetriesThenReady(t *testing.T) {
	t.Parallel()
	_, a := webhookStack(t, stack.Webhooks{})
	r := newReceiver(t, func(n int, _ delivery.Notification, _ string) (int, string) {
		if n <= 3 {
			return 500, ""
		}
		return 200, ""
	})
	a.pairAndAssign("a", r, "SYNC", "f1")
	a.waitAssignment("f1", "a", "READY")
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ids) != 4 {
		t.Fatalf("%d attempts, want 4", len(r.ids))
	}
	for _, id := range r.ids {
		if id != r.ids[0] {
			t.Fatalf("webhook-id changed across retries: %v", r.ids)
		}
	}
}

// 400: ERROR at once, no retry; resynchronize recovers it.
func TestWebhookRefusedThenResynchronized(t *testing.T) {
	t.Parallel()
	_, a := webhookStack(t, stack.Webhooks{})
	var mu sync.Mutex
	code := 400
	r := newReceiver(t, func(int, delivery.Notification, string) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		return code, ""
	})
	a.pairAndAssign("a", r, "SYNC", "f1")
	as := a.waitAssignment("f1", "a", "ERROR")
	if !strings.Contains(as["stateMessage"].(string), "400") {
		t.Fatalf("stateMessage = %v", as["stateMessage"])
	}
	if a.formation("f1")["state"] != "ERROR" {
		t.Fatal("formation not in ERROR")
	}
	if n := len(r.notes()); n != 1 {
		t.Fatalf("%d attempts after a 400, want 1", n)
	}
	mu.Lock()
	code = 200
	mu.Unlock()
	viewer := api{t: t, s: a.s, jwt: a.s.JWT("ga1", "system-landscape-viewer")}
	viewer.do("POST", "/v1/globalAccounts/ga1/formations/f1:resynchronize", map[string]any{}, 403)
	a.do("POST", "/v1/globalAccounts/ga1/formations/f1:resynchronize", map[string]any{}, 200)
	a.waitAssignment("f1", "a", "READY")
}

// 410: the webhook is disabled and the assignment is in ERROR; nothing is
// sent until a resynchronize enables it again.
func TestWebhookGoneDisables(t *testing.T) {
	t.Parallel()
	_, a := webhookStack(t, stack.Webhooks{})
	r := newReceiver(t, statusAnswer(410))
	a.pairAndAssign("a", r, "SYNC", "f1")
	as := a.waitAssignment("f1", "a", "ERROR")
	if !strings.Contains(as["stateMessage"].(string), "disabled") {
		t.Fatalf("stateMessage = %v", as["stateMessage"])
	}
	// Another formation: the disabled webhook is not called again.
	a.do("POST", "/v1/globalAccounts/ga1/formations?formationId=f2", map[string]any{
		"displayName": "F2", "formationType": "side-by-side-extensibility-with-kyma"}, 200)
	a.assign("f2", "a")
	a.waitAssignment("f2", "a", "ERROR")
	if n := len(r.notes()); n != 1 {
		t.Fatalf("a disabled webhook was called: %d requests", n)
	}
}

// A receiver that hangs past the timeout is retried; a 202 without a
// callback turns ERROR at the callback deadline.
func TestWebhookTimeoutAndCallbackDeadline(t *testing.T) {
	t.Parallel()
	_, a := webhookStack(t, stack.Webhooks{
		CallbackTimeout: 300 * time.Millisecond,
		Delivery:        delivery.Options{Timeout: 200 * time.Millisecond},
	})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := newReceiver(t, func(n int, _ delivery.Notification, _ string) (int, string) {
		if n == 1 {
			select {
			case <-release:
			case <-time.After(2 * time.Second):
			}
		}
		return 200, ""
	})
	async := newReceiver(t, statusAnswer(202))
	a.pairWithWebhook("hang", hang, "SYNC")
	a.pairWithWebhook("async", async, "ASYNC_CALLBACK")
	a.do("POST", "/v1/globalAccounts/ga1/formations?formationId=f2", map[string]any{
		"displayName": "F2", "formationType": "side-by-side-extensibility-with-kyma"}, 200)
	a.assign("f1", "hang")
	a.assign("f2", "async")
	a.waitAssignment("f1", "hang", "READY")
	if n := len(hang.notes()); n < 2 {
		t.Fatalf("the hanging receiver got %d requests; the timeout was not retried", n)
	}
	as := a.waitAssignment("f2", "async", "ERROR")
	if !strings.Contains(as["stateMessage"].(string), "no status report") {
		t.Fatalf("stateMessage = %v", as["stateMessage"])
	}
}

// The egress guard refuses a loopback webhook at pairing unless
// --webhook-allow-insecure.
func TestWebhookRegistrationGuard(t *testing.T) {
	t.Parallel()
	s := stacktest.StartHealthy(t, stacktest.Options{})
	a := api{t: t, s: s, jwt: s.AdminJWT("ga1")}
	reg := a.do("POST", "/v1/globalAccounts/ga1/systems?systemId=a", map[string]any{"displayName": "a", "type": "sap-s4hana-cloud"}, 200)
	tok := reg["integrationToken"].(map[string]any)["token"].(string)
	for _, u := range []string{"http://127.0.0.1:9/hook", "https://127.0.0.1/hook", "https://[::1]/hook", "https://10.1.2.3/", "https://169.254.169.254/latest"} {
		res := (api{t: t, s: s}).do("POST", "/v1/systems:pair", map[string]any{
			"integrationToken": tok, "systemType": "sap-s4hana-cloud", "baseUrl": "https://a.example.com", "externalId": "a",
			"webhook": map[string]any{"url": u, "mode": "SYNC"},
		}, 400)
		if !strings.Contains(fmt.Sprint(res["details"]), "webhook.url") {
			t.Fatalf("%s: %v", u, res)
		}
	}
	// The token was not used up by the refused calls.
	(api{t: t, s: s}).do("POST", "/v1/systems:pair", map[string]any{"integrationToken": tok, "systemType": "sap-s4hana-cloud", "baseUrl": "https://a.example.com", "externalId": "a"}, 200)
}

// assignmentChange is an assignment.state_changed event of sys, decoded.
type assignmentChange struct {
	ev    cloudevent.Event
	state string
}

func assignmentChanges(events *walkEvents, sys string) []assignmentChange {
	var out []assignmentChange
	for _, ev := range events.all() {
		if ev.Type != "landscape.formation.v1.AssignmentStateChanged" || !strings.HasSuffix(ev.Subject, "/assignments/"+sys) {
			continue
		}
		var data struct {
			Assignment struct {
				State string `json:"state"`
			} `json:"assignment"`
		}
		_ = json.Unmarshal(ev.Data, &data)
		out = append(out, assignmentChange{ev, data.Assignment.State})
	}
	return out
}

// The state changes that follow a system's answer (synchronous, 202 and
// callback, and a callback that never comes) are the formation service's
// own (actor service:formation) and name the event that made the
// notification as causedby: the assignment.created of the admin's call.
func TestWebhookOutcomeActorAndCause(t *testing.T) {
	t.Parallel()
	s, a := webhookStack(t, stack.Webhooks{CallbackTimeout: 2 * time.Second})
	events := walkWatch(t, s.JetStream)
	sync := newReceiver(t, configAnswer("sync"))
	async := newReceiver(t, statusAnswer(202))
	silent := newReceiver(t, statusAnswer(202))
	a.pairWithWebhook("sync", sync, "SYNC")
	a.pairWithWebhook("async", async, "ASYNC_CALLBACK")
	a.pairWithWebhook("silent", silent, "ASYNC_CALLBACK")
	a.do("POST", "/v1/globalAccounts/ga1/formations?formationId=f2", map[string]any{
		"displayName": "F2", "formationType": "side-by-side-extensibility-with-kyma"}, 200)
	a.do("POST", "/v1/globalAccounts/ga1/formations?formationId=f3", map[string]any{
		"displayName": "F3", "formationType": "side-by-side-extensibility-with-kyma"}, 200)
	a.assign("f1", "sync")
	a.assign("f2", "async")
	a.assign("f3", "silent")
	a.waitAssignment("f1", "sync", "READY")
	testkit.Eventually(t, 20*time.Second, "the async notification", func() bool { return len(async.notes()) > 0 })
	async.mu.Lock()
	secret := async.secret
	async.mu.Unlock()
	if c := signedPost(t, s, async.notes()[0].StatusURL, secret, "cb-actor", time.Now(), `{"state": "READY"}`, false); c != 200 {
		t.Fatalf("callback: %d", c)
	}
	a.waitAssignment("f2", "async", "READY")
	a.waitAssignment("f3", "silent", "ERROR")

	t.Cleanup(func() {
		if t.Failed() {
			for _, sys := range []string{"sync", "async", "silent"} {
				for _, ch := range assignmentChanges(events, sys) {
					t.Logf("%s: %s actor %s causedby %s", sys, ch.state, ch.ev.Actor, ch.ev.CausedBy)
				}
			}
		}
	})
	created := map[string]cloudevent.Event{}
	testkit.Eventually(t, 20*time.Second, "the events of the three answers", func() bool {
		for _, ev := range events.all() {
			if ev.Type == "landscape.formation.v1.AssignmentCreated" {
				created[ev.Subject[strings.LastIndexByte(ev.Subject, '/')+1:]] = ev
			}
		}
		last := func(sys, state string) bool {
			ch := assignmentChanges(events, sys)
			return len(ch) > 0 && ch[len(ch)-1].state == state
		}
		return len(created) == 3 && last("sync", "READY") && last("async", "READY") && last("silent", "ERROR")
	})
	user := "user:" + jwtSubject(t, a.jwt)
	for sys, want := range map[string]string{"sync": "READY", "async": "READY", "silent": "ERROR"} {
		if created[sys].Actor != user {
			t.Errorf("%s: assignment.created actor %q, want %q", sys, created[sys].Actor, user)
		}
		for _, ch := range assignmentChanges(events, sys) {
			if ch.state != want {
				continue
			}
			if ch.ev.Actor != "service:formation" || ch.ev.CausedBy != created[sys].ID {
				t.Errorf("%s → %s: actor %q causedby %q, want service:formation caused by the assignment.created %q",
					sys, want, ch.ev.Actor, ch.ev.CausedBy, created[sys].ID)
			}
		}
	}
}

// Rotating the webhook secret: the answer holds the new secret once (no
// read shows it again); notifications carry signatures under both
// secrets during the overlap, so a receiver that knows only the new one
// verifies them, and one that knows only an unrelated secret does not.
// A status callback signed with the new secret is accepted.
func TestWebhookRotateSecret(t *testing.T) {
	t.Parallel()
	s, a := webhookStack(t, stack.Webhooks{})
	r := newReceiver(t, configAnswer("a"))
	sys := a.pairWithWebhook("a", r, "SYNC")
	old := sys["webhookSecret"].(string)
	rot := a.do("POST", "/v1/globalAccounts/ga1/systems/a:rotateWebhookSecret", map[string]any{}, 200)
	fresh, _ := rot["webhookSecret"].(string)
	if !strings.HasPrefix(fresh, "whsec_") || fresh == old {
		t.Fatalf("rotate answered secret %q", fresh)
	}
	viewer := api{t: t, s: s, jwt: s.JWT("ga1", "system-landscape-viewer")}
	viewer.do("POST", "/v1/globalAccounts/ga1/systems/a:rotateWebhookSecret", map[string]any{}, 403)
	for _, path := range []string{"/v1/globalAccounts/ga1/systems/a", "/v1/globalAccounts/ga1/systems"} {
		b, _ := json.Marshal(a.do("GET", path, nil, 200))
		if strings.Contains(string(b), fresh) || strings.Contains(string(b), old) || strings.Contains(string(b), "whsec_") {
			t.Fatalf("GET %s shows a webhook secret", path)
		}
	}
	// The receiver knows only the new secret from now on.
	r.mu.Lock()
	r.secret = fresh
	r.mu.Unlock()
	a.assign("f1", "a")
	a.waitAssignment("f1", "a", "READY")
	if r.bad != 0 {
		t.Fatalf("%d notifications did not verify under the new secret", r.bad)
	}
	// An unrelated secret verifies nothing.
	var sig http.Header = http.Header{}
	body := []byte(`{}`)
	webhook.SetHeaders(sig, []string{fresh, old}, "msg_x", time.Now(), body)
	if err := webhook.VerifyRequest([]string{webhook.NewSecret()}, sig, body, time.Now()); err == nil {
		t.Fatal("an unrelated secret verifies a signature")
	}
	url := r.notes()[0].StatusURL
	if c := signedPost(t, s, url, webhook.NewSecret(), "cb-rot-x", time.Now(), `{"state": "READY"}`, false); c != 401 {
		t.Fatalf("callback under an unrelated secret: %d", c)
	}
	if c := signedPost(t, s, url, fresh, "cb-rot-1", time.Now(), `{"state": "READY"}`, false); c != 200 {
		t.Fatalf("callback under the new secret: %d", c)
	}
}
