package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Benchmarks of the gateway's own cost: a REST call proxied to a fake
// registry (JSON decode, gRPC round trip, JSON encode, access log) beside
// the gRPC health check baseline of /healthz, both over real HTTP and gRPC
// on loopback, run in parallel:
//
//	go test -run - -bench . -benchtime 2s ./services/gateway/
func BenchmarkGatewayHealthz(b *testing.B) {
	benchGET(b, "/healthz", "", "")
}

func BenchmarkGatewayGetSystem(b *testing.B) {
	benchGET(b, "/v1/globalAccounts/acme/systems/s1", "", "")
}

func BenchmarkGatewayRegisterSystem(b *testing.B) {
	benchGET(b, "/v1/globalAccounts/acme/systems", "POST", `{"displayName":"SF prod","type":"sap-successfactors","description":"d"}`)
}

func benchGET(b *testing.B, path, method, body string) {
	if method == "" {
		method = "GET"
	}
	e := start(b, nil)
	benchURL(b, e.url+path, method, body)
}

func benchURL(b *testing.B, url, method, body string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var rd io.Reader
			if body != "" {
				rd = strings.NewReader(body)
			}
			req, _ := http.NewRequest(method, url, rd)
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
}

// BenchmarkBareHTTP is the floor: the same client against an HTTP handler
// that writes a fixed JSON body, no gateway, no gRPC.
func BenchmarkBareHTTP(b *testing.B) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"name":"globalAccounts/acme/systems/s1","displayName":"SF prod","state":"PENDING"}`)
	}))
	defer hs.Close()
	benchURL(b, hs.URL+"/x", "GET", "")
}
