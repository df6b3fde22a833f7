package e2e

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
)

// TestEventDataIsProtojson fills every field of every event payload of the
// three contexts and checks that the data of the CloudEvent is exactly the
// payload's protojson (whitespace aside): the envelope writes it without
// protojson for speed.
func TestEventDataIsProtojson(t *testing.T) {
	t.Parallel()
	files := []protoreflect.FileDescriptor{
		registryv1.File_landscape_registry_v1_events_proto,
		tokenv1.File_landscape_token_v1_events_proto,
		formationv1.File_landscape_formation_v1_events_proto,
	}
	n := 0
	for _, f := range files {
		msgs := f.Messages()
		for i := range msgs.Len() {
			for _, variant := range []int{0, 1, 2} {
				m := dynamicpb.NewMessage(msgs.Get(i))
				fill(m, variant)
				ev, err := cloudevent.New(cloudevent.Spec{Context: "registry", Name: "x.y"}, "acme", "globalAccounts/acme", m, time.Now())
				if err != nil {
					t.Fatalf("%s: %v", msgs.Get(i).FullName(), err)
				}
				var env struct{ Data json.RawMessage }
				if err := json.Unmarshal(ev.Body, &env); err != nil {
					t.Fatal(err)
				}
				want, err := protojson.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				var compact bytes.Buffer
				_ = json.Compact(&compact, want)
				if !bytes.Equal(env.Data, compact.Bytes()) {
					t.Errorf("%s:\n data      %s\n protojson %s", msgs.Get(i).FullName(), env.Data, compact.Bytes())
				}
				n++
			}
		}
	}
	if n < 3*15 {
		t.Fatalf("only %d payloads checked", n)
	}
}

// fill sets every field of m, recursively, to a value chosen by variant
// (variant 0 leaves scalars at their zero values).
func fill(m protoreflect.Message, variant int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			continue
		case fd.IsList():
			l := m.Mutable(fd).List()
			for k := range variant {
				l.Append(value(fd, l.NewElement, variant+k))
			}
		default:
			m.Set(fd, value(fd, func() protoreflect.Value { return m.NewField(fd) }, variant))
		}
	}
}

func value(fd protoreflect.FieldDescriptor, newElem func() protoreflect.Value, variant int) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(strings.Repeat("sf \"prod\"\n✓", variant))
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(variant%2 == 1)
	case protoreflect.Int32Kind:
		return protoreflect.ValueOfInt32(int32(variant * 7))
	case protoreflect.Int64Kind:
		return protoreflect.ValueOfInt64(int64(variant) * 1e12)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(variant))
	case protoreflect.MessageKind:
		switch fd.Message().FullName() {
		case "google.protobuf.Timestamp":
			return protoreflect.ValueOfMessage(timestamppb.New(time.Unix(1767225600+int64(variant), int64(variant)*123e6)).ProtoReflect())
		case "google.protobuf.Duration":
			return protoreflect.ValueOfMessage(durationpb.New(time.Duration(variant) * 1500 * time.Millisecond).ProtoReflect())
		}
		v := newElem()
		fill(v.Message(), variant)
		return v
	}
	panic("fill: add kind " + fd.Kind().String() + " of " + string(fd.FullName()))
}
