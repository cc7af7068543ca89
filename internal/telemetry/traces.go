package telemetry

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Tracing is the process's tracer provider and the W3C propagator. With
// no telemetry.otlp_endpoint the provider is a no-op: spans cost nothing,
// and a caller's traceparent still passes through unchanged.
type Tracing struct {
	Provider   trace.TracerProvider
	Propagator propagation.TextMapPropagator
	sdk        *sdktrace.TracerProvider
}

// Resource describes this process: service name, version, instance.
func Resource(ctx context.Context, c config.Telemetry, version, instance string) *resource.Resource {
	res, err := resource.New(ctx, resource.WithAttributes(
		semconv.ServiceName(c.ServiceName), semconv.ServiceVersion(version), semconv.ServiceInstanceID(instance)))
	if err != nil {
		return resource.Default()
	}
	return res
}

// NewTracing exports spans by OTLP when c.OTLPEndpoint is set:
// "host:port" or "grpc://host:port" for OTLP/gRPC, "http://host:port" (or
// https) for OTLP/HTTP. Spans are batched; root spans are sampled at
// c.SampleRatio and spans with a caller parent follow its decision.
func NewTracing(ctx context.Context, c config.Telemetry, res *resource.Resource) (*Tracing, error) {
	t := &Tracing{Provider: noop.NewTracerProvider(),
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})}
	if c.OTLPEndpoint == "" {
		return t, nil
	}
	exp, err := newExporter(c.OTLPEndpoint)
	if err != nil {
		return nil, err
	}
	t.sdk = sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Second)),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.SampleRatio))),
	)
	t.Provider = t.sdk
	return t, nil
}

func newExporter(endpoint string) (sdktrace.SpanExporter, error) {
	if !strings.Contains(endpoint, "://") {
		endpoint = "grpc://" + endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("telemetry: invalid otlp_endpoint %q", endpoint)
	}
	if u.Scheme != "grpc" && u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("telemetry: otlp_endpoint %q: scheme must be grpc, http or https", endpoint)
	}
	headers, err := exportHeaders(os.Getenv)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "grpc" {
		return newGRPCExporter(u.Host, headers)
	}
	return newHTTPExporter(u, headers), nil
}

// Shutdown flushes pending spans.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	return t.sdk.Shutdown(ctx)
}
