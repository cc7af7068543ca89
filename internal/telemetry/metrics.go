// Package telemetry sets up OpenTelemetry for the process in one place: a
// meter provider exported on /metrics through the OTel Prometheus exporter,
// and (when configured) a tracer provider exporting OTLP.
package telemetry

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// Metrics is the process's meter provider and its /metrics handler.
type Metrics struct {
	Provider *sdkmetric.MeterProvider
	handler  http.Handler
}

// durationBuckets are the histogram buckets (seconds) for latencies: from
// 10µs (a policy decision) to 60s (a slow upstream).
var durationBuckets = []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// NewMetrics builds a meter provider whose instruments appear on the
// returned handler in Prometheus text format. Instrument names are the
// Prometheus names of docs/contract.md §9 (e.g. sluice_requests_total); the
// exporter keeps them as they are.
func NewMetrics(res *resource.Resource) (*Metrics, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithoutScopeInfo(),
		otelprom.WithoutTargetInfo(),
		// Keep the names of docs/contract.md §9 exactly: no unit or _total
		// suffixes appended (the instruments already carry them).
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithoutSuffixes),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	view := sdkmetric.NewView(
		sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram, Unit: "s"},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: durationBuckets}},
	)
	opts := []sdkmetric.Option{sdkmetric.WithReader(exp), sdkmetric.WithView(view)}
	if res != nil {
		opts = append(opts, sdkmetric.WithResource(res))
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	return &Metrics{Provider: mp, handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}, nil
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler { return m.handler }

// MeterProvider returns the provider as the API interface.
func (m *Metrics) MeterProvider() metric.MeterProvider { return m.Provider }

// Shutdown flushes and stops the provider.
func (m *Metrics) Shutdown(ctx context.Context) error { return m.Provider.Shutdown(ctx) }
