package cloudevent

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// payloadDescriptor builds, at run time, a proto3 message with a field of
// every kind appendData writes itself, nested and repeated, plus one that
// it leaves to protojson (double) in a second message.
func payloadDescriptor(t testing.TB) (direct, other protoreflect.MessageDescriptor) {
	t.Helper()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
	rep := descriptorpb.FieldDescriptorProto_LABEL_REPEATED
	f := func(name string, n int32, typ descriptorpb.FieldDescriptorProto_Type, label descriptorpb.FieldDescriptorProto_Label, typeName string) *descriptorpb.FieldDescriptorProto {
		d := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(n), Type: typ.Enum(), Label: label.Enum()}
		if typeName != "" {
			d.TypeName = proto.String(typeName)
		}
		return d
	}
	fd := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("cloudevent_test.proto"),
		Package:    proto.String("landscape.test"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/timestamp.proto", "google/protobuf/duration.proto"},
		EnumType: []*descriptorpb.EnumDescriptorProto{{
			Name: proto.String("State"),
			Value: []*descriptorpb.EnumValueDescriptorProto{
				{Name: proto.String("STATE_UNSPECIFIED"), Number: proto.Int32(0)},
				{Name: proto.String("PENDING"), Number: proto.Int32(1)},
				{Name: proto.String("READY"), Number: proto.Int32(2)},
			},
		}},
		MessageType: []*descriptorpb.DescriptorProto{
			{
				Name: proto.String("Item"),
				Field: []*descriptorpb.FieldDescriptorProto{
					f("system_name", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING, opt, ""),
					f("state", 2, descriptorpb.FieldDescriptorProto_TYPE_ENUM, opt, ".landscape.test.State"),
					f("api_access_enabled", 3, descriptorpb.FieldDescriptorProto_TYPE_BOOL, opt, ""),
				},
			},
			{
				Name: proto.String("Payload"),
				Field: []*descriptorpb.FieldDescriptorProto{
					f("name", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING, opt, ""),
					f("revision", 2, descriptorpb.FieldDescriptorProto_TYPE_INT64, opt, ""),
					f("count", 3, descriptorpb.FieldDescriptorProto_TYPE_INT32, opt, ""),
					f("u32", 4, descriptorpb.FieldDescriptorProto_TYPE_UINT32, opt, ""),
					f("u64", 5, descriptorpb.FieldDescriptorProto_TYPE_UINT64, opt, ""),
					f("s32", 6, descriptorpb.FieldDescriptorProto_TYPE_SINT32, opt, ""),
					f("s64", 7, descriptorpb.FieldDescriptorProto_TYPE_SINT64, opt, ""),
					f("f32", 8, descriptorpb.FieldDescriptorProto_TYPE_FIXED32, opt, ""),
					f("f64", 9, descriptorpb.FieldDescriptorProto_TYPE_FIXED64, opt, ""),
					f("sf32", 10, descriptorpb.FieldDescriptorProto_TYPE_SFIXED32, opt, ""),
					f("sf64", 11, descriptorpb.FieldDescriptorProto_TYPE_SFIXED64, opt, ""),
					f("enabled", 12, descriptorpb.FieldDescriptorProto_TYPE_BOOL, opt, ""),
					f("state", 13, descriptorpb.FieldDescriptorProto_TYPE_ENUM, opt, ".landscape.test.State"),
					f("item", 14, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, opt, ".landscape.test.Item"),
					f("items", 15, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, rep, ".landscape.test.Item"),
					f("labels", 16, descriptorpb.FieldDescriptorProto_TYPE_STRING, rep, ""),
					f("create_time", 17, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, opt, ".google.protobuf.Timestamp"),
					f("ttl", 18, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, opt, ".google.protobuf.Duration"),
					f("revisions", 19, descriptorpb.FieldDescriptorProto_TYPE_INT64, rep, ""),
					f("states", 20, descriptorpb.FieldDescriptorProto_TYPE_ENUM, rep, ".landscape.test.State"),
				},
			},
			{
				Name: proto.String("Other"),
				Field: []*descriptorpb.FieldDescriptorProto{
					f("name", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING, opt, ""),
					f("ratio", 2, descriptorpb.FieldDescriptorProto_TYPE_DOUBLE, opt, ""),
				},
			},
		},
	}
	// Declared out of number order on purpose: JSON follows the declaration.
	p := fd.MessageType[1]
	p.Field[0], p.Field[1] = p.Field[1], p.Field[0]
	file, err := protodesc.NewFile(fd, protoRegistry{})
	if err != nil {
		t.Fatal(err)
	}
	return file.Messages().ByName("Payload"), file.Messages().ByName("Other")
}

type protoRegistry struct{}

func (protoRegistry) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	switch path {
	case "google/protobuf/timestamp.proto":
		return timestamppb.File_google_protobuf_timestamp_proto, nil
	case "google/protobuf/duration.proto":
		return durationpb.File_google_protobuf_duration_proto, nil
	}
	return nil, protoregistryNotFound{}
}

func (protoRegistry) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	switch name {
	case timestampName:
		return (&timestamppb.Timestamp{}).ProtoReflect().Descriptor(), nil
	case durationName:
		return (&durationpb.Duration{}).ProtoReflect().Descriptor(), nil
	}
	return nil, protoregistryNotFound{}
}

type protoregistryNotFound struct{}

func (protoregistryNotFound) Error() string { return "not found" }

// filled sets every field of a Payload from a few inputs.
func filled(md protoreflect.MessageDescriptor, s string, i int64, ts *timestamppb.Timestamp, d *durationpb.Duration) *dynamicpb.Message {
	m := dynamicpb.NewMessage(md)
	fields := md.Fields()
	set := func(name string, v protoreflect.Value) { m.Set(fields.ByName(protoreflect.Name(name)), v) }
	set("name", protoreflect.ValueOfString(s))
	set("revision", protoreflect.ValueOfInt64(i))
	set("count", protoreflect.ValueOfInt32(int32(i)))
	set("u32", protoreflect.ValueOfUint32(uint32(i)))
	set("u64", protoreflect.ValueOfUint64(uint64(i)))
	set("s32", protoreflect.ValueOfInt32(int32(-i)))
	set("s64", protoreflect.ValueOfInt64(-i))
	set("f32", protoreflect.ValueOfUint32(uint32(i>>3)))
	set("f64", protoreflect.ValueOfUint64(uint64(i)*3))
	set("sf32", protoreflect.ValueOfInt32(int32(i>>5)))
	set("sf64", protoreflect.ValueOfInt64(i*7))
	set("enabled", protoreflect.ValueOfBool(i%2 == 1))
	set("state", protoreflect.ValueOfEnum(protoreflect.EnumNumber(i%4))) // 3 has no name
	itemMD := fields.ByName("item").Message()
	item := func(k int64) protoreflect.Value {
		it := dynamicpb.NewMessage(itemMD)
		it.Set(itemMD.Fields().ByName("system_name"), protoreflect.ValueOfString(s+"/x"))
		it.Set(itemMD.Fields().ByName("state"), protoreflect.ValueOfEnum(protoreflect.EnumNumber(k%3)))
		it.Set(itemMD.Fields().ByName("api_access_enabled"), protoreflect.ValueOfBool(k%2 == 0))
		return protoreflect.ValueOfMessage(it)
	}
	set("item", item(i))
	items := m.Mutable(fields.ByName("items")).List()
	labels := m.Mutable(fields.ByName("labels")).List()
	revs := m.Mutable(fields.ByName("revisions")).List()
	states := m.Mutable(fields.ByName("states")).List()
	for k := range i % 4 {
		items.Append(item(k))
		labels.Append(protoreflect.ValueOfString(s))
		revs.Append(protoreflect.ValueOfInt64(k - 1))
		states.Append(protoreflect.ValueOfEnum(protoreflect.EnumNumber(k)))
	}
	if ts != nil {
		set("create_time", protoreflect.ValueOfMessage(ts.ProtoReflect()))
	}
	if d != nil {
		set("ttl", protoreflect.ValueOfMessage(d.ProtoReflect()))
	}
	return m
}

// sameAsProtojson checks appendData against protojson for one message.
func sameAsProtojson(t *testing.T, m proto.Message) {
	t.Helper()
	want, werr := protojson.Marshal(m)
	got, gerr := appendData(nil, m)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("protojson error %v, appendData error %v", werr, gerr)
	}
	if werr != nil {
		return
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, compact.Bytes()) {
		t.Fatalf("appendData differs from protojson:\n got  %s\n want %s", got, compact.Bytes())
	}
}

func TestDataMatchesProtojson(t *testing.T) {
	md, other := payloadDescriptor(t)
	if !direct(md) || direct(other) || direct((&structpb.Struct{}).ProtoReflect().Descriptor()) {
		t.Fatal("direct() chose the wrong messages")
	}
	stamps := []*timestamppb.Timestamp{
		nil, {}, {Seconds: 1767225600}, {Seconds: 1767225600, Nanos: 5e8}, {Seconds: 1767225600, Nanos: 120000},
		{Seconds: 1767225600, Nanos: 7}, {Seconds: minTimestamp}, {Seconds: maxTimestamp, Nanos: maxNanos},
		{Seconds: -1, Nanos: 1}, {Seconds: maxTimestamp + 1}, {Seconds: 0, Nanos: -1}, {Nanos: 1e9},
		timestamppb.New(time.Date(2026, 11, 26, 22, 0, 0, 123456789, time.UTC)),
	}
	durations := []*durationpb.Duration{
		nil, {}, {Seconds: 600}, {Seconds: 604800, Nanos: 1000}, {Seconds: -3, Nanos: -5e8}, {Nanos: -1},
		{Seconds: maxDuration}, {Seconds: maxDuration + 1}, {Seconds: 1, Nanos: -1}, {Nanos: 1e9},
	}
	strs := []string{"", "sf-prod", "globalAccounts/acme/systems/s1", "quote\" back\\slash", "ctl\x00\x01\x1f\b\f\n\r\t\x7f",
		"ünïcødé ✓ \u2028\u2029 😀", "<html>&amp;", "bad\xffutf8"}
	ints := []int64{0, 1, 2, 3, 7, 42, -1, math.MaxInt64, math.MinInt64, math.MaxInt32 + 5}
	for _, s := range strs {
		for _, i := range ints {
			sameAsProtojson(t, filled(md, s, i, stamps[int(uint64(i)%uint64(len(stamps)))], durations[int(uint64(i)%uint64(len(durations)))]))
		}
	}
	for _, ts := range stamps {
		for _, d := range durations {
			sameAsProtojson(t, filled(md, "x", 5, ts, d))
		}
	}
	o := dynamicpb.NewMessage(other)
	o.Set(other.Fields().ByName("ratio"), protoreflect.ValueOfFloat64(0.25))
	sameAsProtojson(t, o)
	sameAsProtojson(t, dynamicpb.NewMessage(md)) // nothing set: {}
}

func FuzzData(f *testing.F) {
	md, _ := payloadDescriptor(f)
	f.Add("sf-prod", int64(3), int64(1767225600), int32(5e8), int64(600), int32(0))
	f.Add("a\"\\\x00\u2028\xff", int64(-1), int64(-62135596800), int32(0), int64(-1), int32(-1))
	f.Fuzz(func(t *testing.T, s string, i, secs int64, nanos int32, dsecs int64, dnanos int32) {
		sameAsProtojson(t, filled(md, s, i, &timestamppb.Timestamp{Seconds: secs, Nanos: nanos},
			&durationpb.Duration{Seconds: dsecs, Nanos: dnanos}))
	})
}

func BenchmarkData(b *testing.B) {
	md, _ := payloadDescriptor(b)
	m := filled(md, "globalAccounts/acme/systems/sf-prod", 3, timestamppb.Now(), durationpb.New(10*time.Minute))
	b.Run("protojson", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = fallback.MarshalAppend(buf[:0], m)
		}
	})
	b.Run("appendData", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = appendData(buf[:0], m)
		}
	})
}
