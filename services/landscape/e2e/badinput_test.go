package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// TestBadInputIsAlways4xx sends bad input to every route of DESIGN 2.2
// through the gateway of a real stack: malformed JSON, unknown fields,
// wrong types, a 5 MB body, negative or huge pageSize, odd characters in
// ids, broken filters and masks. Every answer must be a 4xx with the JSON
// status body and a reason; never a 5xx, never a hang (the client has a
// deadline).
func TestBadInputIsAlways4xx(t *testing.T) {
	t.Parallel()
	s := stacktest.Start(t, stacktest.Options{})
	s.WaitHealthy()
	w := walkTarget{baseURL: s.BaseURL, jwt: s.AdminJWT("bad")}

	// A system and a formation to aim at.
	code, body := walkCall(t, w, "POST", "/v1/globalAccounts/bad/systems?systemId=s1", `{"displayName":"S1","type":"sap-commerce-cloud"}`, true)
	walkWant(t, "register", code, 200, body)
	code, body = walkCall(t, w, "POST", "/v1/globalAccounts/bad/formations?formationId=f1", `{"displayName":"F1","formationType":"eventing-between-sap-cloud-systems"}`, true)
	walkWant(t, "create formation", code, 200, body)

	big := `{"displayName":"` + strings.Repeat("x", 5<<20) + `"}`
	bodies := []string{`{"displayName":`, `{"nope":1}`, `[1]`, `"str"`, `{"displayName":5}`, `{"displayName":{"a":1}}`,
		`{"system":5}`, `{"integrationToken":["a"]}`, `{"environment":"MARS"}`, "{\"displayName\":\"\xff\"}", big}
	oddIDs := []string{"%E2%80%8B", "a..b", "UPPER", strings.Repeat("x", 300), "a%2Fb", "%00", "%27%3B%20DROP", "%F0%9F%98%80", "-", "a%20b", "%25"}

	type req struct{ method, path, body string }
	var reqs []req
	add := func(method, path, body string) { reqs = append(reqs, req{method, path, body}) }

	bodyRoutes := []req{
		{"POST", "/v1/globalAccounts/bad/systems", ""},
		{"PATCH", "/v1/globalAccounts/bad/systems/s1", ""},
		{"POST", "/v1/globalAccounts/bad/systems/s1:generateIntegrationToken", ""},
		{"POST", "/v1/systems:pair", ""},
		{"POST", "/v1/systems:reportPairingFailure", ""},
		{"POST", "/v1/globalAccounts/bad/formations", ""},
		{"PATCH", "/v1/globalAccounts/bad/formations/f1", ""},
		{"POST", "/v1/globalAccounts/bad/formations/f1:assignSystem", ""},
		{"POST", "/v1/globalAccounts/bad/formations/f1:unassignSystem", ""},
	}
	for _, r := range bodyRoutes {
		for _, b := range bodies {
			add(r.method, r.path, b)
		}
	}
	for _, id := range oddIDs {
		add("GET", "/v1/globalAccounts/bad/systems/"+id, "")
		add("PATCH", "/v1/globalAccounts/bad/systems/"+id, `{"description":"x"}`)
		add("DELETE", "/v1/globalAccounts/bad/systems/"+id, "")
		add("POST", "/v1/globalAccounts/bad/systems/"+id+":generateIntegrationToken", `{}`)
		add("GET", "/v1/globalAccounts/bad/formations/"+id, "")
		add("DELETE", "/v1/globalAccounts/bad/formations/"+id, "")
		add("POST", "/v1/globalAccounts/bad/formations/"+id+":assignSystem", `{"system":"globalAccounts/bad/systems/s1"}`)
		add("POST", "/v1/globalAccounts/bad/formations/f1:assignSystem", `{"system":"globalAccounts/bad/systems/`+id+`"}`)
		add("GET", "/v1/globalAccounts/"+id+"/systems", "")
		add("POST", "/v1/globalAccounts/bad/systems?systemId="+id, `{"displayName":"Odd","type":"sap-commerce-cloud"}`)
		add("POST", "/v1/globalAccounts/bad/formations?formationId="+id, `{"displayName":"Odd","formationType":"eventing-between-sap-cloud-systems"}`)
	}
	for _, list := range []string{"/v1/globalAccounts/bad/systems", "/v1/globalAccounts/bad/formations"} {
		for _, q := range []string{"pageSize=-1", "pageSize=-99999999999", "pageSize=99999999999", "pageSize=abc", "pageSize=1e3",
			"pageToken=garbage", "pageToken=%FF%FE", "pageToken=" + strings.Repeat("A", 4000),
			"filter=state%20%3D%20NOPE", "filter=(((", "filter=type%20%3D%20%22", "filter=nope%20%3D%201", "filter=" + strings.Repeat("state%20%3D%20PENDING%20AND%20", 500) + "x"} {
			add("GET", list+"?"+q, "")
		}
	}
	for _, q := range []string{"updateMask=nope", "updateMask=name", "updateMask=,,", "updateMask=displayName&etag=1"} {
		add("PATCH", "/v1/globalAccounts/bad/systems/s1?"+q, `{"displayName":"S1 new","etag":"\"999\""}`)
		add("PATCH", "/v1/globalAccounts/bad/formations/f1?"+q, `{"displayName":"F1 new","etag":"\"999\""}`)
	}
	add("POST", "/v1/globalAccounts/bad/systems?requestId="+strings.Repeat("r", 65), `{"displayName":"R","type":"sap-commerce-cloud"}`)
	add("POST", "/v1/globalAccounts/bad/systems?requestId=bad%20id", `{"displayName":"R","type":"sap-commerce-cloud"}`)
	add("POST", "/v1/globalAccounts/bad/systems", `{"displayName":"`+strings.Repeat("n", 200)+`","type":"sap-commerce-cloud"}`)
	add("POST", "/v1/globalAccounts/bad/systems", `{"displayName":" lead","type":"nope"}`)
	add("POST", "/v1/systems:pair", `{"integrationToken":"lsit_`+strings.Repeat("A", 49)+`","systemType":"sap-commerce-cloud"}`)
	add("POST", "/v1/systems:pair", `{"integrationToken":""}`)
	add("GET", "/v1/nothing", "")
	add("PUT", "/v1/systemTypes", `{}`)

	for _, r := range reqs {
		code, body := walkCall(t, w, r.method, r.path, r.body, true)
		short := r.path
		if len(short) > 120 {
			short = short[:120] + "…"
		}
		if code < 400 || code > 499 {
			t.Errorf("%s %s (body %.60q): HTTP %d, want a 4xx: %.300s", r.method, short, r.body, code, body)
			continue
		}
		var st struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Details []struct {
				Reason string `json:"reason"`
			} `json:"details"`
		}
		if err := json.Unmarshal(body, &st); err != nil || st.Message == "" || len(st.Details) == 0 || st.Details[0].Reason == "" {
			t.Errorf("%s %s: HTTP %d without the JSON status body and a reason: %.300s", r.method, short, code, body)
		}
		if strings.Contains(string(body), "lsit_") {
			t.Errorf("%s %s: the answer echoes a token", r.method, short)
		}
	}
	t.Logf("%d bad requests sent", len(reqs))

	// The limits that do take big values.
	code, body = walkCall(t, w, "GET", "/v1/globalAccounts/bad/systems?pageSize=2000", "", true)
	if code != http.StatusOK {
		t.Errorf("pageSize=2000 (treated as 1000): HTTP %d: %s", code, body)
	}
}
