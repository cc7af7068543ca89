package audit

import (
	"encoding/binary"
	"errors"
	"math"
	"time"
)

// errBadEntry is a record payload (or spool entry) that does not decode.
var errBadEntry = errors.New("malformed spool entry")

// payloadReader reads the primitives of the record payload (both
// versions): uvarints, varints, uvarint-prefixed strings, float64 bits
// (little endian), one-byte bools and times as varint Unix nanoseconds
// (math.MinInt64 for the zero time). The first error sticks.
type payloadReader struct {
	b   []byte
	err error
}

func (d *payloadReader) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBadEntry
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *payloadReader) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errBadEntry
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *payloadReader) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errBadEntry
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *payloadReader) time() time.Time {
	v := d.varint()
	if d.err != nil || v == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

func (d *payloadReader) float() float64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.err = errBadEntry
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *payloadReader) boolean() bool {
	if d.err != nil {
		return false
	}
	if len(d.b) < 1 {
		d.err = errBadEntry
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}
