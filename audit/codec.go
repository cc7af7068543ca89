package audit

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"time"
	"unsafe"

	"github.com/sluicehq/sluice/audit/spool"
)

// The record payload of a spool entry: a compact binary form of a Record,
// not a public format. Its first byte is the payload version; every
// version ever written stays readable (an upgrade replays what an older
// gateway left in its spool):
//
//   - version 1 (codec_v1.go, frozen): the 35 columns of the first schema
//     in a fixed order;
//   - version 2 (this file): a uvarint column count n, then the first n
//     columns of the record schema (columns.go) in schema order.
//
// Because columns are only ever appended to the schema, version 2 needs no
// successor when a column is added: a payload with fewer columns than the
// schema (written before the column existed) leaves the rest zero, and one
// with more (written by a newer gateway, read after a downgrade) has its
// extra columns, which come last, skipped.
//
// Values are written as the type of their column says, with the
// primitives of payloadReader (codec_read.go): Text as a uvarint length
// and the bytes, Uint as a uvarint, Int/Int64/Count as varints, Float as
// its 8 bits little endian, Bool as one byte, Time/OptTime as varint Unix
// nanoseconds (math.MinInt64 for the zero time), List as a uvarint count
// and strings.
//
// Encoding is on every call's critical path (Begin waits for the write it
// goes into): it allocates nothing.

// Payload versions: the first byte of every encoded record.
const (
	payloadV1 byte = 1
	payloadV2 byte = 2
)

// maxPayloadColumns bounds the column count of a version-2 payload: more
// is damage, not a record.
const maxPayloadColumns = 1 << 12

// appendRecord encodes r after dst in the current payload version: what
// appendFields makes of every column, written faster (codec_fast.go).
func appendRecord(dst []byte, r *Record) []byte {
	dst = append(dst, payloadV2)
	dst = binary.AppendUvarint(dst, uint64(len(columns)))
	dst = appendFirstColumns(dst, r)
	return appendValues(dst, r, payloadTail)
}

// appendFields encodes the fields of r that fs locate as a version-2
// payload. It reads each field at its offset rather than through
// Column.Field: an indirect call and a type assertion per column made it
// twice as slow (BenchmarkSpoolEncode).
func appendFields(dst []byte, r *Record, fs fieldPlan) []byte {
	dst = append(dst, payloadV2)
	dst = binary.AppendUvarint(dst, uint64(len(fs.types)))
	return appendValues(dst, r, fs)
}

// appendValues appends the values of the fields of r that fs locate.
func appendValues(dst []byte, r *Record, fs fieldPlan) []byte {
	base := unsafe.Pointer(r)
	offs := fs.offs[:len(fs.types)]
	for i, typ := range fs.types {
		p := unsafe.Add(base, offs[i])
		if typ == Text { // most columns: a branch taken first
			s := *(*string)(p)
			if len(s) < 0x80 { // a one-byte uvarint
				dst = append(dst, byte(len(s)))
			} else {
				dst = binary.AppendUvarint(dst, uint64(len(s)))
			}
			dst = append(dst, s...)
			continue
		}
		switch typ {
		case Uint:
			dst = binary.AppendUvarint(dst, *(*uint64)(p))
		case Int, Count:
			dst = binary.AppendVarint(dst, int64(*(*int)(p)))
		case Int64:
			dst = binary.AppendVarint(dst, *(*int64)(p))
		case Float:
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(*(*float64)(p)))
		case Bool:
			b := byte(0)
			if *(*bool)(p) {
				b = 1
			}
			dst = append(dst, b)
		case Time, OptTime:
			v := int64(math.MinInt64)
			if t := (*time.Time)(p); !t.IsZero() {
				v = t.UnixNano()
			}
			dst = binary.AppendVarint(dst, v)
		case List:
			l := *(*[]string)(p)
			dst = binary.AppendUvarint(dst, uint64(len(l)))
			for _, s := range l {
				dst = appendString(dst, s)
			}
		}
	}
	return dst
}

// fieldPlan is a list of columns as appendFields walks it: each column's
// type and the offset of its field in Record, in column order.
type fieldPlan struct {
	types []Type
	offs  []uintptr
}

// payloadTail is the columns after the first fastColumns, as
// appendRecord walks them. Only read.
var payloadTail = planOf(columns[fastColumns:])

// planOf finds where each column's field lies, from Column.Field, so the
// offsets always follow the table. It panics (when the package loads)
// unless each Field returns a pointer into the Record it is given, of the
// Go type its column's Type says: what makes appendFields' reads sound.
func planOf(cols []Column) fieldPlan {
	var probe Record
	base := uintptr(unsafe.Pointer(&probe))
	p := fieldPlan{types: make([]Type, len(cols)), offs: make([]uintptr, len(cols))}
	for i, c := range cols {
		v := reflect.ValueOf(c.Field(&probe))
		want := goTypeOf(c.Type)
		if v.Kind() != reflect.Pointer || v.Type().Elem() != want {
			panic(fmt.Sprintf("audit: column %s: Field returns %v, want *%v", c.Name, v.Type(), want))
		}
		off := v.Pointer() - base
		if v.Pointer() < base || off+want.Size() > unsafe.Sizeof(probe) {
			panic(fmt.Sprintf("audit: column %s: Field does not point into the Record", c.Name))
		}
		p.types[i], p.offs[i] = c.Type, off
	}
	return p
}

// goTypeOf is the Go type of the Record field of a column of type t.
func goTypeOf(t Type) reflect.Type {
	switch t {
	case Text:
		return reflect.TypeFor[string]()
	case Uint:
		return reflect.TypeFor[uint64]()
	case Int, Count:
		return reflect.TypeFor[int]()
	case Int64:
		return reflect.TypeFor[int64]()
	case Float:
		return reflect.TypeFor[float64]()
	case Bool:
		return reflect.TypeFor[bool]()
	case Time, OptTime:
		return reflect.TypeFor[time.Time]()
	case List:
		return reflect.TypeFor[[]string]()
	}
	return nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decodeRecord reads a record payload of any version.
func decodeRecord(b []byte) (*Record, error) {
	if len(b) == 0 {
		return nil, errBadEntry
	}
	switch b[0] {
	case payloadV1:
		return decodeRecordV1(b)
	case payloadV2:
		return decodeRecordV2(b)
	}
	return nil, errBadEntry
}

// decodeRecordV2 reads a version-2 payload (see the top of this file).
func decodeRecordV2(b []byte) (*Record, error) {
	d := &payloadReader{b: b[1:]}
	n := d.uvarint()
	if d.err != nil || n > maxPayloadColumns {
		return nil, errBadEntry
	}
	r := &Record{}
	for i := range min(int(n), len(columns)) {
		c := &columns[i]
		c.Type.readValue(d, c.Field(r))
	}
	if d.err != nil {
		return nil, d.err
	}
	if int(n) <= len(columns) && len(d.b) != 0 {
		return nil, errBadEntry
	}
	return r, nil
}

// readValue decodes a value of type t into the field p points to.
func (t Type) readValue(d *payloadReader, p any) {
	switch t {
	case Text:
		*p.(*string) = d.str()
	case Uint:
		*p.(*uint64) = d.uvarint()
	case Int, Count:
		*p.(*int) = int(d.varint())
	case Int64:
		*p.(*int64) = d.varint()
	case Float:
		*p.(*float64) = d.float()
	case Bool:
		*p.(*bool) = d.boolean()
	case Time, OptTime:
		*p.(*time.Time) = d.time()
	case List:
		n := d.uvarint()
		if n == 0 || d.err != nil {
			return
		}
		if n > uint64(len(d.b)) {
			d.err = errBadEntry
			return
		}
		l := make([]string, 0, n)
		for range n {
			l = append(l, d.str())
		}
		*p.(*[]string) = l
	default:
		d.err = errBadEntry
	}
}

// spooled is a record as a spool entry's payload: the spool frames what
// AppendPayload writes (the current payload version) without knowing its
// form. A struct of one pointer, so it goes into the spool.Payload
// interface without an allocation.
type spooled struct{ r *Record }

// AppendPayload implements spool.Payload.
func (p spooled) AppendPayload(dst []byte) []byte { return appendRecord(dst, p.r) }

// decodePayload is the spool.Decoder of record payloads, of any version.
func decodePayload(b []byte) (spool.Payload, uint64, error) {
	r, err := decodeRecord(b)
	if err != nil {
		return nil, 0, err
	}
	return spooled{r}, r.Seq, nil
}

// recordOf is the record an entry of the Auditor's spool carries.
func recordOf(it *spool.Item) *Record { return it.Payload.(spooled).r }
