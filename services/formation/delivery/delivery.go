// Package delivery sends the formation service's webhook notifications:
// workers claim due deliveries from the store's schedule (a lease keeps
// other replicas off them), build and sign each notification, POST it
// through the egress guard, and hand the answer to the application service,
// which records the outcome and the next attempt in one atomic step.
//
// A claim holds the (formation, system) until the outcome is recorded: a
// newer notification written meanwhile waits for that answer instead of
// going out beside it, and takes its place in line (urgent ones, a
// member's own notification, first).
//
// Workers share a pool; each endpoint (scheme://host:port) gets at most
// PerEndpoint of them at once, and an endpoint that keeps failing has its
// circuit opened for a while, so one slow or dead receiver does not hold
// up the others.
package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/egress"
	"github.com/landscape-dev/landscape/pkg/metrics"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/pkg/telemetry"
	"github.com/landscape-dev/landscape/pkg/webhook"
	"github.com/landscape-dev/landscape/services/formation/formations"
)

// Store is what the engine needs of the repository.
type Store interface {
	ClaimDue(ctx context.Context, now time.Time, lease time.Duration, max int) ([]formations.Claim, error)
	Reschedule(ctx context.Context, ref formations.DeliveryRef, at time.Time) error
	Release(ctx context.Context, ref formations.DeliveryRef) error
}

// Options tune an Engine; zero values take the defaults.
type Options struct {
	// PublicURL is the gateway's base URL as systems reach it; statusUrl
	// is built on it.
	PublicURL string
	// Workers is the number of concurrent deliveries (64).
	Workers int
	// PerEndpoint bounds concurrent deliveries to one endpoint (8).
	PerEndpoint int
	// Lease is how long a claimed delivery stays out of other workers'
	// reach (30 s); it must exceed Timeout.
	Lease time.Duration
	// Timeout bounds one attempt (10 s).
	Timeout time.Duration
	// Poll is how often the schedule is read when idle (50 ms).
	Poll time.Duration
	// CircuitFailures consecutive failures open an endpoint's circuit for
	// CircuitOpen (5, 30 s).
	CircuitFailures int
	CircuitOpen     time.Duration
	// ProfileTTL is how long a system's webhook, base URL and secrets are
	// cached (10 s).
	ProfileTTL time.Duration
	Now        func() time.Time
	// Registerer receives landscape_webhook_deliveries_total; nil: none.
	Registerer prometheus.Registerer
	// TracerProvider makes a span per attempt, continuing the trace of the
	// change that made the notification; nil: no spans.
	TracerProvider trace.TracerProvider
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = 64
	}
	if o.PerEndpoint <= 0 {
		o.PerEndpoint = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = egress.Timeout
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.Lease <= o.Timeout {
		o.Lease = o.Timeout + 5*time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 50 * time.Millisecond
	}
	if o.CircuitFailures <= 0 {
		o.CircuitFailures = 5
	}
	if o.CircuitOpen <= 0 {
		o.CircuitOpen = 30 * time.Second
	}
	if o.ProfileTTL <= 0 {
		o.ProfileTTL = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Engine delivers notifications.
type Engine struct {
	app    *formations.Service
	store  Store
	dir    formations.Directory
	client *http.Client
	log    *slog.Logger
	o      Options
	wake   chan struct{}
	slots  chan struct{}

	mu        sync.Mutex
	endpoints map[string]*endpoint
	profiles  map[string]profile

	outcomes *prometheus.CounterVec
	tracer   trace.Tracer // nil: no spans

	formationLocks [256]sync.Mutex
}

type endpoint struct {
	inFlight  int
	failures  int
	openUntil time.Time
}

type profile struct {
	sys     formations.System
	secrets []string
	at      time.Time
}

// New builds an engine; the guard checks every connection it makes.
func New(app *formations.Service, store Store, dir formations.Directory, guard *egress.Guard, log *slog.Logger, o Options) *Engine {
	o = o.withDefaults()
	c := guard.Client()
	c.Timeout = o.Timeout
	e := &Engine{
		app: app, store: store, dir: dir, client: c, log: log, o: o,
		wake:      make(chan struct{}, 1),
		slots:     make(chan struct{}, o.Workers),
		endpoints: map[string]*endpoint{},
		profiles:  map[string]profile{},
		outcomes: metrics.Register(o.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "landscape_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome: ok (2xx), accepted (202, a callback is awaited), failed (5xx, 408, 429, timeout, unreachable: retried), refused (another 4xx, a bad answer or the egress guard: ERROR), gone (410: disabled), callback_timeout (no status callback in time), no_webhook.",
		}, []string{"outcome"})),
		tracer: telemetry.Tracer(o.TracerProvider, "delivery"),
	}
	for k := formations.Delivered; k <= formations.NoWebhook; k++ {
		e.outcomes.WithLabelValues(outcomeLabel(k)) // every outcome is served, from 0
	}
	return e
}

// outcomeLabel is the metric label of an outcome.
func outcomeLabel(k formations.OutcomeKind) string {
	switch k {
	case formations.Delivered:
		return "ok"
	case formations.Accepted:
		return "accepted"
	case formations.Failed:
		return "failed"
	case formations.Refused:
		return "refused"
	case formations.Gone:
		return "gone"
	case formations.CallbackMissed:
		return "callback_timeout"
	}
	return "no_webhook"
}

// Wake makes the engine read the schedule now (a local step scheduled a
// delivery due now).
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run claims and sends deliveries until ctx ends, then waits for the
// attempts in flight.
func (e *Engine) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(e.o.Poll)
	defer t.Stop()
	for {
		free := cap(e.slots) - len(e.slots)
		if free > 0 {
			claims, err := e.store.ClaimDue(ctx, e.o.Now(), e.o.Lease, free)
			if err != nil && ctx.Err() == nil {
				e.log.Warn("webhook schedule unreadable", "error", err.Error())
			}
			for _, c := range claims {
				e.slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer e.Wake() // a slot is free: claim again now, not at the next poll
					defer func() { <-e.slots }()
					e.attempt(context.WithoutCancel(ctx), c)
				}()
			}
			if len(claims) == free {
				continue // more may be due
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-e.wake:
		case <-t.C:
		}
	}
}

// attempt sends one claimed delivery and records what came of it.
func (e *Engine) attempt(ctx context.Context, c formations.Claim) {
	ref, d := c.Ref, c.Delivery
	if d == nil {
		// Answered or removed since it came due (a status callback).
		if err := e.store.Release(ctx, ref); err != nil {
			e.log.Warn("webhook claim not released; it runs out after its lease", "error", err.Error())
		}
		return
	}
	outcome, retryAt := e.send(ctx, c)
	if !retryAt.IsZero() {
		// Not attempted (endpoint busy or its circuit open): back in line.
		if err := e.store.Reschedule(ctx, ref, retryAt); err != nil {
			e.log.Warn("webhook reschedule failed", "error", err.Error())
		}
		return
	}
	label := outcomeLabel(outcome.Kind)
	e.outcomes.WithLabelValues(label).Inc()
	ctx, span := e.span(ctx, d, label)
	defer span.End()
	// The answers of one formation's members change one record: recorded
	// one at a time here, they do not fail each other's optimistic
	// commits (other replicas still may; the commit retries then).
	unlock := e.lockFormation(ref)
	err := e.app.Deliver(ctx, ref, d, outcome)
	unlock()
	if err != nil {
		span.RecordError(err)
		e.log.Warn("webhook outcome not recorded; the delivery is tried again after its lease",
			"assignment", d.AssignmentName(ref.GlobalAccount), "error", err.Error())
	}
}

// lockFormation serializes the recording of outcomes per formation, on
// one of a fixed set of locks (a formation's always the same one).
func (e *Engine) lockFormation(ref formations.DeliveryRef) func() {
	h := fnv.New32a()
	_, _ = h.Write([]byte(ref.GlobalAccount))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(ref.FormationID))
	m := &e.formationLocks[h.Sum32()%uint32(len(e.formationLocks))]
	m.Lock()
	return m.Unlock
}

// span records an attempt that was made (after the fact: its outcome is
// known) as a span continuing the trace of the change that made the
// notification; the outcome's commit is its child.
func (e *Engine) span(ctx context.Context, d *formations.Delivery, outcome string) (context.Context, trace.Span) {
	if e.tracer == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	ctx = telemetry.WithTraceparent(ctx, d.Traceparent)
	return e.tracer.Start(ctx, "webhook deliver", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("landscape.webhook.type", string(d.Type)),
			attribute.String("landscape.webhook.outcome", outcome),
			attribute.Int("landscape.webhook.attempt", d.Attempts+1),
		))
}

// send makes one attempt. A non-zero time means it was not attempted and
// should be tried at that time.
func (e *Engine) send(ctx context.Context, c formations.Claim) (formations.Outcome, time.Time) {
	ref, d := c.Ref, c.Delivery
	if d.Awaiting {
		return formations.Outcome{Kind: formations.CallbackMissed}, time.Time{}
	}
	self, err := e.profile(ctx, ref.GlobalAccount, ref.SystemID)
	if errors.Is(err, apperr.New(apperr.SystemNotFound, "")) {
		return formations.Outcome{Kind: formations.NoWebhook}, time.Time{}
	}
	if err != nil {
		return formations.Outcome{}, e.o.Now().Add(time.Second)
	}
	if self.sys.Webhook == nil || len(self.secrets) == 0 {
		return formations.Outcome{Kind: formations.NoWebhook}, time.Time{}
	}
	if c.WebhookDisabled {
		return formations.Outcome{Kind: formations.Gone}, time.Time{}
	}
	body, err := e.body(ctx, c, self.sys)
	if err != nil {
		return formations.Outcome{}, e.o.Now().Add(time.Second)
	}
	key := endpointKey(self.sys.Webhook.URL)
	if at, ok := e.enter(key); !ok {
		return formations.Outcome{}, at
	}
	out := e.post(ctx, self.sys.Webhook.URL, self.secrets, d.ID, body)
	e.leave(key, out.Kind == formations.Failed)
	return out, time.Time{}
}

func endpointKey(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Scheme + "://" + u.Host
}

// enter takes a place at the endpoint, or says when to come back.
func (e *Engine) enter(key string) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ep := e.endpoints[key]
	if ep == nil {
		ep = &endpoint{}
		e.endpoints[key] = ep
	}
	now := e.o.Now()
	if now.Before(ep.openUntil) {
		return ep.openUntil, false
	}
	if ep.inFlight >= e.o.PerEndpoint {
		return now.Add(e.o.Poll * 4), false
	}
	ep.inFlight++
	return time.Time{}, true
}

func (e *Engine) leave(key string, failed bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ep := e.endpoints[key]
	ep.inFlight--
	if !failed {
		ep.failures = 0
		return
	}
	ep.failures++
	if ep.failures >= e.o.CircuitFailures {
		ep.openUntil = e.o.Now().Add(e.o.CircuitOpen)
		ep.failures = 0
	}
}

// post sends the signed notification and classifies the answer.
func (e *Engine) post(ctx context.Context, target string, secrets []string, id string, body []byte) formations.Outcome {
	ctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return formations.Outcome{Kind: formations.Refused, Message: "the webhook URL is not usable"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Landscape-Webhooks/1")
	webhook.SetHeaders(req.Header, secrets, id, e.o.Now(), body)
	resp, err := e.client.Do(req)
	if err != nil {
		if errors.Is(err, egress.ErrRefused) {
			return formations.Outcome{Kind: formations.Refused, Message: "refused by the egress guard: " + refusal(err)}
		}
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
			return formations.Outcome{Kind: formations.Failed, Message: fmt.Sprintf("no answer within %s", e.o.Timeout)}
		}
		return formations.Outcome{Kind: formations.Failed, Message: "cannot reach the webhook"}
	}
	defer resp.Body.Close()
	answer, cut := egress.ReadAnswer(resp)
	code := resp.StatusCode
	switch {
	case code == http.StatusAccepted:
		return formations.Outcome{Kind: formations.Accepted}
	case code == http.StatusOK:
		if cut {
			return formations.Outcome{Kind: formations.Refused, Message: "the answer is over 64 KiB"}
		}
		config, err := formations.ParseAnswer(answer)
		if err != nil {
			return formations.Outcome{Kind: formations.Refused, Message: err.Error()}
		}
		return formations.Outcome{Kind: formations.Delivered, Configuration: config}
	case code >= 200 && code < 300:
		return formations.Outcome{Kind: formations.Delivered}
	case code == http.StatusGone:
		return formations.Outcome{Kind: formations.Gone}
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return formations.Outcome{Kind: formations.Failed, Message: fmt.Sprintf("the webhook answered %d", code)}
	case code >= 300 && code < 400:
		return formations.Outcome{Kind: formations.Refused, Message: fmt.Sprintf("the webhook answered %d; redirects are not followed", code)}
	default:
		return formations.Outcome{Kind: formations.Refused, Message: fmt.Sprintf("the webhook answered %d", code)}
	}
}

// refusal is the guard's reason without the wrapping of net/http.
func refusal(err error) string {
	s := err.Error()
	if i := strings.Index(s, egress.ErrRefused.Error()+": "); i >= 0 {
		return s[i+len(egress.ErrRefused.Error())+2:]
	}
	return s
}

// profile reads a system and its secrets, cached for ProfileTTL.
func (e *Engine) profile(ctx context.Context, ga, id string) (profile, error) {
	key := ga + "/" + id
	e.mu.Lock()
	p, ok := e.profiles[key]
	e.mu.Unlock()
	if ok && e.o.Now().Sub(p.at) < e.o.ProfileTTL {
		return p, nil
	}
	sys, err := e.dir.GetSystem(ctx, ga, id)
	if err != nil {
		return profile{}, err
	}
	p = profile{sys: sys, at: e.o.Now()}
	if sys.Webhook != nil {
		if p.secrets, err = e.dir.WebhookSecrets(ctx, ga, id); err != nil {
			return profile{}, err
		}
	}
	e.mu.Lock()
	e.profiles[key] = p
	e.mu.Unlock()
	return p, nil
}

// Notification is the JSON body of a notification.
type Notification struct {
	Type       formations.NotificationType `json:"type"`
	Formation  FormationRef                `json:"formation"`
	Assignment string                      `json:"assignment"`
	Self       Member                      `json:"self"`
	Peers      []Member                    `json:"peers"`
	StatusURL  string                      `json:"statusUrl"`
}

// FormationRef names the formation in a notification.
type FormationRef struct {
	Name          string `json:"name"`
	FormationType string `json:"formationType"`
	Environment   string `json:"environment"`
}

// Member is a system in a notification.
type Member struct {
	System        string          `json:"system"`
	Type          string          `json:"type"`
	BaseURL       string          `json:"baseUrl"`
	ExternalID    string          `json:"externalId"`
	Configuration json.RawMessage `json:"configuration,omitempty"`
}

// body builds the notification from the formation as it was claimed.
func (e *Engine) body(ctx context.Context, c formations.Claim, self formations.System) ([]byte, error) {
	ref, d, f := c.Ref, c.Delivery, c.Formation
	ga := ref.GlobalAccount
	n := Notification{
		Type:       d.Type,
		Formation:  FormationRef{Name: d.FormationName(ga), FormationType: d.FormationType, Environment: string(d.Environment)},
		Assignment: d.AssignmentName(ga),
		Self: Member{System: resource.SystemName(ga, self.ID), Type: self.Type,
			BaseURL: self.BaseURL, ExternalID: self.ExternalID},
		Peers:     []Member{},
		StatusURL: strings.TrimSuffix(e.o.PublicURL, "/") + "/v1/" + d.AssignmentName(ga) + ":reportStatus",
	}
	if d.Type != formations.NotifyAssignmentDeleted {
		if f != nil {
			for _, a := range f.Assignments {
				if a.SystemID == ref.SystemID {
					continue
				}
				m := Member{System: resource.SystemName(ga, a.SystemID), Type: a.SystemType, Configuration: a.Configuration}
				if p, err := e.profile(ctx, ga, a.SystemID); err == nil {
					m.BaseURL, m.ExternalID = p.sys.BaseURL, p.sys.ExternalID
				}
				n.Peers = append(n.Peers, m)
			}
		}
	}
	return json.Marshal(n)
}
