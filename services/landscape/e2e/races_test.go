package e2e

// Races, through the gateway of the whole stack: of N
// concurrent requests that only one may win, exactly one wins and every
// other one gets the reason docs/API.md names, round after round.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// raceTarget is a stack and an admin JWT for the global account "race".
type raceTarget struct {
	st  *stacktest.Stack
	jwt string
	lb  *logbook
	pre string // /v1/globalAccounts/race
}

func newRaceTarget(t *testing.T) *raceTarget {
	t.Helper()
	lb := newLogbook(t)
	st := stacktest.Start(t, stacktest.Options{Logger: lb.Logger()})
	st.HTTP.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	r := &raceTarget{st: st, jwt: st.AdminJWT("race"), lb: lb, pre: st.BaseURL + "/v1/globalAccounts/race"}
	lb.keep(r.jwt)
	return r
}

func (r *raceTarget) call(t testing.TB, method, url, body string) httpResult {
	return httpCall(t, r.st.HTTP, method, url, r.jwt, body)
}

// register creates a system and returns its id and token secret.
func (r *raceTarget) register(t testing.TB, name, typ string) (id, token string) {
	t.Helper()
	res := r.call(t, "POST", r.pre+"/systems", `{"displayName":"`+name+`","type":"`+typ+`"}`)
	if res.Status != 200 {
		t.Fatalf("register %s: %d %s", name, res.Status, res.Body)
	}
	out, err := keepRegistration(r.lb, res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return out.System.Name[strings.LastIndex(out.System.Name, "/")+1:], out.IntegrationToken.Token
}

// race runs n requests at once (after one start signal) and returns
// their results.
func race(t testing.TB, n int, do func(i int) httpResult) []httpResult {
	out := make([]httpResult, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			out[i] = do(i)
		})
	}
	close(start)
	wg.Wait()
	return out
}

// exactlyOne checks that one result is 200 and every other one is
// loseStatus with loseReason; it returns the winner's index.
func exactlyOne(t testing.TB, what string, res []httpResult, loseStatus int, loseReason string) int {
	t.Helper()
	winner := -1
	for i, r := range res {
		switch {
		case r.Status == 200:
			if winner >= 0 {
				t.Fatalf("%s: requests %d and %d both won", what, winner, i)
			}
			winner = i
		case r.Status == loseStatus && r.Reason == loseReason:
		default:
			t.Fatalf("%s: request %d got %d %s, want 200 once and %d %s otherwise: %.200s", what, i, r.Status, r.Reason, loseStatus, loseReason, redactAll(string(r.Body)))
		}
	}
	if winner < 0 {
		t.Fatalf("%s: nobody won (%d requests)", what, len(res))
	}
	return winner
}

// raceCounts are logged at the end of each test for the figures.
func logRaces(t *testing.T, rounds, perRound int) {
	t.Logf("races: %d rounds x %d concurrent requests = %d requests, exactly one winner each round", rounds, perRound, rounds*perRound)
}

func TestRacePairOneToken(t *testing.T) {
	t.Parallel()
	r := newRaceTarget(t)
	const rounds, n = 20, 24
	for round := range rounds {
		id, tok := r.register(t, "pair race "+strconv.Itoa(round), "sap-cloud-for-customer")
		res := race(t, n, func(i int) httpResult {
			// Half pair, half report a failure: one credential, one use.
			if i%2 == 0 {
				return httpCall(t, r.st.HTTP, "POST", r.st.BaseURL+"/v1/systems:pair", "",
					`{"integrationToken":"`+tok+`","systemType":"sap-cloud-for-customer","baseUrl":"https://c4c.example.com","externalId":"x"}`)
			}
			return httpCall(t, r.st.HTTP, "POST", r.st.BaseURL+"/v1/systems:reportPairingFailure", "",
				`{"integrationToken":"`+tok+`","message":"round `+strconv.Itoa(round)+`"}`)
		})
		w := exactlyOne(t, "round "+strconv.Itoa(round)+" pairing", res, 401, "TOKEN_ALREADY_USED")
		wantState := map[bool]string{true: "REGISTERED", false: "ERROR"}[w%2 == 0]
		got := r.call(t, "GET", r.pre+"/systems/"+id, "")
		if !strings.Contains(string(got.Body), `"state":"`+wantState+`"`) {
			t.Fatalf("round %d: winner %d, system %s", round, w, got.Body)
		}
	}
	logRaces(t, rounds, n)
}

func TestRaceDisplayName(t *testing.T) {
	t.Parallel()
	r := newRaceTarget(t)
	const rounds, n = 12, 16
	for round := range rounds {
		name := "Name Race " + strconv.Itoa(round)
		res := race(t, n, func(i int) httpResult {
			dn := name
			if i%2 == 1 {
				dn = strings.ToLower(name) // unique case-insensitively
			}
			return r.call(t, "POST", r.pre+"/systems", `{"displayName":"`+dn+`","type":"sap-successfactors"}`)
		})
		exactlyOne(t, "round "+strconv.Itoa(round)+" system name", res, 409, "SYSTEM_NAME_TAKEN")
		for _, x := range res {
			if x.Status == 200 {
				_, _ = keepRegistration(r.lb, x.Body)
			}
		}
		res = race(t, n, func(i int) httpResult {
			return r.call(t, "POST", r.pre+"/formations", `{"displayName":"`+name+`","formationType":"eventing-between-sap-cloud-systems"}`)
		})
		exactlyOne(t, "round "+strconv.Itoa(round)+" formation name", res, 409, "FORMATION_NAME_TAKEN")
		res = race(t, n, func(i int) httpResult {
			return r.call(t, "POST", r.pre+"/systems?systemId=id-race-"+strconv.Itoa(round),
				fmt.Sprintf(`{"displayName":"id race %d %d","type":"sap-successfactors"}`, round, i))
		})
		exactlyOne(t, "round "+strconv.Itoa(round)+" system id", res, 409, "SYSTEM_ID_TAKEN")
	}
	// Exactly rounds systems of each kind exist.
	list := r.call(t, "GET", r.pre+"/systems?pageSize=1000", "")
	if got := strings.Count(string(list.Body), `"name":"globalAccounts/race/systems/`); got != 2*rounds {
		t.Fatalf("%d systems after the races, want %d", got, 2*rounds)
	}
	logRaces(t, 3*rounds, n)
}

func TestRaceETag(t *testing.T) {
	t.Parallel()
	r := newRaceTarget(t)
	const rounds, n = 20, 16
	id, _ := r.register(t, "etag race", "sap-successfactors")
	if res := r.call(t, "POST", r.pre+"/formations?formationId=etag-race", `{"displayName":"etag race","formationType":"eventing-between-sap-cloud-systems"}`); res.Status != 200 {
		t.Fatalf("formation: %d %s", res.Status, res.Body)
	}
	for round := range rounds {
		etag := strconv.Itoa(round + 1)
		res := race(t, n, func(i int) httpResult {
			return r.call(t, "PATCH", r.pre+"/systems/"+id+"?updateMask=description",
				fmt.Sprintf(`{"description":"round %d writer %d","etag":"%s"}`, round, i, etag))
		})
		w := exactlyOne(t, "round "+strconv.Itoa(round)+" system etag", res, 409, "ETAG_MISMATCH")
		got := r.call(t, "GET", r.pre+"/systems/"+id, "")
		if !strings.Contains(string(got.Body), fmt.Sprintf(`"description":"round %d writer %d"`, round, w)) ||
			!strings.Contains(string(got.Body), `"etag":"`+strconv.Itoa(round+2)+`"`) {
			t.Fatalf("round %d: winner %d, system %s", round, w, got.Body)
		}
		res = race(t, n, func(i int) httpResult {
			return r.call(t, "PATCH", r.pre+"/formations/etag-race?updateMask=displayName",
				fmt.Sprintf(`{"displayName":"etag race %d-%d","etag":"%s"}`, round, i, etag))
		})
		exactlyOne(t, "round "+strconv.Itoa(round)+" formation etag", res, 409, "ETAG_MISMATCH")
	}
	logRaces(t, 2*rounds, n)
}

func TestRaceExclusiveAssignment(t *testing.T) {
	t.Parallel()
	r := newRaceTarget(t)
	const rounds, formations = 20, 8
	for i := range formations {
		if res := r.call(t, "POST", r.pre+"/formations?formationId=ex-"+strconv.Itoa(i),
			`{"displayName":"exclusive `+strconv.Itoa(i)+`","formationType":"eventing-between-sap-cloud-systems"}`); res.Status != 200 {
			t.Fatalf("formation: %d %s", res.Status, res.Body)
		}
	}
	if res := r.call(t, "POST", r.pre+"/formations?formationId=kyma", `{"displayName":"kyma","formationType":"side-by-side-extensibility-with-kyma"}`); res.Status != 200 {
		t.Fatalf("formation: %d %s", res.Status, res.Body)
	}
	for round := range rounds {
		// Commerce Cloud may join before pairing (docs/API.md, "System types").
		id, _ := r.register(t, "exclusive race "+strconv.Itoa(round), "sap-commerce-cloud")
		sys := `{"system":"globalAccounts/race/systems/` + id + `"}`
		res := race(t, formations, func(i int) httpResult {
			return r.call(t, "POST", r.pre+"/formations/ex-"+strconv.Itoa(i)+":assignSystem", sys)
		})
		w := exactlyOne(t, "round "+strconv.Itoa(round)+" exclusive formations", res, 400, "SYSTEM_IN_EXCLUSIVE_FORMATION")
		// The same system into one (non-exclusive) formation many times.
		res2 := race(t, 8, func(int) httpResult {
			return r.call(t, "POST", r.pre+"/formations/kyma:assignSystem", sys)
		})
		exactlyOne(t, "round "+strconv.Itoa(round)+" same assignment", res2, 409, "SYSTEM_ALREADY_ASSIGNED")
		// The winner's formation holds the system; no other one does.
		for i := range formations {
			got := r.call(t, "GET", r.pre+"/formations/ex-"+strconv.Itoa(i), "")
			has := strings.Contains(string(got.Body), `"system":"globalAccounts/race/systems/`+id+`"`)
			if has != (i == w) {
				t.Fatalf("round %d: formation ex-%d holds the system: %v (winner ex-%d)", round, i, has, w)
			}
		}
	}
	logRaces(t, 2*rounds, formations)
}

// TestRaceGetToken: concurrent Get Token calls on one system leave exactly
// one usable token among all that were issued (each call revokes every
// earlier unused token).
func TestRaceGetToken(t *testing.T) {
	t.Parallel()
	r := newRaceTarget(t)
	const rounds, n = 10, 12
	for round := range rounds {
		id, first := r.register(t, "get token race "+strconv.Itoa(round), "sap-s4hana-cloud")
		res := race(t, n, func(int) httpResult {
			return r.call(t, "POST", r.pre+"/systems/"+id+":generateIntegrationToken", `{}`)
		})
		tokens := []string{first}
		for i, x := range res {
			if x.Status != 200 {
				t.Fatalf("round %d: Get Token %d: %d %s", round, i, x.Status, x.Body)
			}
			var out struct{ Token string }
			_ = json.Unmarshal(x.Body, &out)
			r.lb.keep(out.Token)
			tokens = append(tokens, out.Token)
		}
		// Present each token with a wrong type: a live token is used up
		// (SYSTEM_TYPE_MISMATCH), a revoked one says TOKEN_REVOKED.
		live := 0
		for _, tok := range tokens {
			x := httpCall(t, r.st.HTTP, "POST", r.st.BaseURL+"/v1/systems:pair", "",
				`{"integrationToken":"`+tok+`","systemType":"sap-marketing-cloud","baseUrl":"https://x.example.com"}`)
			switch x.Reason {
			case "TOKEN_REVOKED":
			case "SYSTEM_TYPE_MISMATCH":
				live++
			default:
				t.Fatalf("round %d: token presented: %d %s", round, x.Status, x.Body)
			}
		}
		if live != 1 {
			t.Fatalf("round %d: %d of %d tokens still usable after %d concurrent Get Token calls, want 1", round, live, len(tokens), n)
		}
	}
	logRaces(t, rounds, n)
}
