package eventctx_test

import (
	"context"
	"slices"
	"testing"

	"github.com/landscape-dev/landscape/pkg/eventctx"
)

func TestWithKeepsOneSortedValuePerName(t *testing.T) {
	t.Parallel()
	ctx := eventctx.WithActor(context.Background(), "user:a")
	ctx = eventctx.With(ctx, "traceparent", "tp")
	ctx = eventctx.Reaction(ctx, "ev-1", "token:globalAccounts/g/systems/s/integrationTokens/t")
	got := eventctx.From(ctx)
	want := eventctx.Attrs{
		{Name: "actor", Value: "token:globalAccounts/g/systems/s/integrationTokens/t"},
		{Name: "causedby", Value: "ev-1"},
		{Name: "traceparent", Value: "tp"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("attrs = %v, want %v", got, want)
	}
	if got := eventctx.From(eventctx.With(ctx, "causedby", "")).Get("causedby"); got != "" {
		t.Fatalf("an empty value should remove causedby, got %q", got)
	}
	// An event without an actor leaves the actor to the reacting service.
	if a := eventctx.From(eventctx.Reaction(context.Background(), "ev-2", "")); a.Get("actor") != "" || a.Get("causedby") != "ev-2" {
		t.Fatalf("reaction to an actorless event: %v", a)
	}
}

func TestMetadataRoundTripAndRefusals(t *testing.T) {
	t.Parallel()
	ctx := eventctx.Reaction(context.Background(), "ev-1", "user:jürgen")
	kv := eventctx.Metadata(ctx)
	md := map[string][]string{}
	for i := 0; i < len(kv); i += 2 {
		md[kv[i]] = append(md[kv[i]], kv[i+1])
	}
	if got := eventctx.From(eventctx.FromMetadata(context.Background(), md)); !slices.Equal(got, eventctx.From(ctx)) {
		t.Fatalf("round trip: %v, want %v", got, eventctx.From(ctx))
	}
	for name, md := range map[string]map[string][]string{
		"unknown actor kind":  {"landscape-ce-actor-bin": {"admin:root"}},
		"actor without name":  {"landscape-ce-actor-bin": {"user:"}},
		"not binary":          {"landscape-ce-actor": {"user:a"}},
		"control character":   {"landscape-ce-causedby-bin": {"a\nb"}},
		"envelope attribute":  {"landscape-ce-id-bin": {"x"}},
		"bad name":            {"landscape-ce-Trace-bin": {"x"}},
		"two values":          {"landscape-ce-actor-bin": {"user:a", "user:b"}},
		"not UTF-8":           {"landscape-ce-actor-bin": {"user:\xff"}},
		"other metadata only": {"authorization": {"Bearer x"}},
	} {
		if got := eventctx.From(eventctx.FromMetadata(context.Background(), md)); len(got) != 0 {
			t.Errorf("%s: accepted %v", name, got)
		}
	}
}
