package sqlplan

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/audit"
)

// Value is the field p points to (of type t) as a plain value that SQL
// drivers take: string (Text), int64 (Uint, Int, Int64; Count at least
// 1), float64, bool, time.Time (Time, OptTime) or []string (List). A
// Dialect's Arg converts what its driver needs otherwise.
func Value(t audit.Type, p any) any {
	switch t {
	case audit.Text:
		return *p.(*string)
	case audit.Uint:
		return int64(*p.(*uint64))
	case audit.Int:
		return int64(*p.(*int))
	case audit.Count:
		return int64(max(*p.(*int), 1))
	case audit.Int64:
		return *p.(*int64)
	case audit.Float:
		return *p.(*float64)
	case audit.Bool:
		return *p.(*bool)
	case audit.Time, audit.OptTime:
		return *p.(*time.Time)
	case audit.List:
		return *p.(*[]string)
	}
	panic("sqlplan: column of unknown type " + t.String())
}

// SetValue stores v, a value read back, into the field p points to (of
// type t): the types Value gives (any integer type for integers, time in
// UTC), or nil for the zero value. A Dialect's Assign converts what its
// driver returns into these first.
func SetValue(t audit.Type, p any, v any) error {
	if v == nil {
		audit.Zero(p)
		return nil
	}
	ok := true
	switch t {
	case audit.Text:
		*p.(*string), ok = v.(string)
	case audit.Uint:
		var n int64
		n, ok = v.(int64)
		*p.(*uint64) = uint64(n)
	case audit.Int, audit.Count:
		var n int64
		n, ok = v.(int64)
		*p.(*int) = int(n)
	case audit.Int64:
		*p.(*int64), ok = v.(int64)
	case audit.Float:
		*p.(*float64), ok = v.(float64)
	case audit.Bool:
		*p.(*bool), ok = v.(bool)
	case audit.Time, audit.OptTime:
		var tm time.Time
		tm, ok = v.(time.Time)
		*p.(*time.Time) = tm.UTC()
	case audit.List:
		var l []string
		l, ok = v.([]string)
		if len(l) == 0 {
			l = nil
		}
		*p.(*[]string) = l
	}
	if !ok {
		return fmt.Errorf("a %s column read %T", t, v)
	}
	return nil
}
