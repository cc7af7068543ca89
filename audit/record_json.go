package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// A record's JSON form (the admin API, `sluice audit query --format
// json`) is an object of its columns, in schema order, named as the
// schema names them (docs/contract.md §8): time_end is left out while the
// call is open and count when it is 0. Values are what encoding/json
// makes of the fields (times in RFC 3339 with nanoseconds, policy_rules
// null when there are none), so the form is the one the struct tags gave
// before the schema became one table.

// MarshalJSON implements json.Marshaler.
func (r Record) MarshalJSON() ([]byte, error) {
	return r.AppendJSON(make([]byte, 0, 768))
}

// AppendJSON appends r's JSON form to dst.
func (r *Record) AppendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, '{')
	first := true
	for i := range columns {
		c := &columns[i]
		p := c.Field(r)
		if c.Type.omitted(p) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, c.Name)
		dst = append(dst, ':')
		var err error
		if dst, err = c.Type.appendJSON(dst, p); err != nil {
			return nil, fmt.Errorf("audit: record %s: %s: %w", r.ID, c.Name, err)
		}
	}
	return append(dst, '}'), nil
}

// omitted reports whether the field p points to is left out of the JSON
// form: an unset OptTime, a Count of 0.
func (t Type) omitted(p any) bool {
	switch t {
	case OptTime:
		return p.(*time.Time).IsZero()
	case Count:
		return *p.(*int) == 0
	}
	return false
}

// appendJSON appends the JSON value of the field p points to.
func (t Type) appendJSON(dst []byte, p any) ([]byte, error) {
	switch t {
	case Text:
		return appendJSONString(dst, *p.(*string)), nil
	case Uint:
		return strconv.AppendUint(dst, *p.(*uint64), 10), nil
	case Int, Count:
		return strconv.AppendInt(dst, int64(*p.(*int)), 10), nil
	case Int64:
		return strconv.AppendInt(dst, *p.(*int64), 10), nil
	case Float:
		return appendJSONFloat(dst, *p.(*float64))
	case Bool:
		return strconv.AppendBool(dst, *p.(*bool)), nil
	case Time, OptTime:
		dst = append(dst, '"')
		dst, err := p.(*time.Time).AppendText(dst)
		return append(dst, '"'), err
	case List:
		l := *p.(*[]string)
		if l == nil {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		for i, s := range l {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, s)
		}
		return append(dst, ']'), nil
	}
	return dst, fmt.Errorf("column of unknown type %s", t)
}

// appendJSONFloat writes f as encoding/json does: the shortest decimal,
// in exponent form below 1e-6 and from 1e21 on.
func appendJSONFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, fmt.Errorf("unsupported value %v", f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9, as encoding/json does.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}

// appendJSONString writes s as encoding/json does (with HTML escaping, as
// json.Marshal and json.Encoder use by default): control characters,
// quotes, backslashes, <, > and & escaped, invalid UTF-8 as \ufffd, and
// U+2028 and U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// UnmarshalJSON implements json.Unmarshaler: each member named as a
// column (exactly, else ignoring case, as encoding/json matches struct
// fields) sets that column; others are ignored.
func (r *Record) UnmarshalJSON(b []byte) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return err
	}
	if members == nil { // null
		return nil
	}
	for name, raw := range members {
		c := columnNamed(name)
		if c == nil || bytes.Equal(raw, []byte("null")) {
			continue
		}
		if err := json.Unmarshal(raw, c.Field(r)); err != nil {
			return fmt.Errorf("audit: record: %s: %w", c.Name, err)
		}
	}
	return nil
}

// columnNamed is the column called name (exactly, else ignoring case), or
// nil.
func columnNamed(name string) *Column {
	for i := range columns {
		if columns[i].Name == name {
			return &columns[i]
		}
	}
	for i := range columns {
		if strings.EqualFold(columns[i].Name, name) {
			return &columns[i]
		}
	}
	return nil
}
