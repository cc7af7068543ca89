package egress

import (
	"context"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/lb"
	"github.com/sluicehq/sluice/internal/vocab"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// gwMetrics are the data plane's instruments (docs/contract.md §9). Labels
// stay bounded: listener, decision and reason codes, direction.
type gwMetrics struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
	bytesUp  metric.Int64Counter
	active   metric.Int64UpDownCounter
	rejected metric.Int64Counter
	sentAttr metric.MeasurementOption
	recvAttr metric.MeasurementOption

	// Attribute sets are built once per (listener, decision, reason): the
	// label space is small and bounded, and building a set per call costs
	// a sort and a hash.
	mu   sync.RWMutex
	sets map[setKey]setPair
}

type setKey struct {
	listener, decision string
	reason             vocab.Reason
}

type setPair struct{ requests, duration metric.MeasurementOption }

func newMetrics(mp metric.MeterProvider) *gwMetrics {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter("sluice/egress")
	g := &gwMetrics{sets: map[setKey]setPair{}}
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
	// The control failures alerts watch exist at 0 from the start, so that
	// increase() sees the first one.
	for _, l := range []string{vocab.ListenerProxy, vocab.ListenerHTTP, vocab.ListenerTLS} {
		for _, r := range []vocab.Reason{vocab.PolicyError, vocab.AuditUnavailable} {
			g.requests.Add(context.Background(), 0, g.attrs(setKey{l, vocab.DecisionDeny, r}).requests)
		}
	}
	g.sentAttr = metric.WithAttributeSet(attribute.NewSet(attribute.String("direction", "sent")))
	g.recvAttr = metric.WithAttributeSet(attribute.NewSet(attribute.String("direction", "received")))
	return g
}

func (m *gwMetrics) request(ctx context.Context, listener, decision string, reason vocab.Reason, d time.Duration) {
	p := m.attrs(setKey{listener, decision, reason})
	m.requests.Add(ctx, 1, p.requests)
	m.duration.Record(ctx, d.Seconds(), p.duration)
}

func (m *gwMetrics) attrs(k setKey) setPair {
	m.mu.RLock()
	p, ok := m.sets[k]
	m.mu.RUnlock()
	if ok {
		return p
	}
	p = setPair{
		requests: metric.WithAttributeSet(attribute.NewSet(attribute.String("listener", k.listener),
			attribute.String("decision", k.decision), attribute.String("reason", string(k.reason)))),
		duration: metric.WithAttributeSet(attribute.NewSet(attribute.String("listener", k.listener),
			attribute.String("decision", k.decision))),
	}
	m.mu.Lock()
	m.sets[k] = p
	m.mu.Unlock()
	return p
}

func (m *gwMetrics) bytes(ctx context.Context, sent, received int64) {
	if sent > 0 {
		m.bytesUp.Add(ctx, sent, m.sentAttr)
	}
	if received > 0 {
		m.bytesUp.Add(ctx, received, m.recvAttr)
	}
}

// observeClusters exports the state of DestinationRule traffic policies,
// read when metrics are collected: ejections and overflows so far, and
// endpoints ejected now, per cluster (bounded by the registry).
func (m *gwMetrics) observeClusters(mp metric.MeterProvider, t *lb.Table) {
	if mp == nil {
		return
	}
	meter := mp.Meter("sluice/egress")
	ejections, _ := meter.Int64ObservableCounter("sluice_upstream_ejections_total",
		metric.WithDescription("Endpoints ejected by DestinationRule outlierDetection, per cluster."))
	ejected, _ := meter.Int64ObservableGauge("sluice_upstream_ejected_endpoints",
		metric.WithDescription("Endpoints out of service now by outlierDetection, per cluster."))
	overflows, _ := meter.Int64ObservableCounter("sluice_upstream_overflows_total",
		metric.WithDescription("Calls refused with upstream_overflow because a connectionPool was full, per cluster."))
	_, _ = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, s := range t.Status() {
			set := metric.WithAttributeSet(attribute.NewSet(attribute.String("cluster", s.Name)))
			o.ObserveInt64(ejections, s.Ejections, set)
			o.ObserveInt64(ejected, int64(s.Ejected), set)
			o.ObserveInt64(overflows, s.Overflows, set)
		}
		return nil
	}, ejections, ejected, overflows)
}
