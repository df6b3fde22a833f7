// Package agent plays an SAP system's side of the formation integration
// (docs/API.md, "Formation integration"), as `landscape system-agent`
// does: it pairs with an integration token and registers its own webhook,
// verifies the Standard Webhooks signature of every notification, answers
// with a configuration of its own (at once, or with 202 and a signed
// status callback), and keeps what it learns of its peers.
//
// It is a client of the public REST API and of the notification JSON like
// any system would be: it uses no generated code and no service package.
package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/landscape-dev/landscape/pkg/webhook"
	"github.com/landscape-dev/landscape/services/landscape/restclient"
)

// The webhook modes of a pairing.
const (
	ModeSync  = "SYNC"
	ModeAsync = "ASYNC_CALLBACK"
)

// maxNotification caps the body of a notification the agent reads.
const maxNotification = 1 << 20

// seenFor is how long a webhook-id is remembered: a notification sent
// again with the same id (its answer was lost) gets the same answer and
// is not applied twice.
const seenFor = 10 * time.Minute

// Config describes the system the agent plays.
type Config struct {
	// Server is the Landscape gateway (http://127.0.0.1:8080).
	Server string
	// Token is the integration token (lsit_…) the system pairs with.
	Token string
	// Type is the system type the system reports (sap-s4hana-cloud).
	Type string
	// BaseURL and ExternalID are reported at pairing (optional).
	BaseURL, ExternalID string
	// Mode is SYNC (answer 200 with the configuration) or ASYNC_CALLBACK
	// (answer 202, then report through the statusUrl).
	Mode string
	// WebhookURL is the agent's webhook as Landscape reaches it.
	WebhookURL string
	// Configuration is the JSON object the system answers with; nil:
	// {"baseUrl": BaseURL, "externalId": ExternalID}.
	Configuration json.RawMessage
	// HTTP makes the pairing and callback requests; nil: a client with a
	// 30 s timeout.
	HTTP *http.Client
	// OnChange is told, outside any lock, after a notification changed
	// what the agent knows (Learned holds it).
	OnChange func(Notification)
}

// Notification is a notification as Landscape sends it.
type Notification struct {
	Type       string    `json:"type"`
	Formation  Formation `json:"formation"`
	Assignment string    `json:"assignment"`
	Self       Member    `json:"self"`
	Peers      []Member  `json:"peers"`
	StatusURL  string    `json:"statusUrl"`
}

// Formation names a formation in a notification.
type Formation struct {
	Name          string `json:"name"`
	FormationType string `json:"formationType"`
	Environment   string `json:"environment,omitempty"`
}

// Member is a system in a notification.
type Member struct {
	System        string          `json:"system"`
	Type          string          `json:"type"`
	BaseURL       string          `json:"baseUrl,omitempty"`
	ExternalID    string          `json:"externalId,omitempty"`
	Configuration json.RawMessage `json:"configuration,omitempty"`
}

// Membership is what the agent knows of one formation it is in.
type Membership struct {
	Formation  Formation `json:"formation"`
	Assignment string    `json:"assignment"`
	Peers      []Member  `json:"peers"`
	// Updated is when the last notification about it came.
	Updated time.Time `json:"updated"`
}

// State is everything the agent learned: its system and its formations
// (the --state-file JSON).
type State struct {
	System        string          `json:"system"`
	Webhook       string          `json:"webhook"`
	Mode          string          `json:"mode"`
	Configuration json.RawMessage `json:"configuration"`
	Formations    []Membership    `json:"formations"`
}

// Agent is one system's side.
type Agent struct {
	cfg    Config
	api    *restclient.Client
	client *http.Client

	mu      sync.Mutex
	system  string
	secret  string // never printed or logged
	members map[string]Membership
	seen    map[string]seenAnswer
	wg      sync.WaitGroup
}

type seenAnswer struct {
	code int
	body []byte
	at   time.Time
}

// New checks cfg and returns an agent that has not paired yet.
func New(cfg Config) (*Agent, error) {
	switch {
	case cfg.Token == "":
		return nil, errors.New("no integration token")
	case cfg.Type == "":
		return nil, errors.New("no system type")
	case cfg.WebhookURL == "":
		return nil, errors.New("no webhook URL")
	}
	cfg.Mode = strings.ToUpper(cfg.Mode)
	if cfg.Mode == "" {
		cfg.Mode = ModeSync
	}
	if cfg.Mode != ModeSync && cfg.Mode != ModeAsync {
		return nil, fmt.Errorf("mode %q: want SYNC or ASYNC_CALLBACK", cfg.Mode)
	}
	if cfg.Configuration == nil {
		def, _ := json.Marshal(map[string]string{"baseUrl": cfg.BaseURL, "externalId": cfg.ExternalID})
		cfg.Configuration = def
	}
	var probe map[string]any
	if err := json.Unmarshal(cfg.Configuration, &probe); err != nil || probe == nil {
		return nil, errors.New("the configuration must be a JSON object")
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, cfg.Configuration)
	cfg.Configuration = compact.Bytes()
	api, err := restclient.New(cfg.Server, "", "landscape-system-agent")
	if err != nil {
		return nil, err
	}
	client := cfg.HTTP
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Agent{cfg: cfg, api: api, client: client, members: map[string]Membership{}, seen: map[string]seenAnswer{}}, nil
}

// Pair pairs the system with its token and registers the webhook; the
// answer's webhook secret is kept in memory only. It returns the system's
// resource name. A refusal is a *restclient.APIError.
func (a *Agent) Pair(ctx context.Context) (string, error) {
	body := map[string]any{
		"integrationToken": a.cfg.Token,
		"systemType":       a.cfg.Type,
		"webhook":          map[string]string{"url": a.cfg.WebhookURL, "mode": a.cfg.Mode},
	}
	if a.cfg.BaseURL != "" {
		body["baseUrl"] = a.cfg.BaseURL
	}
	if a.cfg.ExternalID != "" {
		body["externalId"] = a.cfg.ExternalID
	}
	raw, err := a.api.Do(ctx, http.MethodPost, "/v1/systems:pair", nil, body)
	if err != nil {
		return "", err
	}
	var sys struct {
		Name          string `json:"name"`
		WebhookSecret string `json:"webhookSecret"`
	}
	if err := json.Unmarshal(raw, &sys); err != nil {
		return "", fmt.Errorf("the pairing answer is not a system: %w", err)
	}
	if _, err := webhook.Key(sys.WebhookSecret); err != nil {
		return "", errors.New("the pairing answer holds no usable webhook secret")
	}
	a.mu.Lock()
	a.system, a.secret = sys.Name, sys.WebhookSecret
	a.mu.Unlock()
	return sys.Name, nil
}

// SetSecret replaces the secret (after `landscape systems
// rotate-webhook-secret`); the old one stops verifying.
func (a *Agent) SetSecret(secret string) error {
	if _, err := webhook.Key(secret); err != nil {
		return err
	}
	a.mu.Lock()
	a.secret = secret
	a.mu.Unlock()
	return nil
}

// ServeHTTP receives notifications: POST only, signed with the system's
// secret (else 401), JSON (else 400).
func (a *Agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxNotification+1))
	if err != nil || len(body) > maxNotification {
		http.Error(w, "body unreadable or too large", http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	secret := a.secret
	a.mu.Unlock()
	if secret == "" {
		http.Error(w, "not paired yet", http.StatusServiceUnavailable)
		return
	}
	if err := webhook.VerifyRequest([]string{secret}, r.Header, body, time.Now()); err != nil {
		http.Error(w, "signature does not verify", http.StatusUnauthorized)
		return
	}
	id := r.Header.Get(webhook.HeaderID)
	if prev, ok := a.remembered(id); ok {
		writeAnswer(w, prev.code, prev.body)
		return
	}
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil || n.Type == "" || n.Formation.Name == "" {
		http.Error(w, "not a notification", http.StatusBadRequest)
		return
	}
	a.apply(n)
	code, answer := http.StatusOK, []byte(`{"configuration":`+string(a.cfg.Configuration)+`}`)
	if a.cfg.Mode == ModeAsync && n.Type != "assignment.deleted" && n.StatusURL != "" {
		code, answer = http.StatusAccepted, nil
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			_ = a.Report(context.Background(), n.StatusURL)
		}()
	}
	a.remember(id, code, answer)
	writeAnswer(w, code, answer)
	if a.cfg.OnChange != nil {
		a.cfg.OnChange(n)
	}
}

func writeAnswer(w http.ResponseWriter, code int, body []byte) {
	if body != nil {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func (a *Agent) remembered(id string) (seenAnswer, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.seen[id]
	return s, ok && time.Since(s.at) < seenFor
}

func (a *Agent) remember(id string, code int, body []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	for k, s := range a.seen {
		if now.Sub(s.at) >= seenFor {
			delete(a.seen, k)
		}
	}
	a.seen[id] = seenAnswer{code: code, body: body, at: now}
}

// apply records what a notification says.
func (a *Agent) apply(n Notification) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n.Type == "assignment.deleted" {
		delete(a.members, n.Formation.Name)
		return
	}
	peers := slices.Clone(n.Peers)
	slices.SortFunc(peers, func(x, y Member) int { return strings.Compare(x.System, y.System) })
	a.members[n.Formation.Name] = Membership{Formation: n.Formation, Assignment: n.Assignment, Peers: peers, Updated: time.Now().UTC()}
}

// Report sends the asynchronous answer: READY with the configuration,
// signed with the system's secret, to statusURL. It tries for up to a
// minute while the server is unreachable or answers 5xx.
func (a *Agent) Report(ctx context.Context, statusURL string) error {
	body := []byte(`{"state":"READY","configuration":` + string(a.cfg.Configuration) + `}`)
	wait := 200 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	for {
		code, err := a.report(ctx, statusURL, body)
		if err == nil && code/100 == 2 {
			return nil
		}
		if err == nil && code < 500 {
			return fmt.Errorf("the status callback was refused: %d", code)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the status callback failed: %v (status %d)", err, code)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait + rand.N(wait/2)):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func (a *Agent) report(ctx context.Context, statusURL string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, statusURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	a.mu.Lock()
	secret := a.secret
	a.mu.Unlock()
	// A fresh id per attempt: the server refuses an id it has seen.
	webhook.SetHeaders(req.Header, []string{secret}, newCallbackID(), time.Now(), body)
	res, err := a.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	_ = res.Body.Close()
	return res.StatusCode, nil
}

func newCallbackID() string {
	return fmt.Sprintf("cb_%016x%016x", rand.Uint64(), rand.Uint64())
}

// Wait waits for the status callbacks in flight.
func (a *Agent) Wait() { a.wg.Wait() }

// Learned returns what the agent knows, formations sorted by name.
func (a *Agent) Learned() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := State{System: a.system, Webhook: a.cfg.WebhookURL, Mode: a.cfg.Mode, Configuration: a.cfg.Configuration, Formations: []Membership{}}
	for _, k := range slices.Sorted(maps.Keys(a.members)) {
		st.Formations = append(st.Formations, a.members[k])
	}
	return st
}
