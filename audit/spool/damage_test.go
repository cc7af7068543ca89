package spool

import (
	"os"
	"strings"
	"testing"
)

// writtenSpool is a spool written as the gateway writes one: commits of
// a few entries, the high-water mark kept. ents are the record entries
// in order (seq i+1) with their byte ranges.
type writtenSpool struct {
	dir  string
	ents []writtenEntry
}

type writtenEntry struct {
	id         string
	seq        uint64
	seg        int64
	start, end int64
}

// writeSpool writes n records in commits of batch, starting a new segment
// before record i for every i in splits, and closes the spool as a
// gateway would be left by kill -9 (the mark is in the page cache).
func writeSpool(t *testing.T, n, batch int, splits ...int) *writtenSpool {
	t.Helper()
	dir := t.TempDir()
	s := open(t, dir, Pos{}, quiet)
	if err := s.OpenHighWater(HighWater{}); err != nil {
		t.Fatal(err)
	}
	w := &writtenSpool{dir: dir}
	items := testItems(n, 0)
	split := map[int]bool{}
	for _, i := range splits {
		split[i] = true
	}
	for i := 0; i < n; {
		j := min(i+batch, n)
		for k := i + 1; k < j; k++ {
			if split[k] {
				j = k
			}
		}
		if split[i] {
			s.abandon()
		}
		if err := s.Append(items[i:j]); err != nil {
			t.Fatal(err)
		}
		i = j
	}
	for _, it := range items {
		size := int64(len(appendEntry(nil, it.Pos.Seg, 0, it.Kind, it.Payload)))
		w.ents = append(w.ents, writtenEntry{id: idOf(it), seq: it.Seq, seg: it.Pos.Seg, start: it.Pos.Off - size, end: it.Pos.Off})
	}
	s.Close()
	s.Unlock()
	return w
}

func (w *writtenSpool) segPath(seg int64) string { return Peek(w.dir, Options{}).SegPath(seg) }

// replayAll replays the spool from the start with its high-water mark.
func (w *writtenSpool) replayAll(t *testing.T) (map[string]bool, ReplayResult, string) {
	t.Helper()
	var logs strings.Builder
	s := open(t, w.dir, Pos{}, slogTo(&logs))
	defer s.Unlock()
	var exp Expect
	if hw, found, err := ReadHighWater(w.dir); err != nil || !found {
		t.Fatalf("high-water mark: %v %v", found, err)
	} else {
		exp.Durable, exp.MaxSeq = hw.Durable, hw.SpoolSeq
	}
	got := map[string]bool{}
	res, err := s.Replay(Pos{}, 64, exp, func(items []Item) error {
		for _, it := range items {
			if got[idOf(it)] {
				t.Errorf("%s replayed twice", idOf(it))
			}
			got[idOf(it)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, res, logs.String()
}

// Damage anywhere in a segment costs only the entries it touches: replay
// resynchronises at the next intact entry and recovers every one after,
// and reports the damage with segment file, offset, bytes and the seqs
// lost. Torn tails (a write cut short) are not damage.
func TestSpoolDamageSkipsOnlyDamagedEntries(t *testing.T) {
	const n = 400
	for _, tc := range []struct {
		name string
		// damage changes segment 1 and returns the damaged byte range
		// [from, to) (to past the data: truncated).
		damage func(w *writtenSpool, data []byte) ([]byte, int64, int64)
		torn   bool // not damage: a write cut short
	}{
		{"flipped byte", func(w *writtenSpool, data []byte) ([]byte, int64, int64) {
			at := w.ents[123].start + 40
			data[at] ^= 0x01
			return data, at, at + 1
		}, false},
		{"flipped byte in a header", func(w *writtenSpool, data []byte) ([]byte, int64, int64) {
			at := w.ents[200].start + 9 // the length
			data[at] ^= 0x80
			return data, at, at + 1
		}, false},
		{"200 bytes of garbage mid-segment", func(w *writtenSpool, data []byte) ([]byte, int64, int64) {
			at := int64(len(data)) / 2
			for i := range int64(200) {
				data[at+i] = byte(i*37 + 11)
			}
			return data, at, at + 200
		}, false},
		{"truncated to half", func(w *writtenSpool, data []byte) ([]byte, int64, int64) {
			half := int64(len(data)) / 2
			return data[:half], half, int64(len(data))
		}, false},
		{"4 KiB of zeros mid-segment", func(w *writtenSpool, data []byte) ([]byte, int64, int64) {
			at := int64(len(data)) / 2 &^ 4095
			clear(data[at : at+4096])
			return data, at, at + 4096
		}, false},
		{"a zero-filled first block", func(w *writtenSpool, data []byte) ([]byte, int64, int64) {
			clear(data[:4096])
			return data, 0, 4096
		}, false},
		{"torn tail", func(w *writtenSpool, data []byte) ([]byte, int64, int64) {
			// Part of a write the crash cut short, never synced.
			extra := appendEntry(nil, 1, int64(len(data)), KindRecord, testItems(1, 9999)[0].Payload)
			return append(data, extra[:len(extra)/2]...), int64(len(data)), int64(len(data))
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := writeSpool(t, n, 16)
			seg := w.segPath(1)
			var from, to int64
			damageFile(t, seg, func(data []byte) []byte {
				var out []byte
				out, from, to = tc.damage(w, data)
				return out
			})
			got, res, logs := w.replayAll(t)

			// Exactly the entries the damage did not touch.
			var lost []writtenEntry
			for _, e := range w.ents {
				touched := e.end > from && e.start < to
				if touched {
					lost = append(lost, e)
				}
				if got[e.id] == touched {
					t.Fatalf("entry seq %d [%d,%d) with damage [%d,%d): replayed %v", e.seq, e.start, e.end, from, to, got[e.id])
				}
			}
			if tc.torn {
				if len(res.Damage) != 0 || len(res.Torn) != 1 || !strings.Contains(logs, "never acknowledged") {
					t.Fatalf("torn tail: damage %+v, torn %v, logs %s", res.Damage, res.Torn, logs)
				}
				return
			}
			if len(res.Damage) != 1 {
				t.Fatalf("damage events: %+v", res.Damage)
			}
			d := res.Damage[0]
			first, last := lost[0], lost[len(lost)-1]
			wantOff := first.start
			if from < w.ents[0].start {
				wantOff = 0 // the segment's start entry is damaged too
			}
			wantBytes := last.end - wantOff
			if d.Kind != DamageSpool || d.File != seg || d.Offset != wantOff || d.Bytes != wantBytes {
				t.Errorf("damage %+v, want %s in %s at offset %d, %d bytes", d, DamageSpool, seg, wantOff, wantBytes)
			}
			if d.LostSeqFrom != first.seq || d.LostSeqTo != last.seq {
				t.Errorf("lost seqs %d..%d, want %d..%d", d.LostSeqFrom, d.LostSeqTo, first.seq, last.seq)
			}
			if len(res.Torn) != 0 {
				t.Errorf("damage also reported as a torn tail: %v", res.Torn)
			}
		})
	}
}

// A segment that lost its end is told from one whose last write was cut
// short by what the next segment's first entry records; a missing
// segment is damage too.
func TestSpoolDamageInEarlierSegment(t *testing.T) {
	t.Run("truncated", func(t *testing.T) {
		w := writeSpool(t, 300, 16, 160)
		seg1 := w.segPath(1)
		var cut int64
		damageFile(t, seg1, func(data []byte) []byte {
			cut = int64(len(data)) * 2 / 3
			return data[:cut]
		})
		got, res, _ := w.replayAll(t)
		var lostFrom, lostTo uint64
		for _, e := range w.ents {
			if e.seg == 1 && e.end > cut {
				if lostFrom == 0 {
					lostFrom = e.seq
				}
				lostTo = e.seq
				if got[e.id] {
					t.Fatalf("seq %d past the cut replayed", e.seq)
				}
			} else if !got[e.id] {
				t.Fatalf("intact seq %d (segment %d) not replayed", e.seq, e.seg)
			}
		}
		if len(res.Damage) != 1 || res.Damage[0].File != seg1 || res.Damage[0].LostSeqFrom != lostFrom || res.Damage[0].LostSeqTo != lostTo {
			t.Fatalf("damage %+v, want %s seqs %d..%d", res.Damage, seg1, lostFrom, lostTo)
		}
	})
	t.Run("missing", func(t *testing.T) {
		w := writeSpool(t, 300, 16, 100, 200)
		if err := os.Remove(w.segPath(2)); err != nil {
			t.Fatal(err)
		}
		got, res, _ := w.replayAll(t)
		if len(got) != 200 || len(res.Damage) != 1 {
			t.Fatalf("replayed %d (want 200), damage %+v", len(got), res.Damage)
		}
		if d := res.Damage[0]; d.Kind != DamageSpoolMissing || d.File != w.segPath(2) || d.LostSeqFrom != 101 || d.LostSeqTo != 200 {
			t.Fatalf("damage %+v, want segment 2 missing, seqs 101..200", d)
		}
	})
	t.Run("last segment missing", func(t *testing.T) {
		w := writeSpool(t, 300, 16, 100)
		if err := os.Remove(w.segPath(2)); err != nil {
			t.Fatal(err)
		}
		got, res, _ := w.replayAll(t)
		if len(got) != 100 || len(res.Damage) != 1 || res.Damage[0].Kind != DamageSpoolMissing ||
			res.Damage[0].LostSeqFrom != 101 || res.Damage[0].LostSeqTo != 300 {
			t.Fatalf("replayed %d (want 100), damage %+v", len(got), res.Damage)
		}
	})
	t.Run("earlier segment's write cut short", func(t *testing.T) {
		// A failed write leaves part of an entry after the durable end;
		// the writer then starts a new segment. Not damage.
		w := writeSpool(t, 300, 16, 160)
		damageFile(t, w.segPath(1), func(data []byte) []byte {
			extra := appendEntry(nil, 1, int64(len(data)), KindRecord, testItems(1, 9999)[0].Payload)
			return append(data, extra[:len(extra)-5]...)
		})
		got, res, logs := w.replayAll(t)
		if len(got) != 300 || len(res.Damage) != 0 || len(res.Torn) != 1 || !strings.Contains(logs, "never acknowledged") {
			t.Fatalf("replayed %d, damage %+v, torn %v", len(got), res.Damage, res.Torn)
		}
	})
}
