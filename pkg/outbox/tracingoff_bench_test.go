package outbox_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/landscape-dev/landscape/pkg/eventctx"
	"github.com/landscape-dev/landscape/pkg/outbox"
)

// What tracing costs a commit when it is off (no --otlp-endpoint): the
// span check of Commit (one context lookup) and the traceparent check of
// the events' attributes, on a context as deep as a gRPC handler's (20
// values), beside the baseline of the same step without them (the actor
// attribute alone).
// A registration runs two commits; compare with its CPU time in
// BenchmarkTelemetryOverhead (hundreds of µs).
//
//	go test -run '^$' -bench BenchmarkCommitAttrsTracingOff ./pkg/outbox/
func BenchmarkCommitAttrsTracingOff(b *testing.B) {
	ctx := context.Background()
	for i := range 20 {
		ctx = context.WithValue(ctx, depthKey(i), i)
	}
	ctx = eventctx.WithActor(ctx, "user:someone")
	tx := outbox.New(nil, "bench", "registry").Tx()
	b.Run("baseline-actor-only", func(b *testing.B) {
		for b.Loop() {
			a := eventctx.From(ctx)
			if a.Get(eventctx.Actor) == "" {
				b.Fatal("no actor")
			}
		}
	})
	b.Run("with-trace-checks", func(b *testing.B) {
		for b.Loop() {
			if a := tx.CommitAttrs(ctx); a.Get(eventctx.Actor) == "" {
				b.Fatal("no actor")
			}
		}
	})
}

type depthKey int

func (k depthKey) String() string { return fmt.Sprint("depth", int(k)) }
