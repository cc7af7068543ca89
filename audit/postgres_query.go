package audit

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/vocab"
)

// pgArgs numbers the parameters of a statement being built.
type pgArgs []any

// add appends v and returns its placeholder.
func (a *pgArgs) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// pgWhere renders the conditions of f except Source, as whereClause does
// for SQLite.
func pgWhere(f *Filter, args *pgArgs) []string {
	var conds []string
	if !f.Since.IsZero() {
		conds = append(conds, "time_start >= "+args.add(f.Since))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "time_start < "+args.add(f.Until))
	}
	switch hosts := f.Hosts(); len(hosts) {
	case 1:
		conds = append(conds, "host = "+args.add(hosts[0]))
	case 2:
		conds = append(conds, "host IN ("+args.add(hosts[0])+", "+args.add(hosts[1])+")")
	}
	switch f.Decision {
	case vocab.DecisionDeny:
		// A literal, so that the planner can use the partial index of
		// denials.
		conds = append(conds, "decision = 'deny'")
	case vocab.DecisionAllow:
		conds = append(conds, "decision = 'allow'")
	}
	if f.Reason != "" {
		conds = append(conds, "reason = "+args.add(f.Reason))
	}
	if f.Event != "" {
		conds = append(conds, "event = "+args.add(f.Event))
	}
	if f.ID != "" {
		conds = append(conds, "id = "+args.add(f.ID))
	}
	return conds
}

// pgQuerySQL builds the query of f: newest first (time_start, then rid,
// the order of every index). A source matches one of several columns;
// as for SQLite, each column is its own indexed, limited subquery and the
// union is sorted, rather than an OR that defeats the indexes. An IP is
// looked up in source_ip only, anything else in source_identity and
// source_workload.
func pgQuerySQL(f *Filter) (string, []any) {
	var args pgArgs
	order := " ORDER BY time_start DESC, rid DESC"
	limit := ""
	if f.Source == "" {
		conds := pgWhere(f, &args)
		q := "SELECT " + selectList() + " FROM records"
		if len(conds) > 0 {
			q += " WHERE " + strings.Join(conds, " AND ")
		}
		if f.Limit > 0 {
			limit = " LIMIT " + args.add(int64(f.Limit))
		}
		return q + order + limit, args
	}
	if f.Limit > 0 {
		limit = " LIMIT " + args.add(int64(f.Limit))
	}
	src := args.add(f.Source)
	conds := pgWhere(f, &args)
	var srcCols []string
	if _, err := netip.ParseAddr(f.Source); err == nil {
		srcCols = []string{"source_ip"}
	} else {
		srcCols = []string{"source_identity", "source_workload"}
	}
	parts := make([]string, len(srcCols))
	for i, col := range srcCols {
		c := append([]string{col + " = " + src}, conds...)
		parts[i] = "(SELECT rid FROM decisions WHERE " + strings.Join(c, " AND ") + order + limit + ")"
	}
	return "SELECT " + selectList() + " FROM records WHERE rid IN (" + strings.Join(parts, " UNION ") + ")" + order + limit, args
}

// Query implements Reader.
func (s *pgStore) Query(ctx context.Context, f Filter, fn func(*Record) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	q, args := pgQuerySQL(&f)
	rows, err := s.r.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("audit: postgres: query: %w", err)
	}
	defer rows.Close()
	sc := newPGRowScanner()
	for rows.Next() {
		rec, err := sc.scan(rows)
		if err != nil {
			return fmt.Errorf("audit: postgres: query: %w", err)
		}
		if err := fn(&rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: postgres: query: %w", err)
	}
	return nil
}

// pgCostSQL aggregates the calls that went out (allowed, or denied only
// in report mode) and have ended, with time_start in [since, until).
func pgCostSQL(by []string, since, until time.Time) (string, []any) {
	var args pgArgs
	conds := []string{"event = 'outbound_call'", "(decision = 'allow' OR NOT enforced)", "time_end IS NOT NULL"}
	if !since.IsZero() {
		conds = append(conds, "time_start >= "+args.add(since))
	}
	if !until.IsZero() {
		conds = append(conds, "time_start < "+args.add(until))
	}
	var keys []string
	for _, k := range by {
		keys = append(keys, costKeyExpr[k])
	}
	sel := append(append([]string(nil), keys...),
		"SUM(GREATEST(count, 1))::bigint", "SUM(bytes_sent + bytes_received)::bigint", "SUM(cost)", "currency")
	group := append(keys, "currency")
	return "SELECT " + strings.Join(sel, ", ") + " FROM records WHERE " + strings.Join(conds, " AND ") +
		" GROUP BY " + strings.Join(group, ", "), args
}

// pgRollupSQL aggregates cost_hourly over the hours in [from, to).
func pgRollupSQL(by []string, from, to time.Time) (string, []any) {
	var args pgArgs
	var conds []string
	if !from.IsZero() {
		conds = append(conds, "hour >= "+args.add(from))
	}
	if !to.IsZero() {
		conds = append(conds, "hour < "+args.add(to))
	}
	keys := append(append([]string(nil), by...), "currency")
	q := "SELECT " + strings.Join(keys, ", ") + ", SUM(calls)::bigint, SUM(bytes)::bigint, SUM(cost) FROM cost_hourly"
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	return q + " GROUP BY " + strings.Join(keys, ", "), args
}

// Cost implements Reader, with the plan of costParts, as the SQLite
// store does: whole hours from cost_hourly, partial hours from the
// records.
func (s *pgStore) Cost(ctx context.Context, q CostQuery) ([]CostRow, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	sums := costSums{}
	for _, p := range costParts(q) {
		query, args := pgCostSQL(q.By, p.since, p.until)
		if p.rollup {
			query, args = pgRollupSQL(q.By, p.since, p.until)
		}
		if err := s.costRows(ctx, q.By, query, args, p.rollup, sums.add); err != nil {
			return nil, err
		}
	}
	return sums.rows(), nil
}

// costRows runs one aggregation; rollup queries put currency before the
// sums, record queries after.
func (s *pgStore) costRows(ctx context.Context, by []string, query string, args []any, rollup bool, add func(CostRow)) error {
	rows, err := s.r.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("audit: postgres: cost: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var row CostRow
		dest := costKeyDests(by, &row)
		if rollup {
			dest = append(dest, &row.Currency, &row.Calls, &row.Bytes, &row.Cost)
		} else {
			dest = append(dest, &row.Calls, &row.Bytes, &row.Cost, &row.Currency)
		}
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("audit: postgres: cost: %w", err)
		}
		add(row)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: postgres: cost: %w", err)
	}
	return nil
}
