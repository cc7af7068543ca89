package postgres

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/sqlplan"
)

// dialect is PostgreSQL's SQL for audit/sqlplan: "$n" parameters; text,
// bigint (seq, bytes), integer (port, status, count), double precision,
// boolean, timestamptz (NULL for an unset optional time) and jsonb lists.
type dialect struct{}

// PrefixCond implements sqlplan.PrefixMatcher: col LIKE 'p%' (p's own %,
// _ and \ escaped), which decisions_path (text_pattern_ops) serves when
// the statement is planned with its value (Query runs unprepared).
func (dialect) PrefixCond(col, p string, args *sqlplan.Args) string {
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(p)
	return col + " LIKE " + args.Add(esc+"%")
}

// Placeholder implements sqlplan.Dialect.
func (dialect) Placeholder(n int) string { return "$" + strconv.Itoa(n) }

// Type implements sqlplan.Dialect.
func (dialect) Type(t audit.Type) string {
	switch t {
	case audit.Uint, audit.Int64:
		return "bigint"
	case audit.Int, audit.Count:
		return "integer"
	case audit.Float:
		return "double precision"
	case audit.Bool:
		return "boolean"
	case audit.Time, audit.OptTime:
		return "timestamptz"
	case audit.List:
		return "jsonb"
	}
	return "text"
}

// Zero implements sqlplan.Dialect.
func (dialect) Zero(t audit.Type) (string, bool) {
	switch t {
	case audit.Text:
		return "''", true
	case audit.Count:
		return "1", true
	case audit.Bool:
		return "false", true
	case audit.List:
		return "'[]'", true
	case audit.Time, audit.OptTime:
		return "", false // no zero time: a time column added later is nullable
	}
	return "0", true
}

// Arg sends 32-bit integers for integer columns, NULL for an unset
// optional time, and lists as JSON text (cast to jsonb in statements).
func (dialect) Arg(t audit.Type, p any) any {
	switch t {
	case audit.Int:
		return int32(*p.(*int))
	case audit.Count:
		return int32(max(*p.(*int), 1))
	case audit.OptTime:
		tm := *p.(*time.Time)
		return pgtype.Timestamptz{Time: tm, Valid: !tm.IsZero()}
	case audit.List:
		return audit.FormatList(*p.(*[]string))
	}
	return sqlplan.Value(t, p)
}

// ScanDest takes what pgx decodes: int32 or int64, float64, string, bool,
// time.Time, a decoded JSON array, or nil.
func (dialect) ScanDest(audit.Type) any { return new(any) }

// Assign implements sqlplan.Dialect.
func (dialect) Assign(t audit.Type, dest, p any) error {
	v := *dest.(*any)
	switch x := v.(type) {
	case int32:
		v = int64(x)
	case []any: // jsonb
		l := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("a list element of type %T", e)
			}
			l[i] = s
		}
		v = l
	}
	return sqlplan.SetValue(t, p, v)
}

// ColumnsSQL implements sqlplan.Dialect.
func (dialect) ColumnsSQL() string {
	return "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped"
}
