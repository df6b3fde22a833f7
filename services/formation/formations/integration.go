package formations

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/eventctx"
	"github.com/landscape-dev/landscape/pkg/retry"
)

// Integration tunes webhook deliveries (docs/API.md, "Formation
// integration"). Zero values take the defaults.
type Integration struct {
	// RetryFor is how long failed deliveries are retried before ERROR
	// (24 h).
	RetryFor time.Duration
	// CallbackTimeout is how long a 202 answer waits for its status
	// callback before ERROR (1 h).
	CallbackTimeout time.Duration
	// RetryBase and RetryMax shape the waits between attempts (1 s,
	// doubling, at most 10 min).
	RetryBase, RetryMax time.Duration
	// Scheduled is told after a step scheduled deliveries due now, so a
	// local engine starts at once instead of at its next poll.
	Scheduled func()
}

func (o Integration) withDefaults() Integration {
	if o.RetryFor <= 0 {
		o.RetryFor = 24 * time.Hour
	}
	if o.CallbackTimeout <= 0 {
		o.CallbackTimeout = time.Hour
	}
	if o.RetryBase <= 0 {
		o.RetryBase = time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 10 * time.Minute
	}
	return o
}

// Integrate sets the webhook delivery options.
func (s *Service) Integrate(o Integration) { s.integ = o.withDefaults() }

// NewWebhookID draws a webhook-id: "msg_" and 26 random base32 characters.
func NewWebhookID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "msg_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// notify adds to step a new delivery of typ to the system, replacing any
// pending one (one that is out stays out: the new one waits for its
// answer). A member's own assignment.created is urgent: its answer
// decides the member's READY.
func notify(step *Step, f *Formation, systemID string, typ NotificationType, round int, now time.Time) {
	step.Deliveries = append(step.Deliveries, DeliveryPut{
		Ref: DeliveryRef{GlobalAccount: f.GlobalAccount, FormationID: f.ID, SystemID: systemID},
		Next: &Delivery{
			ID: NewWebhookID(), Type: typ, SystemID: systemID,
			FormationID: f.ID, FormationType: f.Type, Environment: f.Environment,
			Round: round, Due: now,
		},
		KeepPlace: true,
		Urgent:    typ == NotifyAssignmentCreated,
	})
}

// notified reports whether an assignment takes part in notifications:
// its system has a webhook and it is neither waiting for its pairing nor
// in ERROR.
func notified(a Assignment) bool {
	return a.Webhook && (a.State == Ready || a.State == Synchronizing)
}

// notifyPeers sends peers.changed to every notified member of next but
// except, moving each to SYNCHRONIZING, and records the state changes.
func notifyPeers(step *Step, b *builder, next *Formation, except string, round int, now time.Time) {
	if round > MaxRounds {
		return
	}
	for i, a := range next.Assignments {
		if a.SystemID == except || !notified(a) {
			continue
		}
		notify(step, next, a.SystemID, NotifyPeersChanged, round, now)
		if a.State != Synchronizing {
			next.Assignments[i].State = Synchronizing
			b.add(AssignmentStateChanged, next.Assignments[i], a.State)
		}
	}
}

// scheduled tells the local engine when a committed step scheduled work.
func (s *Service) scheduled(step Step) {
	if len(step.Deliveries)+len(step.Released) > 0 && s.integ.Scheduled != nil {
		s.integ.Scheduled()
	}
}

// Outcome is what came of one delivery attempt.
type Outcome struct {
	Kind OutcomeKind
	// Configuration is the JSON object of a 200 answer (nil: none).
	Configuration []byte
	// Message describes a failure (no secret in it).
	Message string
}

// OutcomeKind classifies an attempt.
type OutcomeKind int

// The outcomes of docs/API.md, "Formation integration".
const (
	// Delivered: 2xx (not 202); READY.
	Delivered OutcomeKind = iota
	// Accepted: 202; a status callback is awaited.
	Accepted
	// Failed: 5xx, 408, 429, timeout, refused connection; retried.
	Failed
	// Refused: another 4xx or a bad answer; ERROR at once.
	Refused
	// Gone: 410; the webhook is disabled, ERROR.
	Gone
	// CallbackMissed: no status callback came before the deadline; ERROR.
	CallbackMissed
	// NoWebhook: the system has no webhook (any more); READY.
	NoWebhook
)

// Deliver applies the outcome of an attempt at delivery d (as read when
// claimed) and ends its claim. A delivery replaced meanwhile (a newer
// notification waits for this answer) keeps its state: the newer one's
// answer decides it; only a configuration in a 200 answer is stored and
// sent to the peers, since it is the system's all the same.
//
// Its events are the formation service's own (actor service:formation)
// and name the notification's cause as causedby.
func (s *Service) Deliver(ctx context.Context, ref DeliveryRef, d *Delivery, o Outcome) error {
	ctx = answerContext(ctx, d)
	_, err := retry.OnConflict(ctx, ErrConflict, func() (*Formation, error) {
		cur, f, err := s.repo.Pending(ctx, ref)
		if err != nil {
			return nil, err
		}
		now := s.clock()
		step := Step{GlobalAccount: ref.GlobalAccount, Released: []DeliveryRef{ref}}
		if cur == nil || cur.ID != d.ID {
			s.superseded(&step, ref, d, cur, f, o, now)
			return nil, s.commit(ctx, step)
		}
		put := DeliveryPut{Ref: ref, Expect: cur.Version}
		var (
			state = Ready
			msg   string
		)
		switch o.Kind {
		case Accepted:
			if cur.Reported {
				// The system's status callback overtook its 202: it
				// settled the assignment already.
				step.Deliveries = []DeliveryPut{put}
				err := s.commit(ctx, step)
				return nil, err
			}
			next := *cur
			next.Awaiting, next.Due, next.LastError = true, now.Add(s.integ.CallbackTimeout), ""
			next.Attempts++
			put.Next = &next
			state = Synchronizing
		case Failed:
			next := *cur
			next.Attempts++
			if next.First.IsZero() {
				next.First = now
			}
			if now.Sub(next.First) >= s.integ.RetryFor {
				state, msg = Error, fmt.Sprintf("the webhook failed for %s (%d attempts); last: %s", s.integ.RetryFor, next.Attempts, o.Message)
				break
			}
			next.Due = now.Add(Backoff(next.Attempts, s.integ.RetryBase, s.integ.RetryMax))
			next.LastError = o.Message
			put.Next = &next
			state, msg = Synchronizing, fmt.Sprintf("attempt %d failed: %s; next attempt at %s", next.Attempts, o.Message, next.Due.Format(time.RFC3339))
		case Refused:
			state, msg = Error, o.Message
		case Gone:
			state, msg = Error, "the webhook answered 410 Gone and is disabled; resynchronize the formation to enable it again"
			step.DisableWebhooks = []string{ref.SystemID}
		case CallbackMissed:
			state, msg = Error, fmt.Sprintf("no status report within %s of the 202 answer", s.integ.CallbackTimeout)
		}
		step.Deliveries = []DeliveryPut{put}
		if f != nil && cur.Type != NotifyAssignmentDeleted {
			s.settle(&step, f, ref.SystemID, state, msg, o.Configuration, cur.Round, now)
		}
		return nil, s.commit(ctx, step)
	})
	return err
}

// superseded records the answer to notification d, which a newer
// notification cur replaced while d was out (cur nil: the delivery is
// gone). An urgent d hands its urgency to cur, which now decides the
// member's state; a configuration d's 200 answer brought is stored and
// sent to the peers.
func (s *Service) superseded(step *Step, ref DeliveryRef, d, cur *Delivery, f *Formation, o Outcome, now time.Time) {
	if cur == nil {
		return
	}
	if d.Urgent {
		next := *cur
		step.Deliveries = append(step.Deliveries, DeliveryPut{Ref: ref, Expect: cur.Version, Next: &next, KeepPlace: true, Urgent: true})
	}
	if o.Kind == Delivered && o.Configuration != nil && f != nil &&
		d.Type != NotifyAssignmentDeleted && cur.Type != NotifyAssignmentDeleted {
		s.learn(step, f, ref.SystemID, nil, o.Configuration, d.Round, now)
	}
}

// settle sets the assignment's state after an answer and, when a READY
// answer brought a new configuration, notifies its peers.
func (s *Service) settle(step *Step, f *Formation, systemID string, state State, msg string, config []byte, round int, now time.Time) {
	s.learn(step, f, systemID, &answered{state, msg}, config, round, now)
}

// answered is the state an answer sets.
type answered struct {
	state State
	msg   string
}

// learn records an answer of the system: the state it sets (nil: the
// state stays, a newer notification decides it) and its configuration
// (nil: none), which, when new, is sent to the peers.
func (s *Service) learn(step *Step, f *Formation, systemID string, set *answered, config []byte, round int, now time.Time) {
	i := f.Assignment(systemID)
	if i < 0 {
		return
	}
	old := f.Assignments[i]
	if old.State == Pending {
		return // the system left REGISTERED meanwhile; its pairing decides
	}
	next := f.Clone()
	a := &next.Assignments[i]
	accepts := a.State == Ready || a.State == Synchronizing
	if set != nil {
		a.State, a.StateMessage = set.state, set.msg
		accepts = set.state == Ready
	}
	configChanged := accepts && config != nil && !bytes.Equal(config, old.Configuration)
	if configChanged {
		a.Configuration, a.ConfigurationTime = config, now
	}
	if sameAssignment(*a, old) && !configChanged {
		return
	}
	next.UpdateTime = now
	b := newBuilder(next, f.Revision, now)
	b.add(AssignmentStateChanged, *a, old.State)
	if configChanged {
		notifyPeers(step, b, next, systemID, round+1, now)
	}
	b.close(step, f)
}

// answerContext is the context of a change made on a system's answer to
// notification d (nil: none is awaited): the formation service records
// it on its own (actor service:formation), in reaction to the event that
// made the notification (causedby), whoever made that change. The answer
// is the system's, whose only credential is its webhook secret, which
// names no actor.
func answerContext(ctx context.Context, d *Delivery) context.Context {
	const actor = eventctx.ServicePrefix + "formation"
	if d == nil || d.Cause == "" {
		return eventctx.With(eventctx.WithActor(ctx, actor), eventctx.CausedBy, "")
	}
	return eventctx.Reaction(ctx, d.Cause, actor)
}

// reportedHold keeps a delivery whose callback overtook its answer out of
// the schedule while the answer is recorded (longer than any attempt).
const reportedHold = time.Minute

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// StatusReport is a system's status callback, as signed.
type StatusReport struct {
	Ref                             DeliveryRef
	Payload                         []byte
	WebhookID, Timestamp, Signature string
}

// replayWindow keeps callback ids: longer than the timestamp tolerance on
// both sides, so a replay is refused by one or the other.
const replayWindow = 11 * time.Minute

// ErrBadCallback is wrapped by every refusal of a status callback; the
// transport answers 401.
var ErrBadCallback = errors.New("status report not authenticated")

// Verifier checks a Standard Webhooks signature (pkg/webhook.Verify).
type Verifier func(secrets []string, id, timestamp, signature string, body []byte, now time.Time) error

// ReportStatus applies a system's status callback: it must be signed with
// the system's secret, recent and new; then READY (with an optional
// configuration, sent to the peers) or ERROR with the message.
func (s *Service) ReportStatus(ctx context.Context, r StatusReport, verify Verifier) (*Formation, error) {
	unauth := func(why string) error {
		return apperr.New(apperr.Unauthenticated, "status report refused: "+why, "assignment", AssignmentSubject(r.Ref.GlobalAccount, r.Ref.FormationID, r.Ref.SystemID))
	}
	secrets, err := s.dir.WebhookSecrets(ctx, r.Ref.GlobalAccount, r.Ref.SystemID)
	if err != nil && !errors.Is(err, apperr.New(apperr.SystemNotFound, "")) {
		return nil, err
	}
	if len(secrets) == 0 {
		return nil, unauth("the system has no webhook secret")
	}
	if err := verify(secrets, r.WebhookID, r.Timestamp, r.Signature, r.Payload, s.clock()); err != nil {
		return nil, unauth(err.Error())
	}
	first, err := s.repo.FirstCallback(ctx, r.Ref.GlobalAccount, r.WebhookID, replayWindow)
	if err != nil {
		return nil, err
	}
	if !first {
		return nil, unauth("webhook-id already used")
	}
	var body struct {
		State         string          `json:"state"`
		Configuration json.RawMessage `json:"configuration"`
		Message       string          `json:"message"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return nil, apperr.Invalid("payload", "must be a JSON object {state, configuration, message}")
	}
	var config []byte
	if len(body.Configuration) > 0 && string(body.Configuration) != "null" {
		if body.Configuration[0] != '{' {
			return nil, apperr.Invalid("configuration", "must be a JSON object")
		}
		config = CanonicalJSON(body.Configuration)
	}
	var state State
	switch body.State {
	case "READY":
		state = Ready
	case "ERROR":
		state = Error
		if body.Message == "" {
			body.Message = "the system reported an error"
		}
	default:
		return nil, apperr.Invalid("state", "must be READY or ERROR")
	}
	msg := cut(body.Message, 1024)
	if state == Ready {
		msg = ""
	}
	return retry.OnConflict(ctx, ErrConflict, func() (*Formation, error) {
		d, f, err := s.repo.Pending(ctx, r.Ref)
		if err != nil {
			return nil, err
		}
		if f == nil {
			return nil, formationNotFound(r.Ref.GlobalAccount, r.Ref.FormationID)
		}
		if f.Assignment(r.Ref.SystemID) < 0 {
			return nil, apperr.New(apperr.SystemNotAssigned, "the system is not assigned to this formation",
				"formation", f.Name(), "system", r.Ref.SystemID)
		}
		step := Step{GlobalAccount: r.Ref.GlobalAccount}
		round := 0
		now := s.clock()
		cctx := answerContext(ctx, nil)
		if d != nil && d.Awaiting {
			step.Deliveries = []DeliveryPut{{Ref: r.Ref, Expect: d.Version}}
			round = d.Round
			cctx = answerContext(ctx, d)
		} else if d != nil && !d.Reported {
			// The callback overtook the recording of the 202 (or
			// answers an earlier notification): mark the delivery so
			// that its 202 awaits nothing more.
			next := *d
			next.Reported = true
			// Out of the workers' reach meanwhile, as its claim was.
			next.Due = later(d.Due, now.Add(reportedHold))
			step.Deliveries = []DeliveryPut{{Ref: r.Ref, Expect: d.Version, Next: &next}}
			round = d.Round
			cctx = answerContext(ctx, d)
		}
		s.settle(&step, f, r.Ref.SystemID, state, msg, config, round, now)
		if len(step.Puts) == 0 && len(step.Deliveries) == 0 {
			return f, nil
		}
		if err := s.commit(cctx, step); err != nil {
			return nil, err
		}
		if len(step.Puts) > 0 {
			return step.Puts[0].Next, nil
		}
		return f, nil
	})
}

// Resynchronize notifies again every assignment that has a webhook and is
// not READY (SYNCHRONIZING or ERROR), with a new webhook-id, and enables
// their webhooks again if one answered 410.
func (s *Service) Resynchronize(ctx context.Context, ga, id string) (*Formation, error) {
	return retry.OnConflict(ctx, ErrConflict, func() (*Formation, error) {
		f, err := s.get(ctx, ga, id)
		if err != nil {
			return nil, err
		}
		now := s.clock()
		next := f.Clone()
		b := newBuilder(next, f.Revision, now)
		step := Step{GlobalAccount: ga}
		for i, a := range next.Assignments {
			if !a.Webhook || a.State == Ready || a.State == Pending {
				continue
			}
			notify(&step, next, a.SystemID, NotifyAssignmentCreated, 0, now)
			step.EnableWebhooks = append(step.EnableWebhooks, a.SystemID)
			if a.State != Synchronizing || a.StateMessage != "" {
				next.Assignments[i].State, next.Assignments[i].StateMessage = Synchronizing, ""
				b.add(AssignmentStateChanged, next.Assignments[i], a.State)
			}
		}
		if len(step.Deliveries) == 0 {
			return f, nil
		}
		next.UpdateTime = now
		b.stateChange(f.State())
		b.finish()
		if len(b.events) > 0 {
			step.Puts = []Put{{Prev: f, Next: next}}
			step.Events = b.events
		} else {
			next = f
		}
		if err := s.commit(ctx, step); err != nil {
			return nil, err
		}
		return next, nil
	})
}

// CanonicalJSON rewrites a JSON value compactly with sorted object keys,
// so that equal configurations compare equal byte for byte.
func CanonicalJSON(b []byte) []byte {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return slices.Clone(b)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return slices.Clone(b)
	}
	return out
}

// ParseAnswer reads the configuration of a 200 answer: empty, or a JSON
// object with an optional "configuration" object.
func ParseAnswer(body []byte) ([]byte, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	var a struct {
		Configuration json.RawMessage `json:"configuration"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, errors.New("the answer is not a JSON object")
	}
	if len(a.Configuration) == 0 || string(a.Configuration) == "null" {
		return nil, nil
	}
	if a.Configuration[0] != '{' {
		return nil, errors.New("the answer's configuration is not a JSON object")
	}
	return CanonicalJSON(a.Configuration), nil
}

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// sameAssignment compares two assignments field by field.
func sameAssignment(a, b Assignment) bool {
	return a.SystemID == b.SystemID && a.SystemType == b.SystemType && a.State == b.State &&
		a.APIAccessEnabled == b.APIAccessEnabled && a.AssignTime.Equal(b.AssignTime) &&
		a.StateMessage == b.StateMessage && bytes.Equal(a.Configuration, b.Configuration) &&
		a.ConfigurationTime.Equal(b.ConfigurationTime) && a.Webhook == b.Webhook
}
