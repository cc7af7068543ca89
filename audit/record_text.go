package audit

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// TimeLayout is how the text forms of a record (CSV, the SQLite store)
// write times: UTC with milliseconds, fixed width, so that text order is
// time order and SQLite's strftime('%Y-%m-%dT%H:%M:%fZ', …) produces
// comparable values.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime renders t in TimeLayout; the zero time is "".
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeLayout)
}

// ParseTime reads a time written with FormatTime (or any RFC 3339 time);
// "" is the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, ok := parseTimeLayout(s); ok {
		return t, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// parseTimeLayout reads a time in TimeLayout exactly, five times faster
// than time.Parse (a scan of every record, `sluice audit verify`, reads
// two per record); ok is false for anything else.
func parseTimeLayout(s string) (time.Time, bool) {
	// 2006-01-02T15:04:05.000Z
	if len(s) != len(TimeLayout) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z' {
		return time.Time{}, false
	}
	ok := true
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				ok = false
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	hour, min, sec, ms := num(11, 2), num(14, 2), num(17, 2), num(20, 3)
	if !ok || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, ms*int(time.Millisecond), time.UTC)
	if t.Day() != day { // 31 April and the like: as time.Parse, an error
		return time.Time{}, false
	}
	return t, true
}

// FormatList renders a List column (policy_rules) as a JSON array, as
// the stores and the CSV keep it.
func FormatList(rules []string) string {
	if len(rules) == 0 {
		return "[]"
	}
	simple := true
	for _, r := range rules {
		for i := 0; i < len(r) && simple; i++ {
			simple = r[i] >= 0x20 && r[i] < 0x7f && r[i] != '"' && r[i] != '\\'
		}
	}
	if !simple {
		b, _ := json.Marshal(rules)
		return string(b)
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, r := range rules {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(r)
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}

// text renders the field p points to (of t's Go type) as the CSV does:
// times in TimeLayout ("" for the zero time), lists as JSON arrays,
// counts as at least 1.
func (t Type) text(p any) string {
	switch t {
	case Text:
		return *p.(*string)
	case Uint:
		return strconv.FormatUint(*p.(*uint64), 10)
	case Int:
		return strconv.Itoa(*p.(*int))
	case Count:
		return strconv.Itoa(max(*p.(*int), 1))
	case Int64:
		return strconv.FormatInt(*p.(*int64), 10)
	case Float:
		return strconv.FormatFloat(*p.(*float64), 'f', -1, 64)
	case Bool:
		return strconv.FormatBool(*p.(*bool))
	case Time, OptTime:
		return FormatTime(*p.(*time.Time))
	case List:
		return FormatList(*p.(*[]string))
	}
	return ""
}

// Fields renders r's columns as text, in schema order (the CSV row).
func (r *Record) Fields() []string {
	out := make([]string, len(columns))
	for i := range columns {
		c := &columns[i]
		out[i] = c.Type.text(c.Field(r))
	}
	return out
}
