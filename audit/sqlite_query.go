package audit

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/vocab"
)

// whereClause renders the conditions of f except Source.
func whereClause(f *Filter) ([]string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		conds = append(conds, cond)
		args = append(args, arg)
	}
	if !f.Since.IsZero() {
		add("time_start >= ?", formatTime(f.Since))
	}
	if !f.Until.IsZero() {
		add("time_start < ?", formatTime(f.Until))
	}
	switch hosts := f.Hosts(); len(hosts) {
	case 1:
		add("host = ?", hosts[0])
	case 2:
		conds = append(conds, "host IN (?, ?)")
		args = append(args, hosts[0], hosts[1])
	}
	switch f.Decision {
	case vocab.DecisionDeny:
		// A literal, so that the planner can use the partial index of
		// denials (a bound parameter cannot prove the index applies).
		conds = append(conds, "decision = 'deny'")
	case vocab.DecisionAllow:
		conds = append(conds, "decision = 'allow'")
	}
	if f.Reason != "" {
		add("reason = ?", f.Reason)
	}
	if f.Event != "" {
		add("event = ?", f.Event)
	}
	if f.ID != "" {
		add("id = ?", f.ID)
	}
	return conds, args
}

// querySQL builds the query of f. Newest first is time_start, then rid
// (insertion order) — both in every index, so no sort is needed. A source
// matches one of three columns; rather than an OR (which defeats the
// indexes and forces a sort), each column is its own indexed, limited
// subquery and the union is sorted. An IP is looked up in source_ip only,
// anything else in source_identity and source_workload.
func querySQL(f *Filter) (string, []any) {
	conds, args := whereClause(f)
	limit := int64(f.Limit)
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	const order = " ORDER BY time_start DESC, rid DESC LIMIT ?"
	if f.Source == "" {
		q := "SELECT " + selectList() + " FROM records"
		if len(conds) > 0 {
			q += " WHERE " + strings.Join(conds, " AND ")
		}
		return q + order, append(args, limit)
	}
	var srcCols []string
	if _, err := netip.ParseAddr(f.Source); err == nil {
		srcCols = []string{"source_ip"}
	} else {
		srcCols = []string{"source_identity", "source_workload"}
	}
	var parts []string
	var all []any
	for _, col := range srcCols {
		c := append([]string{col + " = ?"}, conds...)
		parts = append(parts, "SELECT rid FROM (SELECT rid FROM records WHERE "+strings.Join(c, " AND ")+order+")")
		all = append(all, f.Source)
		all = append(all, args...)
		all = append(all, limit)
	}
	q := "SELECT " + selectList() + " FROM records WHERE rid IN (" + strings.Join(parts, " UNION ") + ")" + order
	return q, append(all, limit)
}

// reader returns the current read pool.
func (s *sqliteStore) reader() (*sql.DB, error) {
	r := s.r.Load()
	if r == nil {
		return nil, fmt.Errorf("audit: %s: store closed", s.path)
	}
	return r, nil
}

// Query implements Reader.
func (s *sqliteStore) Query(ctx context.Context, f Filter, fn func(*Record) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	r, err := s.reader()
	if err != nil {
		return err
	}
	q, args := querySQL(&f)
	rows, err := r.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("audit: %s: query: %w", s.path, err)
	}
	defer rows.Close()
	sc := newRowScanner()
	for rows.Next() {
		rec, err := sc.scan(rows)
		if err != nil {
			return fmt.Errorf("audit: %s: %w", s.path, err)
		}
		if err := fn(&rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: %s: query: %w", s.path, err)
	}
	return nil
}

// costKeyExpr is the SQL of each CostQuery.By key on the records view.
var costKeyExpr = map[string]string{
	"source":      "CASE WHEN source_workload <> '' THEN source_workload WHEN source_identity <> '' THEN source_identity ELSE source_ip END",
	"destination": "host",
	"meter":       "meter",
}

// costSQL aggregates records with time_start in [since, until) straight
// from the records view. It counts ended calls that went out: allowed, or
// denied only in report mode (enforced = 0) — what cost_hourly holds.
func costSQL(by []string, since, until time.Time) (string, []any) {
	conds := []string{"event = 'outbound_call'", "(decision = 'allow' OR enforced = 0)", "time_end IS NOT NULL"}
	var args []any
	if !since.IsZero() {
		conds = append(conds, "time_start >= ?")
		args = append(args, formatTime(since))
	}
	if !until.IsZero() {
		conds = append(conds, "time_start < ?")
		args = append(args, formatTime(until))
	}
	var keys []string
	for _, k := range by {
		keys = append(keys, costKeyExpr[k])
	}
	sel := append(append([]string(nil), keys...), "SUM(max(count, 1))", "SUM(bytes_sent + bytes_received)", "SUM(cost)", "currency")
	group := append(keys, "currency")
	return "SELECT " + strings.Join(sel, ", ") + " FROM records WHERE " + strings.Join(conds, " AND ") +
		" GROUP BY " + strings.Join(group, ", "), args
}

// rollupSQL aggregates cost_hourly over the hours in [from, to).
func rollupSQL(by []string, from, to time.Time) (string, []any) {
	var conds []string
	var args []any
	if !from.IsZero() {
		conds = append(conds, "hour >= ?")
		args = append(args, formatTime(from))
	}
	if !to.IsZero() {
		conds = append(conds, "hour < ?")
		args = append(args, formatTime(to))
	}
	keys := append(append([]string(nil), by...), "currency")
	q := "SELECT " + strings.Join(keys, ", ") + ", SUM(calls), SUM(bytes), SUM(cost) FROM cost_hourly"
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	return q + " GROUP BY " + strings.Join(keys, ", "), args
}

// Cost implements Reader, with the plan of costParts: whole hours from
// cost_hourly, partial hours from the records.
func (s *sqliteStore) Cost(ctx context.Context, q CostQuery) ([]CostRow, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	r, err := s.reader()
	if err != nil {
		return nil, err
	}
	sums := costSums{}
	for _, p := range costParts(q) {
		query, args := costSQL(q.By, p.since, p.until)
		if p.rollup {
			query, args = rollupSQL(q.By, p.since, p.until)
		}
		if err := s.costRows(ctx, r, q.By, query, args, p.rollup, sums.add); err != nil {
			return nil, err
		}
	}
	return sums.rows(), nil
}

// costRows runs one aggregation; rollup queries put currency before the
// sums, record queries after.
func (s *sqliteStore) costRows(ctx context.Context, r *sql.DB, by []string, query string, args []any, rollup bool, add func(CostRow)) error {
	rows, err := r.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("audit: %s: cost: %w", s.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var row CostRow
		dest := costKeyDests(by, &row)
		var calls, bytes sql.NullInt64
		var cost sql.NullFloat64
		if rollup {
			dest = append(dest, &row.Currency, &calls, &bytes, &cost)
		} else {
			dest = append(dest, &calls, &bytes, &cost, &row.Currency)
		}
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("audit: %s: cost: %w", s.path, err)
		}
		row.Calls, row.Bytes, row.Cost = calls.Int64, bytes.Int64, cost.Float64
		add(row)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: %s: cost: %w", s.path, err)
	}
	return nil
}
