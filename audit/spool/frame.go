package spool

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
)

// Spool entry framing. Every framing version stays readable: a spool left
// on disk by an older gateway is replayed by the next one (an upgrade
// with records still in the spool).
//
// Framing 2 (written since the spool could resynchronise after damage):
//
//	[4]  sync marker C1 FF 53 A7 (0xC1 and 0xFF never occur in UTF-8 text)
//	[1]  framing version, 2
//	[1]  kind (KindRecord, KindOutcome, kindProbe, kindSegStart)
//	[2]  reserved, 0
//	[4]  payload length n, little endian
//	[4]  CRC-32C (Castagnoli) of bytes 4..12 of this header and the
//	     payload, its initial value a mix of the segment number and the
//	     entry's offset in the segment (frameCRC)
//	[n]  payload: a record (Payload), a segment start, or nothing
//
// The marker lets replay find the next entry after damaged bytes (scan
// for the marker, accept the first one whose checksum holds); the
// checksum covers the length, so a damaged length is caught too, and the
// entry's position, so an entry is only valid where it was written (a
// stale block from an older segment, or bytes a record happens to carry,
// never pass for an entry at another place).
//
// Framing 1 (legacy, written until then; read, never written):
//
//	[4] payload length, [4] CRC-32C of the payload, [n] payload: kind
//	byte, then the record.
//
// It has no marker: replay resynchronises by trying every offset.
const (
	framingV1 byte = 1
	framingV2 byte = 2

	frameV1Header = 8
	frameV2Header = 16

	// maxEntryPayload bounds a payload length: a record is a few hundred
	// bytes; a larger length is damage, not an entry.
	maxEntryPayload = 16 << 20
)

// Kind is what an entry is.
type Kind byte

// Entry kinds.
const (
	// KindRecord is a new record: the decision part of a call begun, or
	// a whole record (Complete) when its payload says it ended.
	KindRecord Kind = 1
	// KindOutcome is the whole record again, with its outcome, for a
	// call begun earlier.
	KindOutcome Kind = 2
	// kindProbe is a health-check entry (Check); replay skips it.
	kindProbe Kind = 3
	// kindSegStart is the first entry of every framing-2 segment: which
	// segment this process wrote before it and where that one's durable
	// data ends, so replay can tell a segment that lost its end (damage)
	// from one whose last write failed or was cut short (never
	// acknowledged).
	kindSegStart Kind = 4
)

// legacyPayloadVersion is the first byte of every record payload that
// framing 1 carried: it never carried any other, which lets replay test
// candidate offsets of a damaged legacy segment cheaply.
const legacyPayloadVersion = 1

// spoolMarker starts every framing-2 entry.
var spoolMarker = [4]byte{0xC1, 0xFF, 0x53, 0xA7}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// frameCRC is the framing-2 checksum of an entry at (seg, off): CRC-32C
// of the header's bytes 4..12 and the payload, seeded with a mix of the
// position. A seed changes no error-detecting property of the CRC for
// the bytes, costs nothing, and makes the same bytes fail at any other
// position (a 2^-32 chance otherwise).
func frameCRC(hdr []byte, seg, off int64, payload []byte) uint32 {
	c := crc32.Update(posSeed(seg, off), crcTable, hdr)
	return crc32.Update(c, crcTable, payload)
}

// posSeed mixes a position into 32 bits (splitmix64's finaliser).
func posSeed(seg, off int64) uint32 {
	x := uint64(seg)*0x9e3779b97f4a7c15 ^ uint64(off)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return uint32(x)
}

// beginFrame appends a framing-2 header for kind to dst; endFrame fills
// in the length and checksum once the payload follows it.
func beginFrame(dst []byte, kind Kind) ([]byte, int) {
	start := len(dst)
	dst = append(dst, spoolMarker[0], spoolMarker[1], spoolMarker[2], spoolMarker[3],
		framingV2, byte(kind), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	return dst, start
}

// endFrame completes the entry that begins at dst[start:], to be written
// at offset off of segment seg.
func endFrame(dst []byte, start int, seg, off int64) []byte {
	payload := dst[start+frameV2Header:]
	binary.LittleEndian.PutUint32(dst[start+8:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+12:], frameCRC(dst[start+4:start+12], seg, off, payload))
	return dst
}

// appendEntry encodes one entry after dst, to be written at offset off of
// segment seg: header, then the payload (none for a probe).
func appendEntry(dst []byte, seg, off int64, kind Kind, p Payload) []byte {
	dst, start := beginFrame(dst, kind)
	if p != nil {
		dst = p.AppendPayload(dst)
	}
	return endFrame(dst, start, seg, off)
}

// segStart is the payload of a kindSegStart entry.
type segStart struct {
	// PrevSeg is the segment this process wrote before this one (0: none,
	// this is its first), PrevEnd where that segment's durable data ends.
	PrevSeg, PrevEnd int64
	// MaxSeq is the highest seq in the spool when the segment began.
	MaxSeq uint64
}

// appendSegStart encodes the kindSegStart entry of segment seg after dst
// (it is at offset 0).
func appendSegStart(dst []byte, seg int64, st segStart) []byte {
	dst, start := beginFrame(dst, kindSegStart)
	dst = binary.AppendUvarint(dst, uint64(st.PrevSeg))
	dst = binary.AppendUvarint(dst, uint64(st.PrevEnd))
	dst = binary.AppendUvarint(dst, st.MaxSeq)
	return endFrame(dst, start, seg, 0)
}

func decodeSegStart(p []byte) (segStart, bool) {
	var vals [3]uint64
	for i := range vals {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return segStart{}, false
		}
		vals[i], p = v, p[n:]
	}
	st := segStart{PrevSeg: int64(vals[0]), PrevEnd: int64(vals[1]), MaxSeq: vals[2]}
	return st, len(p) == 0 && st.PrevSeg >= 0 && st.PrevEnd >= 0
}

// entry is one decoded entry.
type entry struct {
	kind    Kind
	payload Payload  // KindRecord, KindOutcome
	seq     uint64   // KindRecord, KindOutcome
	start   segStart // kindSegStart
}

// decodeFrame decodes the entry of framing f at data[off:], in segment
// seg, and returns it and its length; ok is false unless a whole, intact
// entry of a known kind is there, its payload read by decode.
func decodeFrame(f byte, data []byte, seg, off int64, decode Decoder) (e entry, n int64, ok bool) {
	var payload []byte
	switch f {
	case framingV2:
		b := data[off:]
		if len(b) < frameV2Header || !bytes.Equal(b[:4], spoolMarker[:]) || b[4] != framingV2 {
			return e, 0, false
		}
		size := int64(binary.LittleEndian.Uint32(b[8:]))
		if size > maxEntryPayload || size > int64(len(b)-frameV2Header) {
			return e, 0, false
		}
		payload = b[frameV2Header : frameV2Header+size]
		if frameCRC(b[4:12], seg, off, payload) != binary.LittleEndian.Uint32(b[12:]) {
			return e, 0, false
		}
		e.kind, n = Kind(b[5]), frameV2Header+size
	case framingV1:
		kind, p, size, valid := decodeFrameV1(data[off:])
		if !valid {
			return e, 0, false
		}
		e.kind, payload, n = kind, p, size
	default:
		return e, 0, false
	}
	switch e.kind {
	case kindProbe:
		return e, n, len(payload) == 0
	case KindRecord, KindOutcome:
		p, seq, err := decode(payload)
		if err != nil {
			return e, 0, false
		}
		e.payload, e.seq = p, seq
		return e, n, true
	case kindSegStart:
		st, valid := decodeSegStart(payload)
		if !valid || f != framingV2 || off != 0 {
			return e, 0, false
		}
		e.start = st
		return e, n, true
	default:
		return e, 0, false // a kind this version does not know
	}
}

// decodeFrameV1 reads a legacy (framing 1) entry: kind, record bytes, and
// the entry's length.
func decodeFrameV1(b []byte) (kind Kind, payload []byte, n int64, ok bool) {
	if len(b) < frameV1Header {
		return 0, nil, 0, false
	}
	size := int64(binary.LittleEndian.Uint32(b))
	if size < 1 || size > maxEntryPayload || size > int64(len(b)-frameV1Header) {
		return 0, nil, 0, false
	}
	// Cheap tests first (replay tries every offset of a damaged legacy
	// segment): a known kind, and a record's payload version (framing 1
	// only ever carried version 1).
	p := b[frameV1Header : frameV1Header+size]
	switch Kind(p[0]) {
	case kindProbe:
		if size != 1 {
			return 0, nil, 0, false
		}
	case KindRecord, KindOutcome:
		if size < 2 || p[1] != legacyPayloadVersion {
			return 0, nil, 0, false
		}
	default:
		return 0, nil, 0, false
	}
	if crc32.Checksum(p, crcTable) != binary.LittleEndian.Uint32(b[4:]) {
		return 0, nil, 0, false
	}
	return Kind(p[0]), p[1:], frameV1Header + size, true
}

// nextFrame returns the offset of the first intact entry of framing f at
// or after from in data, or -1. Framing 2 jumps from marker to marker;
// framing 1 has none and tries every offset.
func nextFrame(f byte, data []byte, seg, from int64, decode Decoder) int64 {
	for off := from; off < int64(len(data)); {
		if f == framingV2 {
			i := bytes.Index(data[off:], spoolMarker[:])
			if i < 0 {
				return -1
			}
			off += int64(i)
		}
		if _, _, ok := decodeFrame(f, data, seg, off, decode); ok {
			return off
		}
		off++
	}
	return -1
}

// segmentFraming tells which framing a segment was written with: the
// framing of its first entry, else of the first intact entry anywhere in
// it (its start is damaged), else framing 2.
func segmentFraming(data []byte, seg int64, decode Decoder) byte {
	if len(data) >= 4 && bytes.Equal(data[:4], spoolMarker[:]) {
		return framingV2
	}
	if _, _, ok := decodeFrame(framingV1, data, seg, 0, decode); ok {
		return framingV1
	}
	if nextFrame(framingV2, data, seg, 0, decode) >= 0 {
		return framingV2
	}
	if nextFrame(framingV1, data, seg, 0, decode) >= 0 {
		return framingV1
	}
	return framingV2
}

// EncodeEntry appends the bytes Append writes for one entry of kind
// carrying p, to be written at offset off of segment seg (its checksum
// binds it there): what an entry costs, for benchmarks and tests.
func EncodeEntry(dst []byte, seg, off int64, kind Kind, p Payload) []byte {
	return appendEntry(dst, seg, off, kind, p)
}
