// Package auditconsumer builds the audit trail (package audit) from the
// event streams of the three contexts: one durable consumer per stream,
// each event recorded once (by its id) with its actor, cause, revision
// and resource.
package auditconsumer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/subscriber"
	"github.com/landscape-dev/landscape/services/registry/audit"
)

// Contexts are the contexts whose events the trail holds.
var Contexts = []string{"registry", "token", "formation"}

// Config is the durable consumer of one context's stream: every event of
// every global account.
func Config(context string) subscriber.Config {
	return subscriber.Config{
		Service:       "registry",
		Stream:        cloudevent.StreamName(context),
		Durable:       natsconn.AuditDurable(context),
		FilterSubject: cloudevent.StreamSubjects(context),
	}
}

// secretFields are data fields that must never reach the trail. No event
// carries them today (the services publish no secret); dropping them here
// keeps a future mistake out of a store that is kept for a year.
var secretFields = []string{"webhookSecret", "secret", "integrationToken"}

// Handler records a batch of events (subscriber.RunBatch) in one round
// trip. An event whose data is not a JSON object is refused to the
// dead-letter stream; a store failure is retried.
func Handler(svc *audit.Service) subscriber.BatchHandler {
	return func(ctx context.Context, evs []cloudevent.Event) error {
		es := make([]audit.Entry, len(evs))
		for i, ev := range evs {
			e, err := Entry(ev)
			if err != nil {
				return subscriber.Reject(err)
			}
			es[i] = e
		}
		return svc.Record(ctx, es...)
	}
}

// Entry is the audit entry of ev: its envelope, the payload's revision and
// the resource as in the payload (the field named after the event's
// entity: system, token, formation or assignment; the payload without its
// revision when there is no such field), without secret fields.
func Entry(ev cloudevent.Event) (audit.Entry, error) {
	if !audit.ValidID(ev.ID) {
		return audit.Entry{}, fmt.Errorf("event id %q is not an id", ev.ID)
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		return audit.Entry{}, fmt.Errorf("event %s: data is not a JSON object: %w", ev.ID, err)
	}
	rev, err := revision(data["revision"])
	if err != nil {
		return audit.Entry{}, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	res, err := resourceOf(ev.Type, data)
	if err != nil {
		return audit.Entry{}, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	return audit.Entry{
		ID: ev.ID, GlobalAccount: ev.GlobalAccount, Time: ev.Time.UTC(), Type: ev.Type, Subject: ev.Subject,
		Actor: ev.Actor, CausedBy: ev.CausedBy, Revision: rev, Resource: res,
	}, nil
}

// revision reads the payload's revision: an int64, a string in protojson.
func revision(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 {
		return 0, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("revision %s is not an integer", raw)
	}
	return n, nil
}

// entityOf is the data field of an event type's resource: the first word
// of the message name, lower-cased (SystemRegistered: system;
// AssignmentStateChanged: assignment).
func entityOf(eventType string) string {
	name := eventType[strings.LastIndexByte(eventType, '.')+1:]
	end := len(name)
	for i, r := range name {
		if i > 0 && unicode.IsUpper(r) {
			end = i
			break
		}
	}
	return strings.ToLower(name[:end])
}

func resourceOf(eventType string, data map[string]json.RawMessage) (json.RawMessage, error) {
	raw := data[entityOf(eventType)]
	if len(raw) == 0 || raw[0] != '{' {
		rest := make(map[string]json.RawMessage, len(data))
		for k, v := range data {
			if k != "revision" {
				rest[k] = v
			}
		}
		return withoutSecrets(rest)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("resource is not a JSON object: %w", err)
	}
	for _, f := range secretFields {
		if _, ok := obj[f]; ok {
			return withoutSecrets(obj)
		}
	}
	return compact(raw)
}

func withoutSecrets(obj map[string]json.RawMessage) (json.RawMessage, error) {
	for _, f := range secretFields {
		delete(obj, f)
	}
	return json.Marshal(obj)
}

func compact(raw json.RawMessage) (json.RawMessage, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
