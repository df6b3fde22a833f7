package cloudevent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The data of an event is the payload in protojson (docs/API.md, "Events"). protojson
// is general and slow for what events hold: on the registration path it
// cost a tenth of the CPU (it formats every int64 through fmt). appendData
// writes the same JSON directly for the messages events are made of:
// scalars, strings, enums, nested messages, repeated fields, Timestamp and
// Duration. A payload with anything else (floats, bytes, maps, other
// well-known types) goes through protojson, whole. The output equals
// protojson's, byte for byte, once protojson's deliberately random
// whitespace is removed (pinned by a test over every payload type).

var fallback = protojson.MarshalOptions{}

// appendData appends the protojson of payload.
func appendData(b []byte, payload proto.Message) ([]byte, error) {
	m := payload.ProtoReflect()
	if !direct(m.Descriptor()) {
		return appendFallback(b, payload)
	}
	return appendMessage(b, m)
}

// appendFallback appends protojson's output without its random whitespace,
// so that an event's bytes do not depend on the build that wrote them.
func appendFallback(b []byte, payload proto.Message) ([]byte, error) {
	raw, err := fallback.Marshal(payload)
	if err != nil {
		return b, err
	}
	var out bytes.Buffer
	out.Grow(len(raw))
	if err := json.Compact(&out, raw); err != nil {
		return b, err
	}
	return append(b, out.Bytes()...), nil
}

// directCache remembers, per message type, whether appendData can write it.
var directCache sync.Map // protoreflect.FullName -> bool

func direct(md protoreflect.MessageDescriptor) bool {
	if v, ok := directCache.Load(md.FullName()); ok {
		return v.(bool)
	}
	ok := directTree(md, map[protoreflect.FullName]bool{})
	directCache.Store(md.FullName(), ok)
	return ok
}

func directTree(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	switch md.FullName() {
	case timestampName, durationName:
		return true
	}
	if md.FullName().Parent() == "google.protobuf" || md.ExtensionRanges().Len() > 0 {
		return false // other well-known types have JSON forms of their own
	}
	if seen[md.FullName()] {
		return true
	}
	seen[md.FullName()] = true
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsMap() {
			return false
		}
		switch fd.Kind() {
		case protoreflect.FloatKind, protoreflect.DoubleKind, protoreflect.BytesKind, protoreflect.GroupKind:
			return false
		case protoreflect.EnumKind:
			if fd.Enum().FullName() == "google.protobuf.NullValue" {
				return false
			}
		case protoreflect.MessageKind:
			if !directTree(fd.Message(), seen) {
				return false
			}
		}
	}
	return true
}

const (
	timestampName protoreflect.FullName = "google.protobuf.Timestamp"
	durationName  protoreflect.FullName = "google.protobuf.Duration"
)

func appendMessage(b []byte, m protoreflect.Message) ([]byte, error) {
	switch m.Descriptor().FullName() {
	case timestampName:
		return appendTimestamp(b, m)
	case durationName:
		return appendDuration(b, m)
	}
	b = append(b, '{')
	first := true
	fields := m.Descriptor().Fields()
	var err error
	for i := range fields.Len() { // declaration order, as protojson
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, fd.JSONName()...) // [A-Za-z0-9_]: nothing to escape
		b = append(b, '"', ':')
		v := m.Get(fd)
		if fd.IsList() {
			l := v.List()
			b = append(b, '[')
			for j := range l.Len() {
				if j > 0 {
					b = append(b, ',')
				}
				if b, err = appendValue(b, fd, l.Get(j)); err != nil {
					return b, err
				}
			}
			b = append(b, ']')
			continue
		}
		if b, err = appendValue(b, fd, v); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

func appendValue(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) ([]byte, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool()), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		b = append(b, '"')
		b = strconv.AppendInt(b, v.Int(), 10)
		return append(b, '"'), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		b = append(b, '"')
		b = strconv.AppendUint(b, v.Uint(), 10)
		return append(b, '"'), nil
	case protoreflect.StringKind:
		return appendProtoString(b, fd, v.String())
	case protoreflect.EnumKind:
		n := v.Enum()
		if ev := fd.Enum().Values().ByNumber(n); ev != nil {
			b = append(b, '"')
			b = append(b, ev.Name()...)
			return append(b, '"'), nil
		}
		return strconv.AppendInt(b, int64(n), 10), nil
	case protoreflect.MessageKind:
		return appendMessage(b, v.Message())
	}
	return b, fmt.Errorf("cloudevent: field %s: kind %v is not written directly", fd.FullName(), fd.Kind())
}

// appendProtoString writes a string as protojson does; invalid UTF-8 is
// an error, as there.
func appendProtoString(b []byte, fd protoreflect.FieldDescriptor, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return b, fmt.Errorf("cloudevent: field %s: invalid UTF-8", fd.FullName())
	}
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"'), nil
}

// Ranges protojson accepts.
const (
	minTimestamp = -62135596800 // 0001-01-01T00:00:00Z
	maxTimestamp = 253402300799 // 9999-12-31T23:59:59Z
	maxDuration  = 315576000000 // 10,000 years
	maxNanos     = 999999999
)

func secondsNanos(m protoreflect.Message) (int64, int64) {
	fields := m.Descriptor().Fields()
	return m.Get(fields.ByNumber(1)).Int(), m.Get(fields.ByNumber(2)).Int()
}

// appendTimestamp writes RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits.
func appendTimestamp(b []byte, m protoreflect.Message) ([]byte, error) {
	secs, nanos := secondsNanos(m)
	if secs < minTimestamp || secs > maxTimestamp || nanos < 0 || nanos > maxNanos {
		return b, fmt.Errorf("cloudevent: %s out of range: %d s %d ns", timestampName, secs, nanos)
	}
	b = append(b, '"')
	b = time.Unix(secs, 0).UTC().AppendFormat(b, "2006-01-02T15:04:05")
	b = appendFraction(b, nanos)
	return append(b, 'Z', '"'), nil
}

// appendDuration writes seconds with 0, 3, 6 or 9 fractional digits and "s".
func appendDuration(b []byte, m protoreflect.Message) ([]byte, error) {
	secs, nanos := secondsNanos(m)
	if secs < -maxDuration || secs > maxDuration || nanos < -maxNanos || nanos > maxNanos ||
		(secs > 0 && nanos < 0) || (secs < 0 && nanos > 0) {
		return b, fmt.Errorf("cloudevent: %s out of range: %d s %d ns", durationName, secs, nanos)
	}
	b = append(b, '"')
	if secs < 0 || nanos < 0 {
		b = append(b, '-')
		secs, nanos = -secs, -nanos
	}
	b = strconv.AppendInt(b, secs, 10)
	b = appendFraction(b, nanos)
	return append(b, 's', '"'), nil
}

// appendFraction writes "", ".sss", ".ssssss" or ".sssssssss" for nanos.
func appendFraction(b []byte, nanos int64) []byte {
	if nanos == 0 {
		return b
	}
	digits := 9
	for digits > 3 && nanos%1000 == 0 {
		nanos /= 1000
		digits -= 3
	}
	var buf [10]byte
	buf[0] = '.'
	for i := digits; i >= 1; i-- {
		buf[i] = byte('0' + nanos%10)
		nanos /= 10
	}
	return append(b, buf[:digits+1]...)
}
