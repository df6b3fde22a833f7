package cloudevent_test

import (
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
)

func TestEnvelopeIsCloudEvents10(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.FixedZone("x", 3600))
	payload, _ := structpb.NewStruct(map[string]any{"revision": "3"})
	spec := cloudevent.Spec{Context: "registry", Name: "system.registered"}
	m, err := cloudevent.New(spec, "acme", "globalAccounts/acme/systems/s1", payload, at)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "landscape.registry.acme.system.registered" {
		t.Errorf("subject = %s", m.Subject)
	}
	var raw map[string]any
	if err := json.Unmarshal(m.Body, &raw); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"specversion": "1.0", "id": m.ID, "source": "/landscape/registry", "type": "google.protobuf.Struct",
		"subject": "globalAccounts/acme/systems/s1", "time": "2026-11-26T11:00:00Z",
		"datacontenttype": "application/json", "globalaccount": "acme",
	}
	for k, v := range want {
		if raw[k] != v {
			t.Errorf("%s = %v, want %v", k, raw[k], v)
		}
	}
	if len(raw) != len(want)+1 {
		t.Errorf("envelope has %d attributes, want %d: %v", len(raw), len(want)+1, raw)
	}
	ev, err := cloudevent.Decode(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	var got structpb.Struct
	if err := ev.UnmarshalData(&got); err != nil || got.GetFields()["revision"].GetStringValue() != "3" {
		t.Errorf("data = %v, %v", &got, err)
	}
	if err := ev.UnmarshalData(&wrapperspb.StringValue{}); err == nil {
		t.Error("UnmarshalData into another type must fail")
	}
	if _, err := cloudevent.Decode([]byte(`{"id":"x"}`)); err == nil {
		t.Error("Decode of a non-envelope must fail")
	}
	if cloudevent.StreamName("registry") != "LANDSCAPE_REGISTRY" || cloudevent.StreamSubjects("token") != "landscape.token.>" {
		t.Error("stream naming")
	}
}

func TestNewIDIsUniqueAndTimeOrdered(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	prev := ""
	at := time.Now()
	for i := range 10000 {
		id := cloudevent.NewID(at.Add(time.Duration(i) * time.Millisecond))
		if len(id) != 26 || seen[id] {
			t.Fatalf("id %q: bad length or repeated", id)
		}
		if id[:10] <= prev {
			t.Fatalf("id %q does not sort after %q", id, prev)
		}
		seen[id], prev = true, id[:10]
	}
}
