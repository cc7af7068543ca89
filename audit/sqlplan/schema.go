package sqlplan

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/audit"
)

// Names lists the names of cols.
func Names(cols []audit.Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

// Where lists the columns of cols for which keep is true, in order.
func Where(cols []audit.Column, keep func(audit.Column) bool) []audit.Column {
	var out []audit.Column
	for _, c := range cols {
		if keep(c) {
			out = append(out, c)
		}
	}
	return out
}

// Table is a store's table of record columns.
type Table struct {
	Name    string
	Columns []audit.Column
	// NotNull: its columns are NOT NULL (with their zero value as the
	// default when added later); else nullable.
	NotNull bool
}

// ColumnDDL is the definition of column c in a table (NOT NULL when
// notNull and the type has a zero value; added says with that zero as
// its default, for a column added to existing rows).
func ColumnDDL(d Dialect, c audit.Column, notNull, added bool) string {
	def := c.Name + " " + d.Type(c.Type)
	zero, ok := d.Zero(c.Type)
	if !notNull || !ok {
		return def
	}
	def += " NOT NULL"
	if added {
		def += " DEFAULT " + zero
	}
	return def
}

// Exec runs a statement.
type Exec func(ctx context.Context, stmt string) error

// ColumnsOf returns the column names of the table or view rel (none when
// it does not exist).
func ColumnsOf(ctx context.Context, d Dialect, q Querier, rel string) (map[string]bool, error) {
	rows, err := q(ctx, d.ColumnsSQL(), rel)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		have[name] = true
	}
	return have, rows.Err()
}

// Migrate brings a store written by an earlier version up to the record
// schema (audit/columns.go): every column a table lacks is added (NOT
// NULL ones with their zero value as the default, so existing rows read
// as zero), and the records view is recreated with viewDDL when it lacks
// a column of cols or rid. Columns a table or the view has beyond the
// schema (written by a newer version) stay.
func Migrate(ctx context.Context, d Dialect, q Querier, exec Exec, tables []Table, cols []audit.Column, viewDDL string) error {
	for _, t := range tables {
		have, err := ColumnsOf(ctx, d, q, t.Name)
		if err != nil {
			return fmt.Errorf("migrating %s: %w", t.Name, err)
		}
		for _, c := range t.Columns {
			if have[c.Name] {
				continue
			}
			if err := exec(ctx, "ALTER TABLE "+t.Name+" ADD COLUMN "+ColumnDDL(d, c, t.NotNull, true)); err != nil {
				return fmt.Errorf("adding column %s to %s: %w", c.Name, t.Name, err)
			}
		}
	}
	view, err := ColumnsOf(ctx, d, q, "records")
	if err != nil {
		return fmt.Errorf("migrating records: %w", err)
	}
	for _, name := range append(Names(cols), "rid") {
		if !view[name] {
			if err := exec(ctx, "DROP VIEW IF EXISTS records"); err != nil {
				return fmt.Errorf("replacing the records view: %w", err)
			}
			if err := exec(ctx, viewDDL); err != nil {
				return fmt.Errorf("creating the records view: %w", err)
			}
			return nil
		}
	}
	return nil
}
