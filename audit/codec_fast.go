package audit

import (
	"encoding/binary"
	"math"
	"time"
)

// Encoding a record is on every call's critical path (Begin waits for the
// spool write it goes into), and walking the column table costs a third
// more than straight-line code: ~600 against ~430 ns per entry with its
// frame and checksum (BenchmarkSpoolEncode). So the first columns of the
// schema, the 35 of docs/contract.md §8 as they stood when the table was
// made, are written out here. Columns are only ever appended, so these
// never change: a column added later goes through the table (payloadTail)
// and needs nothing here. TestAppendRecordIsTableDriven holds the output
// to appendFields' for the whole table.

// fastColumns is how many columns appendFirstColumns writes.
const fastColumns = 35

// appendFirstColumns appends the values of r's first fastColumns
// columns, as appendValues would.
func appendFirstColumns(dst []byte, r *Record) []byte {
	str := func(s string) {
		if len(s) < 0x80 { // a one-byte uvarint
			dst = append(dst, byte(len(s)))
		} else {
			dst = binary.AppendUvarint(dst, uint64(len(s)))
		}
		dst = append(dst, s...)
	}
	tm := func(t time.Time) {
		if t.IsZero() {
			dst = binary.AppendVarint(dst, math.MinInt64)
			return
		}
		dst = binary.AppendVarint(dst, t.UnixNano())
	}
	boolean := func(b bool) {
		if b {
			dst = append(dst, 1)
		} else {
			dst = append(dst, 0)
		}
	}
	str(r.ID)
	dst = binary.AppendUvarint(dst, r.Seq)
	str(r.Gateway)
	tm(r.TimeStart)
	tm(r.TimeEnd)
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(r.DurationMS))
	str(r.Event)
	str(r.SourceIdentity)
	str(r.IdentitySource)
	str(r.SourceIP)
	str(r.SourceWorkload)
	str(r.Listener)
	str(r.Kind)
	str(r.Method)
	str(r.Host)
	dst = binary.AppendVarint(dst, int64(r.Port))
	str(r.Path)
	str(r.SNI)
	str(r.ServiceEntry)
	str(r.DialedIP)
	boolean(r.TLSOriginated)
	str(r.TLSVersion)
	str(r.Decision)
	boolean(r.Enforced)
	str(r.Reason)
	dst = binary.AppendUvarint(dst, uint64(len(r.PolicyRules)))
	for _, p := range r.PolicyRules {
		str(p)
	}
	dst = binary.AppendVarint(dst, int64(r.Status))
	str(r.Error)
	dst = binary.AppendVarint(dst, r.BytesSent)
	dst = binary.AppendVarint(dst, r.BytesReceived)
	str(r.Meter)
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(r.Cost))
	str(r.Currency)
	str(r.TraceID)
	dst = binary.AppendVarint(dst, int64(r.Count))
	return dst
}
