package sqlite

import (
	"encoding/json"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/sqlplan"
)

// dialect is SQLite's SQL for audit/sqlplan: "?" parameters; TEXT,
// INTEGER and REAL; times as fixed-width text (audit.TimeLayout, so that
// text order is time order), booleans as 0 and 1, lists as JSON text.
type dialect struct{}

// Placeholder implements sqlplan.Dialect.
func (dialect) Placeholder(int) string { return "?" }

// Type: SQLite has three storage classes a column needs.
func (dialect) Type(t audit.Type) string {
	if t == audit.Float {
		return "REAL"
	}
	if isText(t) {
		return "TEXT"
	}
	return "INTEGER"
}

// isText: strings, times and lists are stored as text.
func isText(t audit.Type) bool {
	return t == audit.Text || t == audit.Time || t == audit.OptTime || t == audit.List
}

// Zero: every type has one (times are "" until set).
func (dialect) Zero(t audit.Type) (string, bool) {
	if t == audit.List {
		return "'[]'", true
	}
	if isText(t) {
		return "''", true
	}
	if t == audit.Count {
		return "1", true
	}
	return "0", true
}

// Arg stores times as text, booleans as integers and lists as JSON (each
// converted straight from the field: this runs for every column of every
// row the ingester writes).
func (dialect) Arg(t audit.Type, p any) any {
	switch t {
	case audit.Time, audit.OptTime:
		return audit.FormatTime(*p.(*time.Time))
	case audit.List:
		return audit.FormatList(*p.(*[]string))
	case audit.Bool:
		if *p.(*bool) {
			return int64(1)
		}
		return int64(0)
	}
	return sqlplan.Value(t, p)
}

// ScanDest takes what the driver returns: int64, float64, string or nil.
func (dialect) ScanDest(audit.Type) any { return new(any) }

// Assign implements sqlplan.Dialect.
func (dialect) Assign(t audit.Type, dest, p any) error {
	v := *dest.(*any)
	switch t {
	case audit.Bool:
		if n, ok := v.(int64); ok {
			v = n != 0
		}
	case audit.Float:
		if n, ok := v.(int64); ok { // the view's 0 for an open call
			v = float64(n)
		}
	case audit.Time, audit.OptTime:
		if s, ok := v.(string); ok {
			tm, err := audit.ParseTime(s)
			if err != nil {
				return err
			}
			v = tm
		}
	case audit.List:
		if s, ok := v.(string); ok {
			var l []string
			if s != "" && s != "[]" {
				if err := json.Unmarshal([]byte(s), &l); err != nil {
					return err
				}
			}
			v = l
		}
	}
	return sqlplan.SetValue(t, p, v)
}

// ColumnsSQL implements sqlplan.Dialect.
func (dialect) ColumnsSQL() string { return "SELECT name FROM pragma_table_info(?)" }
