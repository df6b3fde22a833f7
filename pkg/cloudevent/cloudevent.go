// Package cloudevent builds and reads the event envelope of Landscape:
// CloudEvents 1.0 in structured JSON mode (docs/API.md, "Events"), with the payload
// proto message as protojson in data, published on the NATS subject
// landscape.<context>.<globalAccount>.<entity>.<event>.
package cloudevent

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/landscape-dev/landscape/pkg/eventctx"
)

// ContentType is the content type of a structured-mode CloudEvent.
const ContentType = "application/cloudevents+json"

// Event is the CloudEvents 1.0 envelope as it travels.
type Event struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	GlobalAccount   string    `json:"globalaccount"`
	// Extension attributes (package eventctx): who made the change, and
	// for a reaction the id of the event it reacts to.
	Actor    string          `json:"actor,omitempty"`
	CausedBy string          `json:"causedby,omitempty"`
	Data     json.RawMessage `json:"data"`
}

// Message is an encoded event ready to publish: the NATS subject, the
// CloudEvent id (also the JetStream Nats-Msg-Id) and the JSON body.
type Message struct {
	Subject string
	ID      string
	Body    []byte

	extAt int // where WithAttrs inserts extension attributes: before "data"
}

// WithAttrs returns m with the extension attributes in its envelope,
// right before data, in the order given (outbox.Tx.Commit adds those of
// the commit's context). Invalid names (and the envelope's own) are skipped;
// m itself is not changed.
func (m Message) WithAttrs(attrs eventctx.Attrs) Message {
	if len(attrs) == 0 || m.extAt <= 0 || m.extAt > len(m.Body) {
		return m
	}
	b := make([]byte, 0, len(m.Body)+32*len(attrs))
	b = append(b, m.Body[:m.extAt]...)
	for _, a := range attrs {
		if !eventctx.ValidName(a.Name) { // also refuses the envelope's own names
			continue
		}
		b = append(b, ',', '"')
		b = append(b, a.Name...)
		b = append(b, '"', ':')
		b = appendString(b, a.Value)
	}
	b = append(b, m.Body[m.extAt:]...)
	m.Body = b
	return m
}

// Spec names one event of a context, e.g. {Context: "registry",
// Name: "system.registered"}.
type Spec struct {
	Context string // registry, token, formation
	Name    string // <entity>.<event>, e.g. system.registered
}

// NATSSubject is landscape.<context>.<ga>.<entity>.<event>.
func (s Spec) NATSSubject(ga string) string {
	return "landscape." + s.Context + "." + ga + "." + s.Name
}

// StreamSubjects is the subject filter of a context's stream.
func StreamSubjects(context string) string { return "landscape." + context + ".>" }

// EntitySubjects is the subject filter of one entity's events of a
// context in every global account, e.g. landscape.registry.*.system.>.
func EntitySubjects(context, entity string) string {
	return "landscape." + context + ".*." + entity + ".>"
}

// TypeOf is the event type of a payload: its proto message's full name
// (landscape.registry.v1.SystemRegistered).
func TypeOf(payload proto.Message) string {
	return string(payload.ProtoReflect().Descriptor().FullName())
}

// StreamName is the JetStream stream of a context, e.g. LANDSCAPE_REGISTRY.
func StreamName(context string) string { return "LANDSCAPE_" + strings.ToUpper(context) }

// New encodes payload as the event spec for the resource named subject in
// global account ga. The type is the payload's proto full name.
//
// The envelope is appended byte by byte (no reflection, no re-compaction
// of data): the attributes in the order of Event, then data, the protojson
// of payload, appended in place (see appendData).
func New(spec Spec, ga, subject string, payload proto.Message, at time.Time) (Message, error) {
	id := NewID(at)
	typ := payload.ProtoReflect().Descriptor().FullName()
	b := make([]byte, 0, 256+len(subject)+len(ga)+len(typ)+len(spec.Context))
	b = append(b, `{"specversion":"1.0","id":"`...)
	b = append(b, id...) // base32 alphabet: nothing to escape
	b = append(b, `","source":"/landscape/`...)
	b = appendEscaped(b, spec.Context)
	b = append(b, `","type":`...)
	b = appendString(b, string(typ))
	b = append(b, `,"subject":`...)
	b = appendString(b, subject)
	b = append(b, `,"time":"`...)
	b = at.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","datacontenttype":"application/json","globalaccount":`...)
	b = appendString(b, ga)
	extAt := len(b)
	b = append(b, `,"data":`...)
	b, err := appendData(b, payload)
	if err != nil {
		return Message{}, fmt.Errorf("cloudevent: marshal %s: %w", spec.Name, err)
	}
	b = append(b, '}')
	return Message{Subject: spec.NATSSubject(ga), ID: id, Body: b, extAt: extAt}, nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, invalid UTF-8 replaced by
// U+FFFD as encoding/json does (envelope attributes come from validated
// names; this keeps a bad one from breaking the JSON).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

// appendEscaped appends the characters of s as in a JSON string, without
// quotes, as protojson writes them: quotes, backslashes and control
// characters escaped, nothing else. Invalid UTF-8 is replaced by U+FFFD.
func appendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				start = i + 1
			}
			i += n
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	return append(b, s[start:]...)
}

// Decode reads an envelope.
func Decode(body []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return Event{}, fmt.Errorf("cloudevent: decode: %w", err)
	}
	if ev.SpecVersion != "1.0" || ev.ID == "" || ev.Type == "" {
		return Event{}, fmt.Errorf("cloudevent: not a CloudEvents 1.0 envelope")
	}
	return ev, nil
}

var unmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

// UnmarshalData decodes the event's data into payload, checking that the
// event's type is the payload's full name.
func (e Event) UnmarshalData(payload proto.Message) error {
	if want := string(payload.ProtoReflect().Descriptor().FullName()); e.Type != want {
		return fmt.Errorf("cloudevent: event type %q is not %q", e.Type, want)
	}
	return unmarshal.Unmarshal(e.Data, payload)
}

const idAlphabet = "0123456789abcdefghijklmnopqrstuv"

// NewID returns a unique, time-ordered id: 10 base32 characters of
// milliseconds then 16 of randomness (80 bits).
func NewID(at time.Time) string {
	var b [26]byte
	ms := uint64(at.UnixMilli())
	for i := 9; i >= 0; i-- {
		b[i] = idAlphabet[ms&31]
		ms >>= 5
	}
	var r [10]byte
	_, _ = rand.Read(r[:])
	for i := 0; i < 16; i++ {
		// 16 characters x 5 bits = 80 bits from the 10 random bytes.
		bit := i * 5
		v := (uint16(r[bit/8]) << 8)
		if bit/8+1 < len(r) {
			v |= uint16(r[bit/8+1])
		}
		b[10+i] = idAlphabet[(v>>(11-bit%8))&31]
	}
	return string(b[:])
}

// TraceparentAttr is the CloudEvents distributed tracing extension
// attribute: the W3C traceparent of the change that emitted the event.
const TraceparentAttr = "traceparent"

var (
	dataKey        = []byte(`,"data":`)
	traceparentKey = []byte(`"traceparent":"`)
)

// TraceparentOf returns an encoded event's traceparent extension attribute
// ("" without one) without decoding it: the relay and the subscribers read
// it for every event. Extension attributes precede data, whose keys are
// not looked at; a quote inside a string value is escaped, so the key
// cannot be matched inside one.
func TraceparentOf(body []byte) string {
	head := body
	if i := bytes.Index(body, dataKey); i >= 0 {
		head = body[:i]
	}
	i := bytes.Index(head, traceparentKey)
	if i < 0 {
		return ""
	}
	rest := head[i+len(traceparentKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 || j > 128 {
		return ""
	}
	return string(rest[:j])
}
