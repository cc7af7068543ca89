package sqlplan

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/sluicehq/sluice/audit"
)

// Querier runs a query (a pool, a connection, a transaction).
type Querier func(ctx context.Context, query string, args ...any) (Rows, error)

// SQLRows adapts database/sql's rows to Rows.
type SQLRows struct{ *sql.Rows }

// Close implements Rows.
func (r SQLRows) Close() { _ = r.Rows.Close() }

// DBQuerier is the Querier of a database/sql pool or connection.
func DBQuerier(q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}) Querier {
	return func(ctx context.Context, query string, args ...any) (Rows, error) {
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, err
		}
		return SQLRows{rows}, nil
	}
}

// Reader answers audit.Reader's queries for a SQL store: the records of a
// Filter and cost reports, planned the same way whatever the store.
type Reader struct {
	// Dialect is the store's SQL.
	Dialect Dialect
	// Columns are the record columns to read, in schema order.
	Columns []audit.Column
	// Select is the column list of records queries (Select).
	Select string
	// Label starts error messages ("audit: /data/audit.db").
	Label string
}

// NewReader reads the columns cols of a store in dialect d whose records
// view has the columns have (nil: all).
func NewReader(d Dialect, cols []audit.Column, have map[string]bool, label string) *Reader {
	return &Reader{Dialect: d, Columns: cols, Select: Select(d, cols, have), Label: label}
}

// Query implements audit.Reader.Query on q.
func (r *Reader) Query(ctx context.Context, q Querier, f audit.Filter, fn func(*audit.Record) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	query, args := QuerySQL(r.Dialect, r.Select, &f)
	return r.each(ctx, q, "query", 0, query, args, fn)
}

// OpenRecords returns gateway's records whose outcome never arrived
// (audit.Store.OpenRecords), their RowRefs in generation gen.
func (r *Reader) OpenRecords(ctx context.Context, q Querier, gateway string, gen uint64) ([]audit.Record, error) {
	var out []audit.Record
	err := r.each(ctx, q, "open records", gen, OpenRecordsSQL(r.Dialect, r.Select), []any{gateway}, func(rec *audit.Record) error {
		out = append(out, *rec)
		return nil
	})
	return out, err
}

// each calls fn with each record query selects.
func (r *Reader) each(ctx context.Context, q Querier, what string, gen uint64, query string, args []any, fn func(*audit.Record) error) error {
	rows, err := q(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", r.Label, what, err)
	}
	defer rows.Close()
	sc := NewRecordScanner(r.Dialect, r.Columns)
	for rows.Next() {
		rec, err := sc.Scan(rows, gen)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", r.Label, what, err)
		}
		if err := fn(&rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %s: %w", r.Label, what, err)
	}
	return nil
}

// Cost implements audit.Reader.Cost on q with the plan of costParts:
// whole hours from cost_hourly, partial hours from the records.
func (r *Reader) Cost(ctx context.Context, q Querier, cq audit.CostQuery) ([]audit.CostRow, error) {
	if err := cq.Validate(); err != nil {
		return nil, err
	}
	sums := costSums{}
	for _, p := range costParts(cq) {
		query, args := CostSQL(r.Dialect, cq.By, p.since, p.until)
		if p.rollup {
			query, args = RollupSQL(r.Dialect, cq.By, p.since, p.until)
		}
		if err := r.CostRows(ctx, q, cq.By, query, args, sums.add); err != nil {
			return nil, err
		}
	}
	return sums.rows(), nil
}

// CostRows runs one aggregation (CostSQL or RollupSQL) and calls add with
// each row.
func (r *Reader) CostRows(ctx context.Context, q Querier, by []string, query string, args []any, add func(audit.CostRow)) error {
	rows, err := q(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: cost: %w", r.Label, err)
	}
	defer rows.Close()
	for rows.Next() {
		row, err := ScanCost(rows, by)
		if err != nil {
			return fmt.Errorf("%s: cost: %w", r.Label, err)
		}
		add(row)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: cost: %w", r.Label, err)
	}
	return nil
}
