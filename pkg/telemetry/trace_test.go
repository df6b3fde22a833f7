package telemetry_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/landscape-dev/landscape/pkg/telemetry"
)

// Traceparent writes the span of a context as W3C traceparent, sampled
// flag included, and WithTraceparent makes it the remote parent again;
// no span, an empty or a malformed traceparent give nothing.
func TestTraceparentRoundTrip(t *testing.T) {
	t.Parallel()
	if got := telemetry.Traceparent(context.Background()); got != "" {
		t.Errorf("Traceparent without a span = %q", got)
	}
	for _, sampled := range []bool{true, false} {
		ratio := 0.0
		if sampled {
			ratio = 1
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.TraceIDRatioBased(ratio)))
		ctx, span := tp.Tracer("test").Start(context.Background(), "s")
		sc := span.SpanContext()
		flags := "00"
		if sampled {
			flags = "01"
		}
		want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + flags
		got := telemetry.Traceparent(ctx)
		if got != want {
			t.Errorf("sampled %v: Traceparent = %q, want %q", sampled, got, want)
		}
		back := trace.SpanContextFromContext(telemetry.WithTraceparent(context.Background(), got))
		if !back.IsRemote() || back.TraceID() != sc.TraceID() || back.SpanID() != sc.SpanID() || back.IsSampled() != sampled {
			t.Errorf("sampled %v: WithTraceparent gives %v, want the remote %v", sampled, back, sc)
		}
		span.End()
	}
	for _, bad := range []string{"", "00-zz-yy-01", "00-00000000000000000000000000000000-0000000000000000-01"} {
		if sc := trace.SpanContextFromContext(telemetry.WithTraceparent(context.Background(), bad)); sc.IsValid() {
			t.Errorf("WithTraceparent(%q) gives a valid parent %v", bad, sc)
		}
	}
}
