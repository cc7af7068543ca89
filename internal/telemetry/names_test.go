package telemetry

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The exporter must keep the contract's Prometheus names exactly.
func TestMetricNamesKept(t *testing.T) {
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	meter := m.MeterProvider().Meter("test")
	c, _ := meter.Int64Counter("sluice_requests_total")
	c.Add(context.Background(), 2, metric.WithAttributes(attribute.String("decision", "allow")))
	h, _ := meter.Float64Histogram("sluice_request_duration_seconds", metric.WithUnit("s"))
	h.Record(context.Background(), 0.003)
	g, _ := meter.Int64UpDownCounter("sluice_active_connections")
	g.Add(context.Background(), 3)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`sluice_requests_total{decision="allow"} 2`,
		`sluice_request_duration_seconds_bucket{le="0.005"} 1`,
		`sluice_active_connections 3`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("missing %q in:\n%s", want, body)
		}
	}
}
