package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/format"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/spf13/cobra"
)

// newCostExportCmd is `sluice cost export --format focus`: the cost of
// the calls that went out, per charge period (hour or day), as FinOps
// FOCUS 1.x CSV for FinOps tools.
func newCostExportCmd() *cobra.Command {
	var (
		src                                storeSource
		since, until, output, period, acct string
	)
	cmd := &cobra.Command{
		Use:   "export --format focus [--store URL | --server URL] [--since D] [--until T] [--period day|hour] [--account ID]",
		Short: "Export cost as FinOps FOCUS 1.x CSV, per hour or day",
		Long: `Export the cost of the calls that went out (as cost report counts them) as
FinOps FOCUS 1.x CSV: one row per charge period (UTC hours or days) ×
workload × destination × meter × currency. The destination is the provider,
service and resource, the workload the sub-account; BilledCost,
EffectiveCost, ListCost and ContractedCost are the price of cost.meters and
cost.per_gib (Sluice knows no discounts); Tags carry sluice.workload,
sluice.destination and sluice.meter.`,
		Example: `  sluice cost export --format focus --since 720h > sluice-focus.csv
  sluice cost export --format focus --server http://127.0.0.1:9901 --period hour --since 24h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != format.FOCUS {
				return fmt.Errorf("--format: %q (only focus)", output)
			}
			step := 24 * time.Hour
			switch period {
			case "day":
			case "hour":
				step = time.Hour
			default:
				return fmt.Errorf("--period: %q (day or hour)", period)
			}
			now := time.Now()
			var q audit.CostQuery
			var err error
			if q.Since, err = audit.ParseTimeArg(since, now); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if q.Until, err = audit.ParseTimeArg(until, now); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			if q.Until.IsZero() {
				q.Until = now.UTC()
			}
			q.By = []string{"source", "destination", "meter"}
			if err := q.Validate(); err != nil {
				return fmt.Errorf("--%w", err)
			}
			var periods []format.CostPeriod
			if src.server != "" {
				periods, err = src.remotePeriods(cmd.Context(), q, step)
			} else {
				var r audit.Reader
				if r, err = src.open(cmd.Context(), cmd.ErrOrStderr()); err != nil {
					return err
				}
				defer r.Close()
				periods, err = costPeriods(cmd.Context(), r, q, step)
			}
			if err != nil {
				return err
			}
			return format.WriteFOCUS(cmd.OutOrStdout(), periods, format.FocusOptions{BillingAccountID: acct})
		},
	}
	src.addFlags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&output, "format", "", "focus (FinOps FOCUS 1.x CSV)")
	fl.StringVar(&since, "since", "720h", "calls started at or after: a duration before now or a time")
	fl.StringVar(&until, "until", "", "calls started before: a duration before now or a time (default now)")
	fl.StringVar(&period, "period", "day", "charge period: day or hour (UTC)")
	fl.StringVar(&acct, "account", "sluice", "BillingAccountId (and name) of the rows")
	_ = cmd.MarkFlagRequired("format")
	return cmd
}

// periodBounds are the charge periods of q by step: whole UTC steps, the
// first from q.Since.
func periodBounds(q audit.CostQuery, step time.Duration) [][2]time.Time {
	var out [][2]time.Time
	for b := q.Since.Truncate(step); b.Before(q.Until); b = b.Add(step) {
		s, e := b, b.Add(step)
		if s.Before(q.Since) {
			s = q.Since
		}
		if e.After(q.Until) {
			e = q.Until
		}
		out = append(out, [2]time.Time{s, e})
	}
	return out
}

// costPeriods asks r for the cost of each period.
func costPeriods(ctx context.Context, r audit.Reader, q audit.CostQuery, step time.Duration) ([]format.CostPeriod, error) {
	var out []format.CostPeriod
	for _, b := range periodBounds(q, step) {
		rows, err := r.Cost(ctx, audit.CostQuery{Since: b[0], Until: b[1], By: q.By})
		if err != nil {
			return nil, err
		}
		out = append(out, format.CostPeriod{Start: b[0], End: b[1], Rows: rows})
	}
	return out, nil
}

// remotePeriods asks a gateway's GET /v1/cost/series.
func (s *storeSource) remotePeriods(ctx context.Context, q audit.CostQuery, step time.Duration) ([]format.CostPeriod, error) {
	v := q.Query()
	v.Set("step", config.Duration(step).String())
	resp, err := s.get(ctx, "/v1/cost/series", v)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Buckets []struct {
			Start time.Time       `json:"start"`
			End   time.Time       `json:"end"`
			Rows  []audit.CostRow `json:"rows"`
		} `json:"buckets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("%s: reading the response: %w", s.server, err)
	}
	out := make([]format.CostPeriod, 0, len(body.Buckets))
	for i, b := range body.Buckets {
		start := b.Start
		if i == 0 && start.Before(q.Since) {
			start = q.Since
		}
		out = append(out, format.CostPeriod{Start: start, End: b.End, Rows: b.Rows})
	}
	return out, nil
}
