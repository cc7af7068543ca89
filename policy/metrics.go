package policy

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// instruments are the engine's metrics (docs/contract.md §9), created once.
type instruments struct {
	evalDuration metric.Float64Histogram
	reloads      metric.Int64Counter
	errors       metric.Int64Counter
	cacheHits    metric.Int64Counter

	reloadOK, reloadFailed metric.MeasurementOption
}

func newInstruments(mp metric.MeterProvider) (*instruments, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter("github.com/sluicehq/sluice/policy")
	var in instruments
	var err error
	if in.evalDuration, err = m.Float64Histogram("sluice_policy_eval_duration_seconds",
		metric.WithDescription("Time to evaluate the egress policy for one call."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
			0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5)); err != nil {
		return nil, err
	}
	if in.reloads, err = m.Int64Counter("sluice_config_reloads_total",
		metric.WithDescription("Config reloads by kind (registry, policy) and result (success, failure): file changes, SIGHUP, bundle downloads.")); err != nil {
		return nil, err
	}
	if in.errors, err = m.Int64Counter("sluice_policy_errors_total",
		metric.WithDescription("Decisions denied with policy_error: evaluation errors, undefined results, timeouts, no bundle yet.")); err != nil {
		return nil, err
	}
	if in.cacheHits, err = m.Int64Counter("sluice_policy_cache_hits_total",
		metric.WithDescription("Decisions answered from the decision cache (an identical input was evaluated before by the same policy).")); err != nil {
		return nil, err
	}
	in.reloadOK = metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", "policy"), attribute.String("result", "success")))
	in.reloadFailed = metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", "policy"), attribute.String("result", "failure")))
	// Failure series exist at 0 from the start, so that alerts on
	// increase() fire on the first failure.
	in.reloads.Add(context.Background(), 0, in.reloadFailed)
	in.errors.Add(context.Background(), 0)
	return &in, nil
}

func (in *instruments) reload(ctx context.Context, ok bool) {
	if ok {
		in.reloads.Add(ctx, 1, in.reloadOK)
	} else {
		in.reloads.Add(ctx, 1, in.reloadFailed)
	}
}
