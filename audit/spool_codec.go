package audit

import (
	"encoding/binary"
	"errors"
	"math"
	"time"
)

// Spool entry kinds.
const (
	// entryRecord is a new record: the decision part of a call begun, or
	// a whole record (Complete) when TimeEnd is set.
	entryRecord byte = 1
	// entryOutcome is the whole record again, with its outcome, for a
	// call begun earlier.
	entryOutcome byte = 2
)

// codecVersion is the first byte of every encoded record: a spool written
// by another version is read field by field as that version wrote it.
const codecVersion byte = 1

var errBadEntry = errors.New("malformed spool entry")

// appendRecord encodes r after dst: a compact, allocation-free binary form
// (uvarint-prefixed strings, varints, float bits), not a public format.
func appendRecord(dst []byte, r *Record) []byte {
	dst = append(dst, codecVersion)
	str := func(s string) {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
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

// recordDecoder reads what appendRecord wrote; the first error sticks.
type recordDecoder struct {
	b   []byte
	err error
}

func (d *recordDecoder) uvarint() uint64 {
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

func (d *recordDecoder) varint() int64 {
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

func (d *recordDecoder) str() string {
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

func (d *recordDecoder) time() time.Time {
	v := d.varint()
	if d.err != nil || v == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

func (d *recordDecoder) float() float64 {
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

func (d *recordDecoder) boolean() bool {
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

// decodeRecord is the inverse of appendRecord.
func decodeRecord(b []byte) (*Record, error) {
	if len(b) == 0 || b[0] != codecVersion {
		return nil, errBadEntry
	}
	d := &recordDecoder{b: b[1:]}
	r := &Record{}
	r.ID = d.str()
	r.Seq = d.uvarint()
	r.Gateway = d.str()
	r.TimeStart = d.time()
	r.TimeEnd = d.time()
	r.DurationMS = d.float()
	r.Event = d.str()
	r.SourceIdentity = d.str()
	r.IdentitySource = d.str()
	r.SourceIP = d.str()
	r.SourceWorkload = d.str()
	r.Listener = d.str()
	r.Kind = d.str()
	r.Method = d.str()
	r.Host = d.str()
	r.Port = int(d.varint())
	r.Path = d.str()
	r.SNI = d.str()
	r.ServiceEntry = d.str()
	r.DialedIP = d.str()
	r.TLSOriginated = d.boolean()
	r.TLSVersion = d.str()
	r.Decision = d.str()
	r.Enforced = d.boolean()
	r.Reason = d.str()
	if n := d.uvarint(); n > 0 && d.err == nil {
		if n > uint64(len(d.b)) {
			return nil, errBadEntry
		}
		r.PolicyRules = make([]string, 0, n)
		for range n {
			r.PolicyRules = append(r.PolicyRules, d.str())
		}
	}
	r.Status = int(d.varint())
	r.Error = d.str()
	r.BytesSent = d.varint()
	r.BytesReceived = d.varint()
	r.Meter = d.str()
	r.Cost = d.float()
	r.Currency = d.str()
	r.TraceID = d.str()
	r.Count = int(d.varint())
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, errBadEntry
	}
	return r, nil
}
