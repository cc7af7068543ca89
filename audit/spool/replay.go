package spool

import (
	"fmt"
	"os"
)

// Replay reads the spool from a position and hands every intact entry
// over, in order. Damaged bytes are skipped and reported: after bytes
// that do not decode, replay looks for the next intact entry (the next
// sync marker whose checksum holds; every offset for legacy segments) and
// goes on from there.
//
// A crash leaves at most one torn write, at the end of the segment being
// written, and that write was never acknowledged: it is logged as before
// and is not damage. Everything else is damage:
//
//   - unreadable bytes followed by an intact entry in the same segment;
//   - a segment whose data ends before the durable end that the next
//     segment's start entry records (the writer notes where each segment's
//     synced data ends when it starts the next);
//   - the last segment ending before the durable end the high-water mark
//     records (hwm.go), or missing.
//
// Each damage event carries the segment file, the offset, the bytes
// skipped, and the seqs of the intact entries on either side.

// Expect is what replay knows about the spool from elsewhere.
type Expect struct {
	// SeqBefore is the highest seq of this gateway the store holds.
	SeqBefore uint64
	// Durable and MaxSeq are the high-water mark's: where the spool's
	// synced data ends and the highest seq in it (zero: unknown).
	Durable Pos
	MaxSeq  uint64
}

// ReplayResult is what a replay found.
type ReplayResult struct {
	// End is the position after the last entry handed over.
	End Pos
	// MaxSeq is the highest seq of the entries read (or SeqBefore).
	MaxSeq uint64
	// Damage lists the damage found, settled (lost seqs inferred).
	Damage []DamageEvent
	// Torn lists the segments that end in a write cut short (not
	// damage).
	Torn []Pos
}

// segTail is where a segment's intact data ends, not yet classified: a
// clean end, a torn write, or lost data.
type segTail struct {
	seg   int64
	end   int64  // offset after the last intact entry
	junk  int64  // unreadable bytes after end, trailing zeros excluded
	seqAt uint64 // maxSeq when the segment ended
	// known is where the high-water mark says this segment's durable
	// data ends (0: it says nothing of this segment), knownSeq the
	// highest seq then.
	known    int64
	knownSeq uint64
}

// replayer is one replay's state.
type replayer struct {
	s     *Spool
	from  Pos
	exp   Expect
	chunk int
	fn    func([]Item) error

	items   []Item
	res     ReplayResult
	waiting []int    // damage events waiting for the next entry's seq
	tail    *segTail // the previous segment's end, not yet classified
	present map[int64]bool
}

// Replay calls fn with the intact entries after from, in spool order, at
// most chunk at a time, skipping damaged bytes; see above. The items
// passed to fn are not to be kept after it returns (their slice is
// reused); their payloads are.
func (s *Spool) Replay(from Pos, chunk int, exp Expect, fn func([]Item) error) (ReplayResult, error) {
	if s.decode == nil {
		return ReplayResult{End: from}, fmt.Errorf("audit: spool %s: no payload decoder to replay with", s.dir)
	}
	segs, err := s.Segments()
	if err != nil {
		return ReplayResult{End: from}, err
	}
	r := &replayer{s: s, from: from, exp: exp, chunk: chunk, fn: fn, present: map[int64]bool{}}
	r.res.End, r.res.MaxSeq = from, exp.SeqBefore
	for _, seg := range segs {
		r.present[seg] = true
	}
	for _, seg := range segs {
		if seg < from.Seg {
			continue
		}
		data, err := os.ReadFile(s.SegPath(seg))
		if err != nil {
			return r.res, fmt.Errorf("audit: spool: %w", err)
		}
		if err := r.segment(seg, data); err != nil {
			return r.res, err
		}
	}
	r.finish()
	return r.res, r.flush()
}

// segment reads one segment's entries from the cursor (or its start).
func (r *replayer) segment(seg int64, data []byte) error {
	off := int64(0)
	if seg == r.from.Seg {
		off = r.from.Off
	}
	f := segmentFraming(data, seg, r.s.decode)
	junk := int64(0)
	for off < int64(len(data)) {
		e, n, ok := decodeFrame(f, data, seg, off, r.s.decode)
		if ok {
			if err := r.entry(seg, off, n, e); err != nil {
				return err
			}
			off += n
			continue
		}
		if allZero(data[off:]) {
			break // the unused rest of a prepared segment
		}
		next := nextFrame(f, data, seg, off+1, r.s.decode)
		if next < 0 {
			junk = lastNonZero(data) + 1 - off
			break
		}
		r.damage(DamageEvent{Kind: DamageSpool, File: r.s.SegPath(seg), Offset: off, Bytes: next - off,
			Detail: "unreadable bytes between intact spool entries were skipped"})
		off = next
	}
	if r.tail != nil {
		r.classify(r.tail, 0, 0) // no start entry here said anything of it
	}
	r.tail = &segTail{seg: seg, end: off, junk: junk, seqAt: r.res.MaxSeq}
	if d := r.exp.Durable; d.Seg == seg && r.from.Before(d) {
		r.tail.known, r.tail.knownSeq = d.Off, r.exp.MaxSeq
	}
	return nil
}

// entry takes one intact entry.
func (r *replayer) entry(seg, off, n int64, e entry) error {
	switch e.kind {
	case kindSegStart:
		r.segStarted(e.start)
		return nil
	case kindProbe:
		return nil
	}
	seq := e.seq
	// The first entry after damage whose seq is past the damage's
	// bounds the records lost there.
	keep := r.waiting[:0]
	for _, i := range r.waiting {
		if d := &r.res.Damage[i]; seq > d.SeqBefore {
			d.SeqAfter = seq
		} else {
			keep = append(keep, i)
		}
	}
	r.waiting = keep
	r.res.MaxSeq = max(r.res.MaxSeq, seq)
	pos := Pos{seg, off + n}
	r.res.End = pos
	r.items = append(r.items, Item{Kind: e.kind, Seq: seq, Payload: e.payload, Pos: pos})
	if len(r.items) == r.chunk {
		return r.flush()
	}
	return nil
}

func (r *replayer) flush() error {
	if len(r.items) == 0 {
		return nil
	}
	err := r.fn(r.items)
	r.items = r.items[:0]
	return err
}

// segStarted checks the previous segment against what this segment's
// start entry says about it.
func (r *replayer) segStarted(st segStart) {
	prev := r.tail
	r.tail = nil
	switch {
	case st.PrevSeg == 0:
		// The first segment of a process: nothing known about the one
		// before.
		r.classify(prev, 0, 0)
	case prev != nil && prev.seg == st.PrevSeg:
		r.classify(prev, st.PrevEnd, st.MaxSeq)
	default:
		r.classify(prev, 0, 0)
		r.missing(st.PrevSeg, st.PrevEnd, st.MaxSeq)
	}
}

// classify decides what the end of a segment is, given where its
// durable data is known to end (0: unknown) and the highest seq then.
func (r *replayer) classify(t *segTail, durableEnd int64, seqThen uint64) {
	if t == nil {
		return
	}
	if t.known > durableEnd {
		durableEnd, seqThen = t.known, max(seqThen, t.knownSeq)
	}
	if t.end < durableEnd {
		r.damage(DamageEvent{Kind: DamageSpool, File: r.s.SegPath(t.seg), Offset: t.end, Bytes: durableEnd - t.end,
			SeqBefore: t.seqAt, upTo: seqThen,
			Detail: "the spool segment ends before data that was durable (truncated or overwritten); the entries there are lost"})
		return
	}
	if t.junk > 0 {
		r.res.Torn = append(r.res.Torn, Pos{t.seg, t.end})
		r.s.log.Warn("audit: spool segment ends in an incomplete entry (a write cut short by a crash or a failed write; it was never acknowledged)",
			"segment", r.s.SegPath(t.seg), "offset", t.end, "bytes_ignored", t.junk)
	}
}

// missing reports a segment that should hold durable data beyond the
// cursor and is not there.
func (r *replayer) missing(seg, durableEnd int64, seqThen uint64) {
	if r.present[seg] || durableEnd == 0 || seg < r.from.Seg || (seg == r.from.Seg && durableEnd <= r.from.Off) {
		return
	}
	off := int64(0)
	if seg == r.from.Seg {
		off = r.from.Off
	}
	r.damage(DamageEvent{Kind: DamageSpoolMissing, File: r.s.SegPath(seg), Offset: off, Bytes: durableEnd - off,
		SeqBefore: r.res.MaxSeq, upTo: seqThen,
		Detail: "a spool segment that held durable entries is missing"})
}

// finish classifies the last segment's end against the high-water mark,
// and settles the damage events.
func (r *replayer) finish() {
	r.classify(r.tail, 0, 0) // against the high-water mark, when it is this segment's
	r.tail = nil
	if d := r.exp.Durable; d.Seg != 0 {
		r.missing(d.Seg, d.Off, r.exp.MaxSeq)
	}
	if len(r.res.Damage) == 0 && r.exp.MaxSeq > r.res.MaxSeq {
		// Seqs known durable that no entry carries, with nothing else
		// to show where they went.
		r.damage(DamageEvent{Kind: DamageSpool, File: r.s.dir, SeqBefore: r.res.MaxSeq, upTo: r.exp.MaxSeq,
			Detail: "records the high-water mark says were durable in the spool are not in it"})
	}
	for _, i := range r.waiting {
		r.res.Damage[i].upTo = max(r.res.Damage[i].upTo, r.exp.MaxSeq)
	}
	r.waiting = nil
	for i := range r.res.Damage {
		r.res.Damage[i].settle()
	}
}

// damage records e; its SeqAfter comes from the next entry read.
func (r *replayer) damage(e DamageEvent) {
	if e.SeqBefore == 0 {
		e.SeqBefore = r.res.MaxSeq
	}
	r.res.Damage = append(r.res.Damage, e)
	r.waiting = append(r.waiting, len(r.res.Damage)-1)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// lastNonZero is the index of the last byte of b that is not zero, or -1.
func lastNonZero(b []byte) int64 {
	for j := len(b) - 1; j >= 0; j-- {
		if b[j] != 0 {
			return int64(j)
		}
	}
	return -1
}
