package egress

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// gwMetrics are the data plane's instruments (DESIGN section 9). Labels
// stay bounded: listener, decision and reason codes, direction.
type gwMetrics struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
	bytesUp  metric.Int64Counter
	active   metric.Int64UpDownCounter
	rejected metric.Int64Counter
	sentAttr metric.MeasurementOption
	recvAttr metric.MeasurementOption
}

func newMetrics(mp metric.MeterProvider) *gwMetrics {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter("sluice/egress")
	g := &gwMetrics{}
	g.requests, _ = m.Int64Counter("sluice_requests_total",
		metric.WithDescription("Outbound calls by listener, decision (allow|deny) and reason code."))
	g.duration, _ = m.Float64Histogram("sluice_request_duration_seconds", metric.WithUnit("s"),
		metric.WithDescription("Duration of outbound calls, from the request (or CONNECT) to the end of the response (or tunnel)."))
	g.bytesUp, _ = m.Int64Counter("sluice_upstream_bytes_total",
		metric.WithDescription("Bytes exchanged with upstreams by direction (sent|received)."))
	g.active, _ = m.Int64UpDownCounter("sluice_active_connections",
		metric.WithDescription("Client connections open on the data-plane listeners."))
	g.rejected, _ = m.Int64Counter("sluice_connections_rejected_total",
		metric.WithDescription("Client connections closed at accept because limits.max_connections was reached."))
	g.sentAttr = metric.WithAttributeSet(attribute.NewSet(attribute.String("direction", "sent")))
	g.recvAttr = metric.WithAttributeSet(attribute.NewSet(attribute.String("direction", "received")))
	return g
}

func (m *gwMetrics) request(ctx context.Context, listener, decision, reason string, d time.Duration) {
	set := metric.WithAttributeSet(attribute.NewSet(attribute.String("listener", listener),
		attribute.String("decision", decision), attribute.String("reason", reason)))
	m.requests.Add(ctx, 1, set)
	m.duration.Record(ctx, d.Seconds(), metric.WithAttributeSet(attribute.NewSet(attribute.String("listener", listener),
		attribute.String("decision", decision))))
}

func (m *gwMetrics) bytes(ctx context.Context, sent, received int64) {
	if sent > 0 {
		m.bytesUp.Add(ctx, sent, m.sentAttr)
	}
	if received > 0 {
		m.bytesUp.Add(ctx, received, m.recvAttr)
	}
}
