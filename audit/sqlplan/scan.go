package sqlplan

import (
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/audit"
)

// Rows is what a query returns, whatever the driver (database/sql's
// *sql.Rows through SQLRows, pgx.Rows as it is).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Select is the column list of a query of the records view: every column
// of cols, then rid. A column the view lacks (a store written before the
// column existed, opened read-only, so not migrated) reads as its zero
// value. have lists the view's columns; nil means all.
func Select(d Dialect, cols []audit.Column, have map[string]bool) string {
	sel := make([]string, 0, len(cols)+1)
	for _, c := range cols {
		if have == nil || have[c.Name] {
			sel = append(sel, c.Name)
			continue
		}
		zero, ok := d.Zero(c.Type)
		if !ok {
			zero = "NULL"
		}
		sel = append(sel, fmt.Sprintf("CAST(%s AS %s) AS %s", zero, d.Type(c.Type), c.Name))
	}
	return strings.Join(append(sel, "rid"), ", ")
}

// RecordScanner reads rows selected with Select into Records: one holder
// per column, reused from row to row.
type RecordScanner struct {
	d    Dialect
	cols []audit.Column
	dest []any
	rid  int64
}

// NewRecordScanner reads rows of the columns cols (Select's order) in
// dialect d.
func NewRecordScanner(d Dialect, cols []audit.Column) *RecordScanner {
	s := &RecordScanner{d: d, cols: cols, dest: make([]any, len(cols)+1)}
	for i, c := range cols {
		s.dest[i] = d.ScanDest(c.Type)
	}
	s.dest[len(cols)] = &s.rid
	return s
}

// Scan reads the current row of rows into a new Record; its RowRef is
// the row's rid in generation gen.
func (s *RecordScanner) Scan(rows Rows, gen uint64) (audit.Record, error) {
	var r audit.Record
	if err := rows.Scan(s.dest...); err != nil {
		return r, err
	}
	for i := range s.cols {
		c := &s.cols[i]
		if err := s.d.Assign(c.Type, s.dest[i], c.Field(&r)); err != nil {
			return r, fmt.Errorf("record %s: %s: %w", r.ID, c.Name, err)
		}
	}
	r.SetRow(audit.RowRef{ID: s.rid, Gen: gen})
	return r, nil
}

// ScanCost reads a row of CostSQL or RollupSQL grouped by by.
func ScanCost(rows Rows, by []string) (audit.CostRow, error) {
	var row audit.CostRow
	dest := append(costKeyDests(by, &row), &row.Calls, &row.Bytes, &row.Cost, &row.Currency)
	err := rows.Scan(dest...)
	return row, err
}
