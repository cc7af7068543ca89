package audit

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/sluicehq/sluice/audit/tlog"
)

// The canonical encoding of a record: the leaf of its gateway's
// transparency log (audit/tlog, docs/contract.md §8), what the log's hashes
// and signed checkpoints vouch for. It is defined once, here, from the
// column table (columns.go), and it is what every store gives back: a
// record read from SQLite or PostgreSQL encodes to the same bytes as the
// record that was written (storetest's LogLeaves case holds each store to
// it).
//
// Leaf version 1:
//
//	byte     1 (the leaf version)
//	uvarint  n, the number of columns that follow
//	n values, the first n columns of the record schema in schema order
//
// n is the schema's column count less the trailing columns that hold
// their zero value, so a column appended to the schema later does not
// change the leaf of a record written before it existed (which reads it
// as zero). Values, by column type:
//
//	Text           uvarint length, then the bytes
//	Uint           uvarint
//	Int, Int64     zig-zag varint
//	Count          zig-zag varint of max(value, 1) (stores keep at least 1)
//	Float          8 bytes, IEEE 754 bits little endian; -0 and NaN as 0
//	Bool           one byte, 0 or 1
//	Time, OptTime  zig-zag varint of Unix milliseconds (stores keep
//	               milliseconds), math.MinInt64 for an unset time
//	List           uvarint count, then each string as Text (a string that
//	               is not UTF-8 as the stores' JSON keeps it)
//
// The id, seq and gateway are columns, so the leaf says which record of
// which log it is and where it stands. Changing any of this is a new leaf
// version: stores keep which version each leaf has (LogLeaf.Version).

// LeafVersion is the version of the leaves AppendLeaf writes.
const LeafVersion = 1

// maxLeafColumns bounds the column count a version-1 leaf encodes in one
// byte; more would need a wider count (never in practice: checked when
// the package loads).
const maxLeafColumns = 0x7f

// leafPlan is every column as AppendLeaf walks it.
var leafPlan = planOf(columns)

func init() {
	if len(columns) > maxLeafColumns {
		panic("audit: too many columns for a version-1 leaf")
	}
}

// AppendLeaf appends r's canonical encoding, leaf version 1, to dst. It
// allocates nothing (except for a list string that is not UTF-8).
func AppendLeaf(dst []byte, r *Record) []byte {
	dst = append(dst, LeafVersion, 0) // the count, set below
	countAt := len(dst) - 1
	end, n := len(dst), 0
	base := unsafe.Pointer(r)
	offs := leafPlan.offs[:len(leafPlan.types)]
	for i, typ := range leafPlan.types {
		p := unsafe.Add(base, offs[i])
		if typ == Text { // most columns: a branch taken first
			s := *(*string)(p)
			if len(s) < 0x80 { // a one-byte uvarint
				dst = append(dst, byte(len(s)))
			} else {
				dst = binary.AppendUvarint(dst, uint64(len(s)))
			}
			dst = append(dst, s...)
			if s != "" {
				end, n = len(dst), i+1
			}
			continue
		}
		zero := false
		switch typ {
		case Uint:
			v := *(*uint64)(p)
			zero = v == 0
			dst = binary.AppendUvarint(dst, v)
		case Int:
			v := *(*int)(p)
			zero = v == 0
			dst = binary.AppendVarint(dst, int64(v))
		case Count:
			v := max(*(*int)(p), 1)
			zero = v == 1
			dst = binary.AppendVarint(dst, int64(v))
		case Int64:
			v := *(*int64)(p)
			zero = v == 0
			dst = binary.AppendVarint(dst, v)
		case Float:
			v := *(*float64)(p)
			if v == 0 || math.IsNaN(v) {
				v = 0
			}
			zero = v == 0
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
		case Bool:
			b := byte(0)
			if *(*bool)(p) {
				b = 1
			}
			zero = b == 0
			dst = append(dst, b)
		case Time, OptTime:
			t := (*time.Time)(p)
			zero = t.IsZero()
			v := int64(math.MinInt64)
			if !zero {
				v = t.UnixMilli()
			}
			dst = binary.AppendVarint(dst, v)
		case List:
			l := *(*[]string)(p)
			zero = len(l) == 0
			dst = binary.AppendUvarint(dst, uint64(len(l)))
			for _, s := range l {
				if !utf8.ValidString(s) {
					s = jsonString(s)
				}
				dst = appendString(dst, s)
			}
		}
		if !zero {
			end, n = len(dst), i+1
		}
	}
	dst[countAt] = byte(n)
	return dst[:end]
}

// jsonString is s as it reads back from a JSON array of the stores
// (FormatList): invalid UTF-8 replaced.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

// LeafHash is the hash of r's leaf (RFC 6962: SHA-256 of 0x00 and the
// leaf); buf is scratch space, returned for reuse.
func LeafHash(r *Record, buf []byte) (tlog.Hash, []byte) {
	buf = AppendLeaf(buf[:0], r)
	return tlog.LeafHash(buf), buf
}
