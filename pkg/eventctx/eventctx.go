// Package eventctx carries, in a context, the CloudEvents extension
// attributes that every event committed under that context gets: who made
// the change (actor), which event it reacts to (causedby), and whatever a
// later attribute needs (a trace's traceparent). Set them where a change
// starts (the gRPC server for a caller, a subscriber for a reaction, a
// handler that learns its actor itself); outbox.Tx.Commit writes them
// into each event's envelope, so the relay publishes exactly what was
// committed.
//
// Between services they travel as gRPC metadata (Metadata, FromMetadata),
// accepted only from callers holding the service credential.
//
// The package is transport-free: it imports no gRPC.
package eventctx

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"
)

// Extension attribute names (CloudEvents: lower-case letters and digits).
const (
	// Actor: user:<JWT sub>, token:<integration token resource name>, or
	// service:<registry|token|formation>.
	Actor = "actor"
	// CausedBy: the id of the event a reaction reacts to.
	CausedBy = "causedby"
)

// Actor prefixes.
const (
	UserPrefix    = "user:"
	TokenPrefix   = "token:"
	ServicePrefix = "service:"
)

// MetadataPrefix and MetadataSuffix frame the gRPC metadata key of an
// attribute between services: landscape-ce-<name>-bin (a binary key, so a
// JWT sub in any script travels unchanged).
const (
	MetadataPrefix = "landscape-ce-"
	MetadataSuffix = "-bin"
)

// MaxValueLen bounds an attribute's value; a longer one from metadata is
// dropped.
const MaxValueLen = 1024

// Attr is one extension attribute.
type Attr struct {
	Name, Value string
}

// Attrs are extension attributes, sorted by name, each name once.
type Attrs []Attr

// Get returns the value of name, or "".
func (a Attrs) Get(name string) string {
	for _, x := range a {
		if x.Name == name {
			return x.Value
		}
	}
	return ""
}

// with returns a copy of a with name set to value ("" removes it).
func (a Attrs) with(name, value string) Attrs {
	out := make(Attrs, 0, len(a)+1)
	for _, x := range a {
		if x.Name != name {
			out = append(out, x)
		}
	}
	if value != "" {
		out = append(out, Attr{name, value})
	}
	slices.SortFunc(out, func(x, y Attr) int { return strings.Compare(x.Name, y.Name) })
	return out
}

type key struct{}

// With returns ctx whose events carry the attribute name = value, replacing
// an earlier value; an empty value removes it. name must be a valid
// CloudEvents attribute name (lower-case letters and digits).
func With(ctx context.Context, name, value string) context.Context {
	return context.WithValue(ctx, key{}, From(ctx).with(name, value))
}

// WithActor returns ctx whose events carry actor.
func WithActor(ctx context.Context, actor string) context.Context {
	return With(ctx, Actor, actor)
}

// Reaction returns ctx for a change made in reaction to the event id whose
// actor was actor: its events keep that actor and carry causedby = id. An
// event without an actor (published before actors existed) leaves the
// reaction to the service itself (outbox.Tx.Commit then names it).
func Reaction(ctx context.Context, id, actor string) context.Context {
	return With(With(ctx, Actor, actor), CausedBy, id)
}

// From returns the attributes of ctx (nil when none).
func From(ctx context.Context) Attrs {
	a, _ := ctx.Value(key{}).(Attrs)
	return a
}

// Metadata returns the attributes of ctx as gRPC metadata key-value pairs
// (landscape-ce-<name>-bin, value), for a call to another service.
func Metadata(ctx context.Context) []string {
	a := From(ctx)
	if len(a) == 0 {
		return nil
	}
	kv := make([]string, 0, 2*len(a))
	for _, x := range a {
		kv = append(kv, MetadataPrefix+x.Name+MetadataSuffix, x.Value)
	}
	return kv
}

// FromMetadata returns ctx with the attributes found in md (gRPC metadata:
// lower-case keys, their decoded values); for callers with the service
// credential only. Keys that are not valid attribute names, values that are
// too long, not UTF-8 or hold control characters, and actors of an unknown
// kind are dropped.
func FromMetadata(ctx context.Context, md map[string][]string) context.Context {
	for k, vs := range md {
		name, ok := strings.CutPrefix(k, MetadataPrefix)
		name, bin := strings.CutSuffix(name, MetadataSuffix)
		if !ok || !bin || len(vs) != 1 || !ValidName(name) || !validValue(vs[0]) {
			continue
		}
		if name == Actor && !ValidActor(vs[0]) {
			continue
		}
		ctx = With(ctx, name, vs[0])
	}
	return ctx
}

// ValidName reports whether name is a CloudEvents extension name we accept:
// 1-20 lower-case ASCII letters or digits, not one of the envelope's own
// attributes.
func ValidName(name string) bool {
	if name == "" || len(name) > 20 || reserved[name] {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// reserved are the envelope's own attribute names.
var reserved = map[string]bool{
	"specversion": true, "id": true, "source": true, "type": true, "subject": true, "time": true,
	"datacontenttype": true, "dataschema": true, "data": true, "globalaccount": true,
}

func validValue(v string) bool {
	if v == "" || len(v) > MaxValueLen || !utf8.ValidString(v) {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return false
		}
	}
	return true
}

// ValidActor reports whether actor has one of the three kinds and a name.
func ValidActor(actor string) bool {
	for _, p := range []string{UserPrefix, TokenPrefix, ServicePrefix} {
		if rest, ok := strings.CutPrefix(actor, p); ok {
			return rest != ""
		}
	}
	return false
}
