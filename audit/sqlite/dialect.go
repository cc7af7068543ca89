package sqlite

import (
	"encoding/json"
	"strings"
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
func (dialect) Assign(t audit.Type, dest, p any) error { return assign(t, *dest.(*any), p) }

// assign stores v, a value the driver returned, into the field p points
// to (of type t): Assign, without the holder (sluice_leaf_hash calls it
// for every column of every record it hashes).
func assign(t audit.Type, v, p any) error {
	switch t {
	case audit.Bool:
		if n, ok := v.(int64); ok {
			*p.(*bool) = n != 0
			return nil
		}
	case audit.Float:
		if n, ok := v.(int64); ok { // the view's 0 for an open call
			*p.(*float64) = float64(n)
			return nil
		}
	case audit.Time, audit.OptTime:
		if s, ok := v.(string); ok {
			tm, err := audit.ParseTime(s)
			if err != nil {
				return err
			}
			*p.(*time.Time) = tm.UTC()
			return nil
		}
	case audit.List:
		if s, ok := v.(string); ok {
			l, ok := simpleList(s)
			if !ok {
				if err := json.Unmarshal([]byte(s), &l); err != nil {
					return err
				}
			}
			if len(l) == 0 {
				l = nil
			}
			*p.(*[]string) = l
			return nil
		}
	}
	return sqlplan.SetValue(t, p, v)
}

// ColumnsSQL implements sqlplan.Dialect.
func (dialect) ColumnsSQL() string { return "SELECT name FROM pragma_table_info(?)" }

// simpleList reads a JSON array of strings without escapes (what
// audit.FormatList writes for the usual rule names) without
// encoding/json; ok is false for anything else.
func simpleList(s string) ([]string, bool) {
	if s == "" || s == "[]" {
		return nil, true
	}
	if len(s) < 4 || s[0] != '[' || s[len(s)-1] != ']' || strings.IndexByte(s, '\\') >= 0 {
		return nil, false
	}
	var out []string
	rest := s[1 : len(s)-1]
	for {
		if len(rest) < 2 || rest[0] != '"' {
			return nil, false
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return nil, false
		}
		out = append(out, rest[1:1+end])
		rest = rest[2+end:]
		if rest == "" {
			return out, true
		}
		if rest[0] != ',' {
			return nil, false
		}
		rest = rest[1:]
	}
}
