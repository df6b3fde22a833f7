package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TraceparentHeader is the W3C trace context header, and the name of the
// CloudEvents extension attribute that carries it.
const TraceparentHeader = "traceparent"

// Traceparent is the W3C traceparent of the span in ctx ("" without one).
func Traceparent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	Propagator.Inject(ctx, c)
	return c[TraceparentHeader]
}

// WithTraceparent returns ctx with the remote span of a W3C traceparent as
// its parent (ctx unchanged when traceparent is empty or malformed).
func WithTraceparent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return Propagator.Extract(ctx, propagation.MapCarrier{TraceparentHeader: traceparent})
}

// TracerName is the instrumentation scope of a Landscape package's spans.
func TracerName(pkg string) string { return "github.com/landscape-dev/landscape/pkg/" + pkg }

// Tracer is the tracer of package pkg from tp; nil when tp is nil
// (tracing off), so that callers skip span work altogether.
func Tracer(tp trace.TracerProvider, pkg string) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(TracerName(pkg))
}
