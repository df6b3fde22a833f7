package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/telemetry"
	"github.com/landscape-dev/landscape/services/landscape/stack"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// wantSpan describes a span a trace must hold: its name, kind, and
// attributes it must have (a value "" only requires the key).
type wantSpan struct {
	name  string
	kind  trace.SpanKind
	attrs map[string]string
}

// tracedStack starts a healthy stack that samples every trace into the
// returned in-memory exporter.
func tracedStack(t *testing.T, opts stacktest.Options) (*stacktest.Stack, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tel, err := telemetry.New(t.Context(), telemetry.Config{Service: "landscape", Exporter: exp, SampleRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	opts.Telemetry = tel
	return stacktest.StartHealthy(t, opts), exp
}

// commitSpan is the outbox commit of context's service.
func commitSpan(context string) wantSpan {
	return wantSpan{"outbox.commit", trace.SpanKindClient, map[string]string{"landscape.context": context}}
}

// publishSpan is service's relay publishing an event on subject.
func publishSpan(service, subject string) wantSpan {
	return wantSpan{service + " publish", trace.SpanKindProducer, map[string]string{"messaging.destination.name": subject}}
}

func (w wantSpan) String() string { return fmt.Sprintf("%s (%v) %v", w.name, w.kind, w.attrs) }

func (w wantSpan) matches(s tracetest.SpanStub) bool {
	if s.Name != w.name || s.SpanKind != w.kind {
		return false
	}
	for k, v := range w.attrs {
		got, ok := attrOf(s, k)
		if !ok || (v != "" && got != v) {
			return false
		}
	}
	return true
}

func attrOf(s tracetest.SpanStub, key string) (string, bool) {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.Emit(), true
		}
	}
	return "", false
}

// traceSpans are the exported spans of one trace.
func traceSpans(exp *tracetest.InMemoryExporter, id trace.TraceID) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID() == id {
			out = append(out, s)
		}
	}
	return out
}

// missing lists the wanted spans the trace lacks, and the spans whose
// parent is neither in the trace nor root (the caller's span).
func missing(spans []tracetest.SpanStub, root trace.SpanID, want []wantSpan) []string {
	var out []string
	for _, w := range want {
		if !slices.ContainsFunc(spans, w.matches) {
			out = append(out, "no span "+w.String())
		}
	}
	ids := map[trace.SpanID]bool{root: true}
	for _, s := range spans {
		ids[s.SpanContext.SpanID()] = true
	}
	for _, s := range spans {
		if !ids[s.Parent.SpanID()] {
			out = append(out, fmt.Sprintf("span %q has a parent %s outside the trace", s.Name, s.Parent.SpanID()))
		}
	}
	return out
}

// dumpSpans is a trace as an indented tree, for failure messages.
func dumpSpans(spans []tracetest.SpanStub, root trace.SpanID) string {
	var b strings.Builder
	var walk func(parent trace.SpanID, depth int)
	walk = func(parent trace.SpanID, depth int) {
		for _, s := range spans {
			if s.Parent.SpanID() != parent {
				continue
			}
			var as []string
			for _, a := range s.Attributes {
				as = append(as, string(a.Key)+"="+a.Value.Emit())
			}
			fmt.Fprintf(&b, "%s%s [%v] {%s}\n", strings.Repeat("  ", depth), s.Name, s.SpanKind, strings.Join(as, ", "))
			walk(s.SpanContext.SpanID(), depth+1)
		}
	}
	walk(root, 0)
	return b.String()
}

// tracedCall is a REST call that continues the caller's trace: it sends a
// sampled W3C traceparent naming the caller's span.
func tracedCall(t *testing.T, s *stacktest.Stack, traceID trace.TraceID, caller trace.SpanID, method, path, jwt, body string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, s.BaseURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if jwt != "" {
		req.Header.Set("Authorization", "Bearer "+jwt)
	}
	req.Header.Set("traceparent", "00-"+traceID.String()+"-"+caller.String()+"-01")
	res, err := s.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: HTTP %d: %s", method, path, res.StatusCode, b)
	}
	return b
}

// waitTrace waits until the trace holds every wanted span and is one tree
// under the caller's span, and returns it.
func waitTrace(t *testing.T, exp *tracetest.InMemoryExporter, id trace.TraceID, caller trace.SpanID, want []wantSpan) []tracetest.SpanStub {
	t.Helper()
	var spans []tracetest.SpanStub
	var gaps []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		spans = traceSpans(exp, id)
		if gaps = missing(spans, caller, want); len(gaps) == 0 {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s after 30 s:\n%s\nspans:\n%s", id, strings.Join(gaps, "\n"), dumpSpans(spans, caller))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOneTraceFromTheGatewayToTheConsumers: with tracing on (an in-memory
// exporter), a REST call that brings a traceparent produces one trace:
// the gateway's server span continues the caller's span; the gRPC calls
// to the registry and from the registry to the token service, each
// service's outbox commit, the relay's publish of each event and the
// consumers' spans (and what they commit in reaction, and publish) are all
// in it, one tree. The events on NATS carry the traceparent of the commit
// that wrote them.
func TestOneTraceFromTheGatewayToTheConsumers(t *testing.T) {
	t.Parallel()
	s, exp := tracedStack(t, stacktest.Options{})
	jwt := s.AdminJWT("tr")
	caller := trace.SpanID{0xca, 0x11, 0xe4}

	// A formation first, in a trace of its own.
	tracedCall(t, s, trace.TraceID{0xf0}, caller, "POST", "/v1/globalAccounts/tr/formations?formationId=fx",
		jwt, `{"displayName": "FX", "formationType": "side-by-side-extensibility-with-kyma"}`)

	// Registration: gateway → registry → token, both commits, both
	// publishes, and the formation service's consumer (which reads the
	// registry's system events; system.created it acks unread).
	register := trace.TraceID{0x4e, 0x91}
	body := tracedCall(t, s, register, caller, "POST", "/v1/globalAccounts/tr/systems?systemId=sx",
		jwt, `{"displayName": "SX", "type": "sap-commerce-cloud"}`)
	var reg struct {
		IntegrationToken struct{ Token string } `json:"integrationToken"`
	}
	if err := json.Unmarshal(body, &reg); err != nil || reg.IntegrationToken.Token == "" {
		t.Fatalf("register: %s", body)
	}
	spans := waitTrace(t, exp, register, caller, []wantSpan{
		{"POST /v1/{parent=globalAccounts/*}/systems", trace.SpanKindServer, map[string]string{"http.route": "/v1/{parent=globalAccounts/*}/systems"}},
		{"landscape.registry.v1.RegistryService/RegisterSystem", trace.SpanKindClient, nil},
		{"landscape.registry.v1.RegistryService/RegisterSystem", trace.SpanKindServer, nil},
		{"landscape.token.v1.TokenService/IssueToken", trace.SpanKindClient, nil},
		{"landscape.token.v1.TokenService/IssueToken", trace.SpanKindServer, nil},
		{"outbox.commit", trace.SpanKindClient, map[string]string{"landscape.context": "token", "db.system.name": "redis"}},
		commitSpan("registry"),
		publishSpan("token", "landscape.token.tr.token.issued"),
		publishSpan("registry", "landscape.registry.tr.system.created"),
		{"formation-reactions process", trace.SpanKindConsumer, map[string]string{
			"messaging.destination.name": "landscape.registry.tr.system.created", "landscape.handled": "false"}},
	})
	t.Logf("registration trace:\n%s", dumpSpans(spans, caller))
	for _, sp := range spans {
		if sp.Parent.SpanID() == caller && (sp.SpanKind != trace.SpanKindServer || !sp.Parent.IsRemote()) {
			t.Errorf("span %q continues the caller's span; only the gateway's server span should", sp.Name)
		}
	}

	// Assign the pending system (commerce cloud may join before pairing), then pair it: the pairing's trace goes
	// on through the registry's system.registered event to the
	// formation service's reaction (its commit and its events) and to
	// the registry's consumer of those.
	assign := trace.TraceID{0xa5}
	tracedCall(t, s, assign, caller, "POST", "/v1/globalAccounts/tr/formations/fx:assignSystem",
		jwt, `{"system": "globalAccounts/tr/systems/sx"}`)
	spans = waitTrace(t, exp, assign, caller, []wantSpan{
		{"landscape.formation.v1.FormationService/AssignSystem", trace.SpanKindServer, nil},
		// The formation service asks the registry about the system.
		{"landscape.registry.v1.RegistryService/GetSystem", trace.SpanKindClient, nil},
		{"landscape.registry.v1.RegistryService/GetSystem", trace.SpanKindServer, nil},
		commitSpan("formation"),
		publishSpan("formation", "landscape.formation.tr.assignment.created"),
	})
	t.Logf("assignment trace:\n%s", dumpSpans(spans, caller))
	pair := trace.TraceID{0x9a, 0x12}
	pairBody, _ := json.Marshal(map[string]string{
		"integrationToken": reg.IntegrationToken.Token, "systemType": "sap-commerce-cloud",
		"baseUrl": "https://sx.example.com", "externalId": "sx-tenant",
	})
	tracedCall(t, s, pair, caller, "POST", "/v1/systems:pair", "", string(pairBody))
	spans = waitTrace(t, exp, pair, caller, []wantSpan{
		{"POST /v1/systems:pair", trace.SpanKindServer, nil},
		{"landscape.registry.v1.RegistryService/PairSystem", trace.SpanKindServer, nil},
		{"landscape.token.v1.TokenService/ConsumeToken", trace.SpanKindServer, nil},
		commitSpan("token"),
		commitSpan("registry"),
		publishSpan("registry", "landscape.registry.tr.system.registered"),
		{"formation-reactions process", trace.SpanKindConsumer, map[string]string{
			"messaging.destination.name": "landscape.registry.tr.system.registered", "messaging.consumer.group.name": "formation-reactions"}},
		commitSpan("formation"),
		publishSpan("formation", "landscape.formation.tr.assignment.state_changed"),
		{"registry-formations process", trace.SpanKindConsumer, map[string]string{"messaging.destination.name": "landscape.formation.tr.assignment.state_changed"}},
	})
	t.Logf("pairing trace:\n%s", dumpSpans(spans, caller))
	// The formation service's commit is its reaction: a child of its
	// consumer span for system.registered.
	var reaction, formCommit tracetest.SpanStub
	for _, sp := range spans {
		if dest, _ := attrOf(sp, "messaging.destination.name"); sp.Name == "formation-reactions process" && dest == "landscape.registry.tr.system.registered" {
			reaction = sp
		}
		if ctxName, _ := attrOf(sp, "landscape.context"); sp.Name == "outbox.commit" && ctxName == "formation" {
			formCommit = sp
		}
	}
	if formCommit.Parent.SpanID() != reaction.SpanContext.SpanID() {
		t.Errorf("the formation service's commit is not a child of its consumer span")
	}

	// On NATS: each event carries the traceparent of the commit that
	// wrote it in its envelope, and the publish span's in its header.
	checkPublished(t, s.JetStream, "registry", "landscape.registry.tr.system.created", register)
	checkPublished(t, s.JetStream, "token", "landscape.token.tr.token.issued", register)
	checkPublished(t, s.JetStream, "formation", "landscape.formation.tr.assignment.created", assign)
	// system.registered carries the registry commit's
	// traceparent in its envelope, and the publish span's in its header.
	checkPublished(t, s.JetStream, "registry", "landscape.registry.tr.system.registered", pair)
	checkPublished(t, s.JetStream, "formation", "landscape.formation.tr.assignment.state_changed", pair)
}

// checkPublished reads the event on subject from the context's stream and
// checks that its envelope's traceparent extension and its NATS
// traceparent header are in trace id.
func checkPublished(t *testing.T, js jetstream.JetStream, context, subject string, id trace.TraceID) {
	t.Helper()
	c, err := js.OrderedConsumer(t.Context(), cloudevent.StreamName(context), jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatalf("%s: %v", subject, err)
	}
	prefix := "00-" + id.String() + "-"
	if tp := cloudevent.TraceparentOf(m.Data()); !strings.HasPrefix(tp, prefix) {
		t.Errorf("%s: envelope traceparent %q, want trace %s", subject, tp, id)
	}
	if h := m.Headers().Get("traceparent"); !strings.HasPrefix(h, prefix) {
		t.Errorf("%s: NATS header traceparent %q, want trace %s", subject, h, id)
	}
	var env map[string]any
	if err := json.Unmarshal(m.Data(), &env); err != nil || env["traceparent"] == nil {
		t.Errorf("%s: the envelope has no traceparent attribute: %s", subject, m.Data())
	}
}

// TestWebhookDeliveryContinuesTheTrace: an assignment made by a REST call
// that brings a traceparent notifies the system's webhook in the same
// trace: the formation service's commit stores the trace context with the
// notification, and the delivery attempt's span (webhook deliver) is in
// that trace, one tree under the caller's span, as are the outcome's
// commit and its events, and the registry's reaction to the assignment.
func TestWebhookDeliveryContinuesTheTrace(t *testing.T) {
	t.Parallel()
	s, exp := tracedStack(t, stacktest.Options{Webhooks: stack.Webhooks{AllowInsecure: true, RetryBase: 20 * time.Millisecond}})
	a := api{t: t, s: s, jwt: s.AdminJWT("ga1")}
	a.do("POST", "/v1/globalAccounts/ga1/formations?formationId=f1", map[string]any{
		"displayName": "F1", "formationType": "side-by-side-extensibility-with-kyma"}, 200)
	a.pairWithWebhook("wh", newReceiver(t, configAnswer("wh")), "SYNC")

	caller := trace.SpanID{0xca, 0x11, 0xe5}
	assign := trace.TraceID{0x3e, 0xb0}
	tracedCall(t, s, assign, caller, "POST", "/v1/globalAccounts/ga1/formations/f1:assignSystem",
		a.jwt, `{"system": "globalAccounts/ga1/systems/wh"}`)
	spans := waitTrace(t, exp, assign, caller, []wantSpan{
		{"landscape.formation.v1.FormationService/AssignSystem", trace.SpanKindServer, nil},
		commitSpan("formation"),
		{"webhook deliver", trace.SpanKindClient, map[string]string{"landscape.webhook.type": "assignment.created", "landscape.webhook.outcome": "ok"}},
		// The registry's reaction to the assignment, in the same trace.
		{"registry-formations process", trace.SpanKindConsumer, map[string]string{"messaging.destination.name": "landscape.formation.ga1.assignment.created"}},
		commitSpan("registry"),
		publishSpan("formation", "landscape.formation.ga1.assignment.state_changed"),
	})
	t.Logf("assignment trace with its webhook delivery:\n%s", dumpSpans(spans, caller))
}
