package dnsproxy

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// meterName is the instrumentation scope of this package's instruments.
const meterName = "sluice/dnsproxy"

// result is the outcome of one query, the result label of
// sluice_dns_queries_total. The set is closed so the label stays bounded.
type result uint8

const (
	resultAnswered  result = iota // declared name, records in the answer
	resultNoData                  // declared name, NOERROR with no answer
	resultNXDomain                // undeclared name (enforce mode)
	resultForwarded               // relayed from an upstream (forward zone, or report mode)
	resultServFail                // upstreams failed
	resultRefused                 // other class, zone transfer, TCP overload, other opcode
	resultDropped                 // UDP query dropped because max_inflight was reached
	resultMalformed               // unparseable packet (FORMERR from the library)
	numResults
)

var resultNames = [numResults]string{"answered", "nodata", "nxdomain", "forwarded", "servfail", "refused", "dropped", "malformed"}

// String returns the label value.
func (r result) String() string { return resultNames[r] }

// serverMetrics are the instruments of the DNS proxy, created once. The
// query counts are plain atomics read by an observable counter at
// collection time: a synchronous OTel Add costs more than answering a
// declared name's query does.
type serverMetrics struct {
	queries [numResults]atomic.Int64
	byRes   [numResults]metric.ObserveOption

	auditDropped metric.Int64Counter
	dropFull     metric.AddOption
	dropWrite    metric.AddOption
	dropNone     metric.AddOption
}

func newServerMetrics(mp metric.MeterProvider) *serverMetrics {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter(meterName)
	sm := &serverMetrics{}
	for i := range sm.byRes {
		sm.byRes[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", result(i).String())))
	}
	_, _ = m.Int64ObservableCounter("sluice_dns_queries_total",
		metric.WithDescription("DNS queries handled by the DNS proxy, by result (answered, nodata, nxdomain, forwarded, servfail, refused, dropped, malformed)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for i := range sm.queries {
				if v := sm.queries[i].Load(); v > 0 {
					o.Observe(v, sm.byRes[i])
				}
			}
			return nil
		}))
	sm.auditDropped, _ = m.Int64Counter("sluice_dns_audit_dropped_total",
		metric.WithDescription("Audit records of denied DNS queries that could not be written, by reason (queue_full, write_error, no_auditor)."))
	reason := func(s string) metric.AddOption {
		return metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", s)))
	}
	sm.dropFull, sm.dropWrite, sm.dropNone = reason("queue_full"), reason("write_error"), reason("no_auditor")
	return sm
}

func (sm *serverMetrics) count(r result) { sm.queries[r].Add(1) }

// resolverMetrics are the instruments of the gateway's resolver.
type resolverMetrics struct {
	upstream       metric.Float64Histogram
	upOK, upErr    metric.RecordOption
	cache          metric.Int64Counter
	cacheHit, miss metric.AddOption
}

func newResolverMetrics(mp metric.MeterProvider) *resolverMetrics {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter(meterName)
	rm := &resolverMetrics{}
	rm.upstream, _ = m.Float64Histogram("sluice_dns_upstream_duration_seconds", metric.WithUnit("s"),
		metric.WithDescription("Time of one exchange with an upstream resolver, by result (ok, error)."))
	rm.upOK = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "ok")))
	rm.upErr = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "error")))
	rm.cache, _ = m.Int64Counter("sluice_dns_resolver_cache_total",
		metric.WithDescription("Lookups of the gateway's resolver cache, by result (hit, miss)."))
	rm.cacheHit = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "hit")))
	rm.miss = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "miss")))
	return rm
}
