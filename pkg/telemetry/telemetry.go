// Package telemetry is what a process needs to be observed: a Prometheus
// registry served at /metrics, the gRPC server and client metrics of the
// grpc-ecosystem middleware, and OpenTelemetry tracing with W3C trace
// context (otelgrpc on every gRPC hop, otelhttp at the gateway).
//
// The composition root builds one Telemetry per process (New) and hands its
// parts to the components: Registerer to the collectors, TracerProvider to
// the background workers (outbox relay, subscribers), ServerOptions and
// DialOptions to gRPC, WrapHTTP to the gateway's handler. A nil *Telemetry
// is valid and observes nothing.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
)

// DefaultMetricsAddr is where a process serves /metrics unless told otherwise.
const DefaultMetricsAddr = "127.0.0.1:9464"

// Propagator is the trace context format on every hop: W3C traceparent
// and tracestate (HTTP headers, gRPC metadata, the CloudEvents traceparent
// extension).
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Config says what to observe.
type Config struct {
	// Service is the service.name of the process's spans, e.g.
	// "landscape-registry".
	Service string
	// Metrics turns the Prometheus collectors on.
	Metrics bool
	// OTLPEndpoint is an OTLP/gRPC collector: host:port (plaintext) or a
	// URL (http:// plaintext, https:// TLS). Empty: spans are not exported.
	OTLPEndpoint string
	// SampleRatio is the share of new traces recorded (0 to 1); a trace
	// begun upstream keeps its caller's decision.
	SampleRatio float64
	// Exporter, when set, receives every span synchronously (tests: an
	// in-memory exporter); it turns tracing on like OTLPEndpoint.
	Exporter sdktrace.SpanExporter
}

// Telemetry is one process's metrics registry and tracer provider.
type Telemetry struct {
	reg        *prometheus.Registry
	grpcServer *grpcprom.ServerMetrics
	grpcClient *grpcprom.ClientMetrics
	tp         *sdktrace.TracerProvider
}

// latencyBuckets are the histogram buckets of request latencies (seconds).
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New builds the process's telemetry. With neither metrics nor a span
// destination it returns a Telemetry that observes nothing.
func New(ctx context.Context, cfg Config) (*Telemetry, error) {
	t := &Telemetry{}
	if cfg.Metrics {
		t.reg = prometheus.NewRegistry()
		t.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		t.grpcServer = grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(latencyBuckets)))
		t.grpcClient = grpcprom.NewClientMetrics(grpcprom.WithClientHandlingTimeHistogram(grpcprom.WithHistogramBuckets(latencyBuckets)))
		t.reg.MustRegister(t.grpcServer, t.grpcClient)
	}
	if cfg.SampleRatio < 0 || cfg.SampleRatio > 1 {
		return nil, fmt.Errorf("telemetry: sample ratio %v is not between 0 and 1", cfg.SampleRatio)
	}
	var sp sdktrace.SpanProcessor
	switch {
	case cfg.Exporter != nil:
		sp = sdktrace.NewSimpleSpanProcessor(cfg.Exporter)
	case cfg.OTLPEndpoint != "":
		exp, err := otlpExporter(ctx, cfg.OTLPEndpoint)
		if err != nil {
			return nil, err
		}
		sp = sdktrace.NewBatchSpanProcessor(exp)
	}
	if sp != nil {
		t.tp = sdktrace.NewTracerProvider(
			sdktrace.WithSpanProcessor(sp),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", cfg.Service))),
		)
	}
	return t, nil
}

// otlpExporter exports to an OTLP/gRPC collector. It connects lazily: a
// collector that is down loses spans, never stops the process.
func otlpExporter(ctx context.Context, endpoint string) (sdktrace.SpanExporter, error) {
	var opts []otlptracegrpc.Option
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("telemetry: OTLP endpoint %q: want host:port, http://host:port or https://host:port", endpoint)
		}
		opts = append(opts, otlptracegrpc.WithEndpointURL(endpoint))
	} else {
		if _, _, err := net.SplitHostPort(endpoint); err != nil {
			return nil, fmt.Errorf("telemetry: OTLP endpoint %q: %w", endpoint, err)
		}
		opts = append(opts, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP exporter: %w", err)
	}
	return exp, nil
}

// Metrics reports whether the Prometheus collectors are on.
func (t *Telemetry) Metrics() bool { return t != nil && t.reg != nil }

// Tracing reports whether spans are recorded.
func (t *Telemetry) Tracing() bool { return t != nil && t.tp != nil }

// Registerer is where components register their collectors; nil when
// metrics are off (every component treats a nil Registerer as "none").
func (t *Telemetry) Registerer() prometheus.Registerer {
	if !t.Metrics() {
		return nil
	}
	return t.reg
}

// Gatherer reads the registered metrics (nil when metrics are off).
func (t *Telemetry) Gatherer() prometheus.Gatherer {
	if !t.Metrics() {
		return nil
	}
	return t.reg
}

// TracerProvider makes the spans of background work; nil when tracing is
// off (components then skip span work altogether).
func (t *Telemetry) TracerProvider() trace.TracerProvider {
	if !t.Tracing() {
		return nil
	}
	return t.tp
}

// ServerOptions instrument a gRPC server: metrics by method and code
// (outermost, so that refused calls count too) and a span per call that
// continues the caller's trace.
func (t *Telemetry) ServerOptions() []grpc.ServerOption {
	return grpcOptions(t, grpc.StatsHandler, otelgrpc.NewServerHandler, func() []grpc.ServerOption {
		return []grpc.ServerOption{grpc.ChainUnaryInterceptor(t.grpcServer.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(t.grpcServer.StreamServerInterceptor())}
	})
}

// DialOptions instrument a gRPC client the same way: metrics by method and
// code, and the trace context sent along with each call.
func (t *Telemetry) DialOptions() []grpc.DialOption {
	return grpcOptions(t, grpc.WithStatsHandler, otelgrpc.NewClientHandler, func() []grpc.DialOption {
		return []grpc.DialOption{grpc.WithChainUnaryInterceptor(t.grpcClient.UnaryClientInterceptor()), grpc.WithChainStreamInterceptor(t.grpcClient.StreamClientInterceptor())}
	})
}

// grpcOptions are the options of a gRPC server or client (O): the metric
// interceptors first when metrics are on, then the otelgrpc stats handler
// when tracing is on.
func grpcOptions[O any](t *Telemetry, statsOption func(stats.Handler) O, handler func(...otelgrpc.Option) stats.Handler,
	metrics func() []O,
) []O {
	var opts []O
	if t.Metrics() {
		opts = append(opts, metrics()...)
	}
	if t.Tracing() {
		opts = append(opts, statsOption(handler(otelgrpc.WithTracerProvider(t.tp), otelgrpc.WithPropagators(Propagator))))
	}
	return opts
}

// InitServer gives every method of a gRPC server's registered services
// its counters at zero, so that a rate is defined before the first call.
// Call it after the services are registered.
func (t *Telemetry) InitServer(srv *grpc.Server) {
	if t.Metrics() {
		t.grpcServer.InitializeMetrics(srv)
	}
}

// WrapHTTP makes h continue the trace of an incoming traceparent header
// (or begin one) with a server span per request; h unchanged when tracing
// is off.
func (t *Telemetry) WrapHTTP(h http.Handler, operation string) http.Handler {
	if !t.Tracing() {
		return h
	}
	return otelhttp.NewHandler(h, operation, otelhttp.WithTracerProvider(t.tp), otelhttp.WithPropagators(Propagator))
}

// Handler serves the registry in the Prometheus text format (404 when
// metrics are off).
func (t *Telemetry) Handler() http.Handler {
	if !t.Metrics() {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(t.reg, promhttp.HandlerOpts{Registry: t.reg})
}

// ServeMetrics serves GET /metrics on lis until ctx ends.
func (t *Telemetry) ServeMetrics(ctx context.Context, lis net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", t.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// Shutdown sends the spans still buffered and stops tracing.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if !t.Tracing() {
		return nil
	}
	return t.tp.Shutdown(ctx)
}
