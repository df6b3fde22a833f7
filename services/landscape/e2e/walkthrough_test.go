package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/landscape/stack"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// walkTarget is a running landscape the walkthrough talks to.
type walkTarget struct {
	baseURL string
	jwt     string
	js      jetstream.JetStream
}

// TestWalkthrough runs the README walkthrough over HTTP, call by call, the
// way a newcomer pastes it: against the stack on real Redis (stacktest),
// and against what `landscape dev` runs by default (in-memory store,
// embedded NATS).
func TestWalkthrough(t *testing.T) {
	t.Parallel()
	t.Run("real-redis", func(t *testing.T) {
		t.Parallel()
		s := stacktest.StartHealthy(t, stacktest.Options{})
		runWalkthrough(t, walkTarget{baseURL: s.BaseURL, jwt: s.AdminJWT("dev"), js: s.JetStream})
	})
	t.Run("dev-defaults", func(t *testing.T) {
		t.Parallel()
		const secret = "walkthrough-dev-secret"
		st, err := stack.Start(context.Background(), stack.Config{
			JWTHS256Secret: secret,
			NATSPort:       -1, // the machine's NATS may hold 4222
			DataDir:        t.TempDir(),
			PairRateLimit:  20,
			PairRateBurst:  100,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		if !st.EmbeddedRedis || !st.EmbeddedNATS {
			t.Fatalf("dev defaults: embedded redis=%v nats=%v", st.EmbeddedRedis, st.EmbeddedNATS)
		}
		jwt, err := authn.MintHS256(secret, "dev-admin", "dev", []string{string(authn.RoleGlobalAccountAdmin)}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		waitHealthz(t, st.GatewayURL(), http.StatusOK, 15*time.Second)
		runWalkthrough(t, walkTarget{baseURL: st.GatewayURL(), jwt: jwt, js: st.JetStream})
	})
}

func runWalkthrough(t *testing.T, w walkTarget) {
	// Watch the events from the start, as `landscape events` does.
	events := walkWatch(t, w.js)

	// 1. List the system types.
	code, body := walkCall(t, w, "GET", "/v1/systemTypes", "", true)
	walkWant(t, "list system types", code, 200, body)
	if !strings.Contains(string(body), `"name":"systemTypes/sap-successfactors"`) {
		t.Fatalf("system types lack sap-successfactors: %s", body)
	}

	// 2. Register a SuccessFactors system; the response holds its token.
	code, body = walkCall(t, w, "POST", "/v1/globalAccounts/dev/systems?systemId=sf-prod",
		`{"displayName": "SF prod", "type": "sap-successfactors", "description": "SuccessFactors production"}`, true)
	walkWant(t, "register system", code, 200, body)
	var reg struct {
		System struct {
			Name, State string
		} `json:"system"`
		IntegrationToken struct {
			Name, Token, ExpireTime string
		} `json:"integrationToken"`
	}
	walkDecode(t, body, &reg)
	if reg.System.Name != "globalAccounts/dev/systems/sf-prod" || reg.System.State != "PENDING" {
		t.Fatalf("registered system: %s", body)
	}
	if !strings.HasPrefix(reg.IntegrationToken.Token, "lsit_") || len(reg.IntegrationToken.Token) != 54 {
		t.Fatalf("integration token: %+v", reg.IntegrationToken.Name)
	}

	// 3. Pair it as the SuccessFactors side would: no JWT, the token is the credential.
	pair, _ := json.Marshal(map[string]string{
		"integrationToken": reg.IntegrationToken.Token,
		"systemType":       "sap-successfactors",
		"baseUrl":          "https://sf-prod.example.com",
		"externalId":       "sf-tenant-4711",
	})
	code, body = walkCall(t, w, "POST", "/v1/systems:pair", string(pair), false)
	walkWant(t, "pair system", code, 200, body)
	var sys struct {
		Name, State, BaseURL string
		Formations           []string
	}
	walkDecode(t, body, &sys)
	if sys.State != "REGISTERED" {
		t.Fatalf("paired system: %s", body)
	}
	// The token is single-use.
	code, body = walkCall(t, w, "POST", "/v1/systems:pair", string(pair), false)
	walkWant(t, "pair again", code, 401, body)

	// 4. Create a formation (Kyma extensibility: SuccessFactors supports KYMA).
	code, body = walkCall(t, w, "POST", "/v1/globalAccounts/dev/formations?formationId=extensions",
		`{"displayName": "Extensions", "formationType": "side-by-side-extensibility-with-kyma"}`, true)
	walkWant(t, "create formation", code, 200, body)
	var form struct {
		Name, State, Environment, FormationType string
		Assignments                             []struct{ System, SystemType, State string }
	}
	walkDecode(t, body, &form)
	if form.Name != "globalAccounts/dev/formations/extensions" || form.Environment != "KYMA" {
		t.Fatalf("created formation: %s", body)
	}

	// 5. Assign the system.
	code, body = walkCall(t, w, "POST", "/v1/globalAccounts/dev/formations/extensions:assignSystem",
		`{"system": "globalAccounts/dev/systems/sf-prod"}`, true)
	walkWant(t, "assign system", code, 200, body)

	// 6. Get the formation: the assignment is READY (the system is paired).
	code, body = walkCall(t, w, "GET", "/v1/globalAccounts/dev/formations/extensions", "", true)
	walkWant(t, "get formation", code, 200, body)
	form.Assignments = nil
	walkDecode(t, body, &form)
	if form.State != "READY" || len(form.Assignments) != 1 || form.Assignments[0].State != "READY" ||
		form.Assignments[0].System != "globalAccounts/dev/systems/sf-prod" {
		t.Fatalf("formation after assign: %s", body)
	}

	// 7. The system learns its formation from the formation's events.
	testkit.Eventually(t, 10*time.Second, "the system lists its formation", func() bool {
		code, body = walkCall(t, w, "GET", "/v1/globalAccounts/dev/systems/sf-prod", "", true)
		sys.Formations = nil
		_ = json.Unmarshal(body, &sys)
		return code == 200 && slices.Contains(sys.Formations, "globalAccounts/dev/formations/extensions")
	})

	// 8. Watch the events.
	want := []string{
		"landscape.registry.dev.system.created",
		"landscape.token.dev.token.issued",
		"landscape.token.dev.token.consumed",
		"landscape.registry.dev.system.registered",
		"landscape.formation.dev.formation.created",
		"landscape.formation.dev.assignment.created",
	}
	testkit.Eventually(t, 10*time.Second, "the walkthrough's events on the streams", func() bool {
		got := events.subjects()
		for _, s := range want {
			if !slices.Contains(got, s) {
				return false
			}
		}
		return true
	})
	for _, ev := range events.all() {
		if strings.Contains(string(ev.Data), "lsit_") {
			t.Errorf("event %s carries a token: %s", ev.Type, ev.Data)
		}
	}
	checkWalkthroughActors(t, events, w.jwt, reg.IntegrationToken.Name, reg.IntegrationToken.Token)
}

// walkEvents collects the events of every Landscape stream.
type walkEvents struct {
	mu     sync.Mutex
	subj   []string
	evs    []cloudevent.Event
	bodies [][]byte
}

func (w *walkEvents) raw() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.bodies)
}

func (w *walkEvents) subjects() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.subj)
}

func (w *walkEvents) all() []cloudevent.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.evs)
}

// walkWatch reads every stream from its start with ordered consumers,
// retrying until each stream exists (the services create them at start).
func walkWatch(t *testing.T, js jetstream.JetStream) *walkEvents {
	t.Helper()
	w := &walkEvents{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, c := range []string{"registry", "token", "formation"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			retryWait := func() {
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
			}
			for ctx.Err() == nil {
				cons, err := js.OrderedConsumer(ctx, cloudevent.StreamName(c), jetstream.OrderedConsumerConfig{})
				if err != nil {
					retryWait()
					continue
				}
				cc, err := cons.Consume(func(m jetstream.Msg) {
					ev, err := cloudevent.Decode(m.Data())
					w.mu.Lock()
					defer w.mu.Unlock()
					w.subj = append(w.subj, m.Subject())
					w.bodies = append(w.bodies, m.Data())
					if err == nil {
						w.evs = append(w.evs, ev)
					}
				})
				if err != nil {
					retryWait()
					continue
				}
				<-ctx.Done()
				cc.Stop()
				return
			}
		}()
	}
	return w
}

var walkClient = &http.Client{Timeout: 15 * time.Second}

// walkCall is one curl of the walkthrough.
func walkCall(t *testing.T, w walkTarget, method, path, body string, withJWT bool) (int, []byte) {
	t.Helper()
	jwt := ""
	if withJWT {
		jwt = w.jwt
	}
	r := httpCall(t, walkClient, method, w.baseURL+path, jwt, body)
	return r.Status, r.Body
}

func walkWant(t *testing.T, step string, got, want int, body []byte) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: HTTP %d, want %d: %s", step, got, want, body)
	}
}

func walkDecode(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}
