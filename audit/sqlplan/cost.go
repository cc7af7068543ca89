package sqlplan

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/audit"
)

// The aggregations of a cost report (audit.Reader.Cost). Both count the
// calls that went out (allowed, or denied only in report mode) and have
// ended: what the stores add to cost_hourly with each outcome
// (CostGroups). Sums are cast to 64-bit integers, which PostgreSQL's SUM
// of a bigint is not, and never NULL.

// costKeyExpr is the SQL of each CostQuery.By key on the records view.
var costKeyExpr = map[string]string{
	"source":      "CASE WHEN source_workload <> '' THEN source_workload WHEN source_identity <> '' THEN source_identity ELSE source_ip END",
	"destination": "host",
	"meter":       "meter",
}

// CostSQL aggregates the records with time_start in [since, until) (zero:
// open) by the keys of by: their expressions, then calls, bytes, cost and
// currency.
func CostSQL(d Dialect, by []string, since, until time.Time) (string, []any) {
	args := NewArgs(d)
	conds := []string{audit.WentOutSQL(), "time_end IS NOT NULL"}
	if !since.IsZero() {
		conds = append(conds, "time_start >= "+args.Time(since))
	}
	if !until.IsZero() {
		conds = append(conds, "time_start < "+args.Time(until))
	}
	var keys []string
	for _, k := range by {
		keys = append(keys, costKeyExpr[k])
	}
	sel := append(append([]string(nil), keys...),
		"coalesce(CAST(SUM(CASE WHEN count > 1 THEN count ELSE 1 END) AS BIGINT), 0)",
		"coalesce(CAST(SUM(bytes_sent + bytes_received) AS BIGINT), 0)", "coalesce(SUM(cost), 0)", "currency")
	group := append(keys, "currency")
	return "SELECT " + strings.Join(sel, ", ") + " FROM records WHERE " + strings.Join(conds, " AND ") +
		" GROUP BY " + strings.Join(group, ", "), args.Values()
}

// RollupSQL aggregates the cost_hourly hours in [from, to) (zero: open) by
// the keys of by: the keys, then calls, bytes, cost and currency.
func RollupSQL(d Dialect, by []string, from, to time.Time) (string, []any) {
	args := NewArgs(d)
	var conds []string
	if !from.IsZero() {
		conds = append(conds, "hour >= "+args.Time(from))
	}
	if !to.IsZero() {
		conds = append(conds, "hour < "+args.Time(to))
	}
	sel := append(append([]string(nil), by...),
		"coalesce(CAST(SUM(calls) AS BIGINT), 0)", "coalesce(CAST(SUM(bytes) AS BIGINT), 0)", "coalesce(SUM(cost), 0)", "currency")
	keys := append(append([]string(nil), by...), "currency")
	q := "SELECT " + strings.Join(sel, ", ") + " FROM cost_hourly"
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	return q + " GROUP BY " + strings.Join(keys, ", "), args.Values()
}

// CostGroup is one row of cost_hourly: the calls, bytes and cost of the
// calls that went out and ended, per hour of time_start, source,
// destination, meter and currency.
type CostGroup struct {
	Hour                                 time.Time
	Source, Destination, Meter, Currency string
	Calls, Bytes                         int64
	Cost                                 float64
}

// CostGroups adds up the calls of b that went out and ended (whole
// records, and every outcome: each is either written into its row or
// inserted whole) into cost_hourly's groups, in key order, so that
// gateways adding to the same hours lock them in the same order.
func CostGroups(b *audit.Batch) []CostGroup {
	type key struct {
		hour                                 time.Time
		source, destination, meter, currency string
	}
	sums := map[key]*CostGroup{}
	var keys []key
	add := func(r *audit.Record) {
		if !r.WentOut() {
			return
		}
		k := key{r.TimeStart.UTC().Truncate(time.Hour), r.Source(), r.Host, r.Meter, r.Currency}
		g := sums[k]
		if g == nil {
			g = &CostGroup{Hour: k.hour, Source: k.source, Destination: k.destination, Meter: k.meter, Currency: k.currency}
			sums[k] = g
			keys = append(keys, k)
		}
		g.Calls += int64(r.Calls())
		g.Bytes += r.BytesSent + r.BytesReceived
		g.Cost += r.Cost
	}
	for _, r := range b.Inserts {
		if !r.TimeEnd.IsZero() {
			add(r)
		}
	}
	for _, r := range b.Outcomes {
		add(r)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(a.hour.Compare(b.hour), cmp.Compare(a.source, b.source), cmp.Compare(a.destination, b.destination),
			cmp.Compare(a.meter, b.meter), cmp.Compare(a.currency, b.currency))
	})
	out := make([]CostGroup, len(keys))
	for i, k := range keys {
		out[i] = *sums[k]
	}
	return out
}

// GatewaySeq is the highest seq of one gateway in a batch.
type GatewaySeq struct {
	Gateway string
	Seq     uint64
}

// GatewaySeqs is the highest seq of each gateway whose records b holds
// (nearly always one), in order of appearance: what a store keeps per
// gateway so that seq continues across restarts and retention.
func GatewaySeqs(b *audit.Batch) []GatewaySeq {
	var out []GatewaySeq
	note := func(r *audit.Record) {
		for i := range out {
			if out[i].Gateway == r.Gateway {
				out[i].Seq = max(out[i].Seq, r.Seq)
				return
			}
		}
		out = append(out, GatewaySeq{r.Gateway, r.Seq})
	}
	for _, r := range b.Inserts {
		note(r)
	}
	for _, r := range b.Outcomes {
		note(r)
	}
	return out
}
