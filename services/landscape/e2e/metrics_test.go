package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/telemetry"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// scrape reads GET /metrics with the Prometheus text parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: HTTP %d", res.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// sample sums the values of the samples of family name whose labels
// include want (counter, gauge, or a histogram's count), and reports
// whether any matched.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	var sum float64
	found := false
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.GetCounter() != nil:
			sum += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum, found
}

// labelsOf lists a family's label sets, for failure messages.
func labelsOf(fams map[string]*dto.MetricFamily, name string) string {
	var out []string
	for _, m := range fams[name].GetMetric() {
		var ls []string
		for _, l := range m.GetLabel() {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		out = append(out, "{"+strings.Join(ls, ",")+"}")
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// TestMetricsAfterWalkthrough runs the README walkthrough (the seed flow)
// against a stack with metrics on, then reads /metrics as Prometheus
// would and checks the counts of what the walkthrough did — and that no
// label names a global account, a user, a resource or a token, that every
// label is one of a fixed set, and that three more global accounts, users
// and systems add no series.
func TestMetricsAfterWalkthrough(t *testing.T) {
	t.Parallel()
	tel, err := telemetry.New(t.Context(), telemetry.Config{Service: "landscape", Metrics: true})
	if err != nil {
		t.Fatal(err)
	}
	s := stacktest.StartHealthy(t, stacktest.Options{Telemetry: tel})
	runWalkthrough(t, walkTarget{baseURL: s.BaseURL, jwt: s.AdminJWT("dev"), js: s.JetStream})

	type want struct {
		name   string
		labels map[string]string
		value  float64
	}
	exact := []want{
		// The gateway, by route pattern and status.
		{"landscape_gateway_requests_total", map[string]string{"method": "GET", "route": "/v1/systemTypes", "code": "200"}, 1},
		{"landscape_gateway_requests_total", map[string]string{"method": "POST", "route": "/v1/systems:pair", "code": "200"}, 1},
		{"landscape_gateway_requests_total", map[string]string{"method": "POST", "route": "/v1/systems:pair", "code": "401"}, 1},
		{"landscape_gateway_requests_total", map[string]string{"method": "POST", "code": "200"}, 4}, // register, pair, create, assign
		{"landscape_gateway_request_duration_seconds", map[string]string{"method": "POST", "route": "/v1/systems:pair"}, 2},
		// The services' gRPC servers, by method and code.
		{"grpc_server_handled_total", map[string]string{"grpc_service": "landscape.registry.v1.RegistryService", "grpc_method": "RegisterSystem", "grpc_code": "OK"}, 1},
		{"grpc_server_handled_total", map[string]string{"grpc_service": "landscape.registry.v1.RegistryService", "grpc_method": "PairSystem", "grpc_code": "OK"}, 1},
		{"grpc_server_handled_total", map[string]string{"grpc_service": "landscape.registry.v1.RegistryService", "grpc_method": "PairSystem", "grpc_code": "Unauthenticated"}, 1},
		{"grpc_server_handled_total", map[string]string{"grpc_service": "landscape.token.v1.TokenService", "grpc_method": "IssueToken", "grpc_code": "OK"}, 1},
		{"grpc_server_handled_total", map[string]string{"grpc_service": "landscape.token.v1.TokenService", "grpc_method": "ConsumeToken", "grpc_code": "OK"}, 1},
		{"grpc_server_handled_total", map[string]string{"grpc_service": "landscape.formation.v1.FormationService", "grpc_method": "CreateFormation", "grpc_code": "OK"}, 1},
		{"grpc_server_handled_total", map[string]string{"grpc_service": "landscape.formation.v1.FormationService", "grpc_method": "AssignSystem", "grpc_code": "OK"}, 1},
		// Their clients: the registry calling the token service.
		{"grpc_client_handled_total", map[string]string{"grpc_service": "landscape.token.v1.TokenService", "grpc_method": "IssueToken", "grpc_code": "OK"}, 1},
		{"grpc_server_handling_seconds", map[string]string{"grpc_service": "landscape.registry.v1.RegistryService", "grpc_method": "RegisterSystem"}, 1},
		// Tokens.
		{"landscape_tokens_issued_total", nil, 1},
		{"landscape_tokens_consumed_total", nil, 1},
		{"landscape_tokens_refused_total", map[string]string{"operation": "consume", "reason": "TOKEN_ALREADY_USED"}, 1},
	}
	fams := scrape(t, s.MetricsAddr)
	for _, w := range exact {
		got, ok := sample(fams, w.name, w.labels)
		if !ok || got != w.value {
			t.Errorf("%s%v = %v (present %v), want %v; samples: %s", w.name, w.labels, got, ok, w.value, labelsOf(fams, w.name))
		}
	}

	// The event pipeline settles: the token service's two events
	// (issued, consumed) published, every outbox empty, nothing
	// dead-lettered, the consumers caught up.
	testkit.Eventually(t, 20*time.Second, "the event pipeline's metrics settle", func() bool {
		fams = scrape(t, s.MetricsAddr)
		published, _ := sample(fams, "landscape_outbox_published_total", map[string]string{"context": "token"})
		backlog, _ := sample(fams, "landscape_outbox_length", nil)
		handled, _ := sample(fams, "landscape_subscriber_handled_total", nil)
		lag, _ := sample(fams, "landscape_subscriber_pending", nil)
		return published == 2 && backlog == 0 && handled > 0 && lag == 0
	})
	for _, w := range []want{
		{"landscape_subscriber_dead_lettered_total", nil, 0},
		{"landscape_outbox_publish_errors_total", nil, 0},
		{"landscape_outbox_oldest_age_seconds", nil, 0},
	} {
		if got, ok := sample(fams, w.name, w.labels); !ok || got != w.value {
			t.Errorf("%s = %v (present %v), want %v", w.name, got, ok, w.value)
		}
	}
	for _, ctxName := range []string{"registry", "token", "formation"} {
		if _, ok := sample(fams, "landscape_outbox_length", map[string]string{"context": ctxName}); !ok {
			t.Errorf("no landscape_outbox_length{context=%q}", ctxName)
		}
	}
	if hits, _ := sample(fams, "landscape_redis_pool_hits_total", nil); hits == 0 {
		t.Errorf("landscape_redis_pool_hits_total = 0 after the walkthrough")
	}
	assertNoIdentityInLabels(t, fams, "dev", "dev-admin", "test-user", "sf-prod", "sf-tenant-4711", "extensions", "lsit_")
	assertLabelNames(t, fams)
	assertDeployNamesMetrics(t, fams)

	// Cardinality: more global accounts, users and systems doing what
	// was done before add no series, they only count.
	before := series(fams)
	registered, _ := sample(fams, "grpc_server_handled_total", map[string]string{"grpc_method": "RegisterSystem", "grpc_code": "OK"})
	var ids []string
	for i := range 3 {
		ga, user, sys := fmt.Sprintf("card%d", i), fmt.Sprintf("card-user-%d", i), fmt.Sprintf("card-sys-%d", i)
		ids = append(ids, ga, user, sys)
		jwt, err := authn.MintHS256(stacktest.Secret, user, ga, []string{string(authn.RoleGlobalAccountAdmin)}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		w := walkTarget{baseURL: s.BaseURL, jwt: jwt}
		code, body := walkCall(t, w, "POST", "/v1/globalAccounts/"+ga+"/systems?systemId="+sys,
			`{"displayName": "Card", "type": "sap-successfactors"}`, true)
		walkWant(t, "register "+sys, code, 200, body)
		code, body = walkCall(t, w, "GET", "/v1/globalAccounts/"+ga+"/systems/"+sys, "", true)
		walkWant(t, "get "+sys, code, 200, body)
	}
	testkit.Eventually(t, 20*time.Second, "the pipeline settles after three more registrations", func() bool {
		fams = scrape(t, s.MetricsAddr)
		published, _ := sample(fams, "landscape_outbox_published_total", map[string]string{"context": "token"})
		backlog, _ := sample(fams, "landscape_outbox_length", nil)
		lag, _ := sample(fams, "landscape_subscriber_pending", nil)
		return published == 2+3 && backlog == 0 && lag == 0
	})
	if got, _ := sample(fams, "grpc_server_handled_total", map[string]string{"grpc_method": "RegisterSystem", "grpc_code": "OK"}); got != registered+3 {
		t.Errorf("RegisterSystem OK = %v, want %v", got, registered+3)
	}
	for _, k := range slices.Sorted(maps.Keys(series(fams))) {
		if !before[k] {
			t.Errorf("new series after more accounts, users and systems: %s", k)
		}
	}
	assertNoIdentityInLabels(t, fams, ids...)
}

// series are the label sets of the Landscape and gRPC families, as
// name{label=value,...}.
func series(fams map[string]*dto.MetricFamily) map[string]bool {
	out := map[string]bool{}
	for name, f := range fams {
		if !strings.HasPrefix(name, "landscape_") && !strings.HasPrefix(name, "grpc_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			out[name+"{"+strings.Join(ls, ",")+"}"] = true
		}
	}
	return out
}

// labelNames are the only labels of the Landscape and gRPC families: each
// has a fixed set of values (methods, route patterns, codes, reasons,
// contexts, consumer names, states, outcomes).
var labelNames = map[string]bool{
	"method": true, "route": true, "code": true, "context": true, "durable": true, "operation": true, "reason": true,
	"state": true, "outcome": true, "grpc_service": true, "grpc_method": true, "grpc_type": true, "grpc_code": true,
}

// assertLabelNames fails on a label outside labelNames, and on a route
// label that is a path rather than a pattern.
func assertLabelNames(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	for name, f := range fams {
		if !strings.HasPrefix(name, "landscape_") && !strings.HasPrefix(name, "grpc_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !labelNames[l.GetName()] {
					t.Errorf("%s has label %s=%q, not one of the fixed-set labels", name, l.GetName(), l.GetValue())
				}
				if v := l.GetValue(); l.GetName() == "route" && strings.Contains(v, "/globalAccounts/") && !strings.Contains(v, "{") {
					t.Errorf("%s{route=%q} is a path, not a pattern", name, v)
				}
			}
		}
	}
}

// metricName matches the metric names in PromQL expressions.
var metricName = regexp.MustCompile(`\b(landscape_[a-z_]+|grpc_(?:server|client)_[a-z_]+)\b`)

// assertDeployNamesMetrics: every metric the alert rules and the Grafana
// dashboard in deploy/ query is one the landscape serves (histograms by
// their _bucket series). The webhook deliveries are counted once the
// formation service delivers webhooks; until then they are the one name
// allowed to be missing.
func assertDeployNamesMetrics(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	for _, file := range []string{"../../../deploy/prometheus/alerts.yml", "../../../deploy/grafana/landscape-dashboard.json"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		names := metricName.FindAllString(string(b), -1)
		if len(names) == 0 {
			t.Errorf("%s queries no Landscape metric", file)
		}
		for _, n := range names {
			base := n
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if f, ok := fams[strings.TrimSuffix(n, suffix)]; ok && f.GetType() == dto.MetricType_HISTOGRAM {
					base = strings.TrimSuffix(n, suffix)
				}
			}
			if _, ok := fams[base]; !ok {
				t.Errorf("%s queries %s, which /metrics does not serve", file, n)
			}
		}
	}
}

// assertNoIdentityInLabels fails when a label value names a global
// account, a user, a resource or a token: metrics must not be per
// account (cardinality, privacy).
func assertNoIdentityInLabels(t *testing.T, fams map[string]*dto.MetricFamily, identities ...string) {
	t.Helper()
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				v := l.GetValue()
				for _, id := range identities {
					if v == id || strings.Contains(v, "/"+id) || strings.Contains(v, id+"/") ||
						(len(id) > 4 && strings.Contains(v, id)) {
						t.Errorf("%s{%s=%q} names %q", name, l.GetName(), v, id)
					}
				}
			}
		}
	}
}

// TestMetricsOffServesNothing: without metrics and tracing, telemetry adds
// no interceptor and the stack serves no /metrics.
func TestMetricsOffServesNothing(t *testing.T) {
	t.Parallel()
	tel, err := telemetry.New(context.Background(), telemetry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if tel.Metrics() || tel.Tracing() || tel.Registerer() != nil || len(tel.ServerOptions()) != 0 || len(tel.DialOptions()) != 0 {
		t.Fatalf("telemetry off still observes: metrics=%v tracing=%v", tel.Metrics(), tel.Tracing())
	}
	s := stacktest.Start(t, stacktest.Options{Telemetry: tel})
	if s.MetricsAddr != "" {
		t.Fatalf("metrics off, yet served at %s", s.MetricsAddr)
	}
}
