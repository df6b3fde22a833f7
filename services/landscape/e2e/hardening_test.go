package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/subscriber"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/formation"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// hardeningCall sends one request to the stack's gateway.
func hardeningCall(t *testing.T, s *stacktest.Stack, method, path, jwt, body string) httpResult {
	t.Helper()
	return httpCall(t, s.HTTP, method, s.BaseURL+path, jwt, body)
}

// wantStatus fails t unless r has the HTTP status and reason.
func wantStatus(t *testing.T, step string, r httpResult, status int, reason string) {
	t.Helper()
	if r.Status != status || (reason != "" && r.Reason != reason) {
		t.Fatalf("%s: HTTP %d %s, want %d %s: %.400s", step, r.Status, r.Reason, status, reason, r.Body)
	}
}

// hardeningRegister registers system id of type typ in ga and returns its
// integration token.
func hardeningRegister(t *testing.T, s *stacktest.Stack, jwt, ga, id, displayName, typ string) string {
	t.Helper()
	r := hardeningCall(t, s, "POST", "/v1/globalAccounts/"+ga+"/systems?systemId="+id, jwt, `{"displayName":"`+displayName+`","type":"`+typ+`"}`)
	wantStatus(t, "register "+id, r, 200, "")
	var reg registration
	if err := json.Unmarshal(r.Body, &reg); err != nil {
		t.Fatal(err)
	}
	return reg.IntegrationToken.Token
}

// TestInputHygiene: credentials in a base URL, control and bidirectional
// formatting characters in free text, and look-alike display names, each
// through the gateway of a real stack.
func TestInputHygiene(t *testing.T) {
	t.Parallel()
	s := stacktest.StartHealthy(t, stacktest.Options{})
	jwt := s.AdminJWT("hyg")

	token := hardeningRegister(t, s, jwt, "hyg", "sf", "SF prod", "sap-successfactors")

	t.Run("base URL with user information is refused, the token is not used up", func(t *testing.T) {
		for _, u := range []string{"https://admin:secret@sf.example.com", "https://admin@sf.example.com/x"} {
			r := hardeningCall(t, s, "POST", "/v1/systems:pair", "",
				`{"integrationToken":"`+token+`","systemType":"sap-successfactors","baseUrl":"`+u+`"}`)
			wantStatus(t, "pair with "+u, r, 400, "INVALID_ARGUMENT")
			if !strings.Contains(string(r.Body), `"baseUrl"`) || strings.Contains(string(r.Body), "secret") {
				t.Errorf("pair with %s: the refusal does not name baseUrl or echoes the password: %s", u, r.Body)
			}
		}
	})

	t.Run("control and bidirectional characters in a description are refused", func(t *testing.T) {
		for _, d := range []string{`a\u0000b`, `a\u001b[2Jb`, `line\nbreak`, `invoice\u202efdp.exe`, `a\u2066b`} {
			r := hardeningCall(t, s, "PATCH", "/v1/globalAccounts/hyg/systems/sf", jwt, `{"description":"`+d+`"}`)
			wantStatus(t, "description "+d, r, 400, "INVALID_ARGUMENT")
			if !strings.Contains(string(r.Body), `"description"`) {
				t.Errorf("description %s: the refusal does not name the field: %s", d, r.Body)
			}
			r = hardeningCall(t, s, "POST", "/v1/globalAccounts/hyg/systems", jwt, `{"displayName":"Other","type":"sap-successfactors","description":"`+d+`"}`)
			wantStatus(t, "register with description "+d, r, 400, "INVALID_ARGUMENT")
		}
	})

	t.Run("look-alike display names collide", func(t *testing.T) {
		for _, name := range []string{`SF pr\u043ed`, `\uff33\uff26 prod`, `sf PR\u039fD`} {
			r := hardeningCall(t, s, "POST", "/v1/globalAccounts/hyg/systems", jwt, `{"displayName":"`+name+`","type":"sap-successfactors"}`)
			wantStatus(t, "register "+name, r, 409, "SYSTEM_NAME_TAKEN")
		}
		r := hardeningCall(t, s, "POST", "/v1/globalAccounts/hyg/formations", jwt, `{"displayName":"Extensions","formationType":"eventing-between-sap-cloud-systems"}`)
		wantStatus(t, "create formation", r, 200, "")
		r = hardeningCall(t, s, "POST", "/v1/globalAccounts/hyg/formations", jwt, `{"displayName":"\u0415xtensions","formationType":"eventing-between-sap-cloud-systems"}`)
		wantStatus(t, "create look-alike formation", r, 409, "FORMATION_NAME_TAKEN")
	})

	t.Run("a reported failure message loses its control and bidirectional characters", func(t *testing.T) {
		r := hardeningCall(t, s, "POST", "/v1/systems:reportPairingFailure", "",
			`{"integrationToken":"`+token+`","message":"bad\u0000cert\nfake log line \u001b[31m\u202eexe"}`)
		wantStatus(t, "report failure", r, 200, "")
		var sys struct {
			State        string `json:"state"`
			StateMessage string `json:"stateMessage"`
		}
		if err := json.Unmarshal(r.Body, &sys); err != nil {
			t.Fatal(err)
		}
		if sys.State != "ERROR" || sys.StateMessage != "bad cert fake log line  [31mexe" {
			t.Errorf("state %s, stateMessage %q", sys.State, sys.StateMessage)
		}
		r = hardeningCall(t, s, "GET", "/v1/globalAccounts/hyg/systems/sf", jwt, "")
		wantStatus(t, "get", r, http.StatusOK, "")
		if strings.ContainsAny(string(r.Body), "\x00\x1b\u202e") || strings.Contains(string(r.Body), `\u0000`) || strings.Contains(string(r.Body), `\n`) {
			t.Errorf("stored message keeps control characters: %s", r.Body)
		}
	})
}

// TestUnauthenticatedReplayTellsOnlyTheReason: whoever presents a used,
// revoked or unknown integration token has no JWT; the refusal names the
// reason and nothing of the token's global account or system, over REST
// and over gRPC.
func TestUnauthenticatedReplayTellsOnlyTheReason(t *testing.T) {
	t.Parallel()
	s := stacktest.StartHealthy(t, stacktest.Options{})
	jwt := s.AdminJWT("secretco")

	used := hardeningRegister(t, s, jwt, "secretco", "hidden-prod", "hidden-prod", "sap-successfactors")
	pair := `{"integrationToken":"` + used + `","systemType":"sap-successfactors","baseUrl":"https://sf.example.com"}`
	wantStatus(t, "pair", hardeningCall(t, s, "POST", "/v1/systems:pair", "", pair), 200, "")
	revoked := hardeningRegister(t, s, jwt, "secretco", "hidden-test", "hidden-test", "sap-successfactors")
	wantStatus(t, "get token", hardeningCall(t, s, "POST", "/v1/globalAccounts/secretco/systems/hidden-test:generateIntegrationToken", jwt, `{}`), 200, "")

	leaks := func(b string) bool {
		return strings.Contains(b, "secretco") || strings.Contains(b, "hidden-") || strings.Contains(b, "integrationTokens/")
	}
	for _, tc := range []struct{ token, reason string }{{used, "TOKEN_ALREADY_USED"}, {revoked, "TOKEN_REVOKED"}} {
		r := hardeningCall(t, s, "POST", "/v1/systems:pair", "", `{"integrationToken":"`+tc.token+`","systemType":"sap-successfactors","baseUrl":"https://sf.example.com"}`)
		wantStatus(t, "replay pair", r, 401, tc.reason)
		if leaks(string(r.Body)) {
			t.Errorf("pair with a %s token names its owner: %s", tc.reason, r.Body)
		}
		r = hardeningCall(t, s, "POST", "/v1/systems:reportPairingFailure", "", `{"integrationToken":"`+tc.token+`","message":"x"}`)
		wantStatus(t, "replay report", r, 401, tc.reason)
		if leaks(string(r.Body)) {
			t.Errorf("report with a %s token names its owner: %s", tc.reason, r.Body)
		}
		_, err := s.Registry.PairSystem(t.Context(), &registryv1.PairSystemRequest{
			IntegrationToken: tc.token, SystemType: "sap-successfactors", BaseUrl: "https://sf.example.com",
		})
		st := grpcserver.Status(err)
		info := grpcserver.ErrorInfo(st)
		if info.GetReason() != tc.reason || len(info.GetMetadata()) != 0 || leaks(st.Message()) {
			t.Errorf("gRPC pair with a %s token: %v, metadata %v", tc.reason, err, info.GetMetadata())
		}
	}
}

// TestQuotasPerGlobalAccount: a global account holds at most its quota of
// systems and of formations, also when many create at once; the next one
// is 429 QUOTA_EXCEEDED, and deleting one makes room again. Another global
// account has its own quota.
func TestQuotasPerGlobalAccount(t *testing.T) {
	t.Parallel()
	s := stacktest.StartHealthy(t, stacktest.Options{MaxSystems: 3, MaxFormations: 2})
	jwt := s.AdminJWT("quota")

	for _, tc := range []struct {
		collection, body string
		quota            int
	}{
		{"systems", `{"displayName":"S %d","type":"sap-successfactors"}`, 3},
		{"formations", `{"displayName":"F %d","formationType":"eventing-between-sap-cloud-systems"}`, 2},
	} {
		var mu sync.Mutex
		codes := map[int]int{}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				r := hardeningCall(t, s, "POST", "/v1/globalAccounts/quota/"+tc.collection, jwt, fmt.Sprintf(tc.body, i))
				if r.Status == 429 && r.Reason != "QUOTA_EXCEEDED" {
					t.Errorf("%s: 429 with reason %s", tc.collection, r.Reason)
				}
				mu.Lock()
				codes[r.Status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if codes[200] != tc.quota || codes[429] != 8-tc.quota {
			t.Fatalf("%s: 8 concurrent creates with quota %d answered %v", tc.collection, tc.quota, codes)
		}
		r := hardeningCall(t, s, "GET", "/v1/globalAccounts/quota/"+tc.collection, jwt, "")
		var list map[string][]struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(r.Body, &list); err != nil || len(list[tc.collection]) != tc.quota {
			t.Fatalf("%s: list %v: %s", tc.collection, err, r.Body)
		}
		victim := strings.TrimPrefix(list[tc.collection][0].Name, "globalAccounts/quota/"+tc.collection+"/")
		wantStatus(t, "delete one", hardeningCall(t, s, "DELETE", "/v1/globalAccounts/quota/"+tc.collection+"/"+victim, jwt, ""), 200, "")
		wantStatus(t, "create after delete", hardeningCall(t, s, "POST", "/v1/globalAccounts/quota/"+tc.collection, jwt, fmt.Sprintf(tc.body, 100)), 200, "")
		wantStatus(t, "create over quota", hardeningCall(t, s, "POST", "/v1/globalAccounts/quota/"+tc.collection, jwt, fmt.Sprintf(tc.body, 101)), 429, "QUOTA_EXCEEDED")
		if tc.collection == "systems" { // the request id takes a place in the atomic step
			wantStatus(t, "create over quota with a request id", hardeningCall(t, s, "POST", "/v1/globalAccounts/quota/systems?requestId=over-1", jwt, fmt.Sprintf(tc.body, 102)), 429, "QUOTA_EXCEEDED")
		}
		wantStatus(t, "another global account", hardeningCall(t, s, "POST", "/v1/globalAccounts/other/"+tc.collection, s.AdminJWT("other"), fmt.Sprintf(tc.body, 1)), 200, "")
	}
}

// TestForgedRegistryEventsAreRefused publishes registry events that the
// registry never sent straight onto NATS (the embedded test server takes
// any publish): one with a revision near 2^63, one whose global account
// contradicts its subject, one whose payload names another system. None is
// applied: each lands on the dead-letter stream, the assignment keeps its
// state, and the genuine pairing afterwards still turns it READY (the
// forged revision did not make it look stale).
func TestForgedRegistryEventsAreRefused(t *testing.T) {
	t.Parallel()
	s := stacktest.StartHealthy(t, stacktest.Options{})
	jwt := s.AdminJWT("forge")

	token := hardeningRegister(t, s, jwt, "forge", "c4c", "C4C", "sap-cloud-for-customer")
	wantStatus(t, "create formation", hardeningCall(t, s, "POST", "/v1/globalAccounts/forge/formations?formationId=f1", jwt,
		`{"displayName":"F1","formationType":"side-by-side-extensibility-with-kyma"}`), 200, "")
	wantStatus(t, "assign", hardeningCall(t, s, "POST", "/v1/globalAccounts/forge/formations/f1:assignSystem", jwt,
		`{"system":"globalAccounts/forge/systems/c4c"}`), 200, "")
	assignmentState := func() string {
		r := hardeningCall(t, s, "GET", "/v1/globalAccounts/forge/formations/f1", jwt, "")
		var f struct {
			Assignments []struct {
				State string `json:"state"`
			} `json:"assignments"`
		}
		if err := json.Unmarshal(r.Body, &f); err != nil || len(f.Assignments) != 1 {
			t.Fatalf("formation: %v %s", err, r.Body)
		}
		return f.Assignments[0].State
	}
	if st := assignmentState(); st != "PENDING" {
		t.Fatalf("assignment %s before pairing, want PENDING", st)
	}

	forge := func(natsGA, eventGA, subject string, p *registryv1.SystemRegistrationFailed) {
		t.Helper()
		msg, err := cloudevent.New(cloudevent.Spec{Context: "registry", Name: "system.registration_failed"}, eventGA, subject, p, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		natsSubject := "landscape.registry." + natsGA + ".system.registration_failed"
		if _, err := s.JetStream.PublishMsg(t.Context(), &nats.Msg{Subject: natsSubject, Data: msg.Body,
			Header: nats.Header{"Nats-Msg-Id": []string{msg.ID}}}); err != nil {
			t.Fatal(err)
		}
	}
	victim := "globalAccounts/forge/systems/c4c"
	sys := &registryv1.System{Name: victim, Type: "sap-cloud-for-customer", State: registryv1.System_ERROR}
	forge("forge", "forge", victim, &registryv1.SystemRegistrationFailed{Revision: 9000000000000000000, System: sys})
	forge("other", "forge", victim, &registryv1.SystemRegistrationFailed{Revision: 2, System: sys})
	forge("forge", "forge", "globalAccounts/forge/systems/x", &registryv1.SystemRegistrationFailed{Revision: 2, System: sys})

	dead := 0
	testkit.Eventually(t, 15*time.Second, "three forged events dead-lettered", func() bool {
		info, err := s.JetStream.Stream(t.Context(), natsconn.DeadLetterStream("formation"))
		if err != nil {
			return false
		}
		st, err := info.Info(t.Context(), jetstream.WithSubjectFilter(natsconn.DeadLetterSubject("formation", formation.ReactionsDurable)))
		if err != nil {
			return false
		}
		// State.Msgs counts every durable's dead letters (the audit
		// trail's consumer refuses the mismatched account too); the
		// subject filter fills State.Subjects.
		dead = int(st.State.Subjects[natsconn.DeadLetterSubject("formation", formation.ReactionsDurable)])
		return dead >= 3
	})
	if dead != 3 {
		t.Errorf("%d dead letters, want 3:%s", dead, deadLetters(t, s))
	}
	if st := assignmentState(); st != "PENDING" {
		t.Fatalf("assignment %s after forged events, want PENDING", st)
	}
	wantStatus(t, "pair", hardeningCall(t, s, "POST", "/v1/systems:pair", "",
		`{"integrationToken":"`+token+`","systemType":"sap-cloud-for-customer","baseUrl":"https://c4c.example.com"}`), 200, "")
	testkit.Eventually(t, 15*time.Second, "assignment READY after the genuine pairing", func() bool {
		return assignmentState() == "READY"
	})
}

// deadLetters lists the dead-letter stream's messages (subject, original
// subject, error) for a failure message.
func deadLetters(t *testing.T, s *stacktest.Stack) string {
	t.Helper()
	st, err := s.JetStream.Stream(t.Context(), natsconn.DeadLetterStream("formation"))
	if err != nil {
		return err.Error()
	}
	info, err := st.Info(t.Context())
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(t.Context(), seq)
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "\n  %s from %s: %s", m.Subject, m.Header.Get(subscriber.HeaderOriginalSubject), m.Header.Get(subscriber.HeaderError))
	}
	return b.String()
}
