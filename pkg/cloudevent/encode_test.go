package cloudevent_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
)

// legacyNew is the former encoder (json.Marshal of Event with the
// protojson as RawMessage): the reference the appending encoder must match
// and the baseline of BenchmarkNew.
func legacyNew(spec cloudevent.Spec, ga, subject string, payload proto.Message, at time.Time, id string) ([]byte, error) {
	data, err := protojson.Marshal(payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(cloudevent.Event{
		SpecVersion: "1.0", ID: id, Source: "/landscape/" + spec.Context,
		Type: string(payload.ProtoReflect().Descriptor().FullName()), Subject: subject,
		Time: at.UTC(), DataContentType: "application/json", GlobalAccount: ga, Data: data,
	})
}

func TestNewMatchesJSONMarshal(t *testing.T) {
	t.Parallel()
	payload, _ := structpb.NewStruct(map[string]any{"revision": "3", "name": "a\"b\\c\u2028<&>", "n": 1.5, "l": []any{"x", true}})
	odd := []string{"plain", "quote\" back\\slash", "ctl\x00\x01\n\r\t\x1f", "uni é ☃ \u2028\u2029", "bad\xff\xfeutf8", "<html>&"}
	for _, s := range odd {
		at := time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
		spec := cloudevent.Spec{Context: "registry", Name: "system.registered"}
		m, err := cloudevent.New(spec, s, "globalAccounts/"+s, payload, at)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := legacyNew(spec, s, "globalAccounts/"+s, payload, at, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got, want any
		if err := json.Unmarshal(m.Body, &got); err != nil {
			t.Fatalf("%q: body %s: %v", s, m.Body, err)
		}
		_ = json.Unmarshal(ref, &want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %s\nwant %s", s, m.Body, ref)
		}
	}
}

// BenchmarkNew encodes a registration-sized event; the legacy sub-benchmark
// is the former json.Marshal encoder, the baseline in the same run.
//
//	go test -run '^$' -bench New -benchmem -count 3 ./pkg/cloudevent/
func BenchmarkNew(b *testing.B) {
	payload, _ := structpb.NewStruct(map[string]any{
		"revision": "1", "name": "globalAccounts/ga/systems/0123456789abcdefghijklmnop",
		"displayName": "ERP production", "state": "REGISTERED", "labels": map[string]any{"env": "prod", "team": "erp"},
	})
	spec := cloudevent.Spec{Context: "registry", Name: "system.registered"}
	at := time.Now()
	small := wrapperspb.String("globalAccounts/ga/systems/0123456789abcdefghijklmnop")
	b.Run("envelope/append", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := cloudevent.New(spec, "ga", "globalAccounts/ga/systems/x", small, at); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("envelope/legacy", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := legacyNew(spec, "ga", "globalAccounts/ga/systems/x", small, at, cloudevent.NewID(at)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("struct/append", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := cloudevent.New(spec, "ga", "globalAccounts/ga/systems/x", payload, at); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("struct/legacy", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := legacyNew(spec, "ga", "globalAccounts/ga/systems/x", payload, at, cloudevent.NewID(at)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
