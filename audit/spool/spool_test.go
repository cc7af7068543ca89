package spool

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSpoolAppendReplay(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Pos{}, quiet)
	first, second := testItems(3, 0), testItems(2, 3)
	second[1].Kind = KindOutcome
	if err := s.Append(first); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil { // a probe entry between them
		t.Fatal(err)
	}
	if err := s.Append(second); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Unlock()

	replay := func(from Pos) []Item {
		t.Helper()
		s := open(t, dir, from, quiet)
		defer s.Unlock()
		var got []Item
		if _, err := s.Replay(from, 2, Expect{}, func(items []Item) error {
			if len(items) > 2 {
				t.Fatalf("chunk of %d", len(items))
			}
			got = append(got, items...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	all := replay(Pos{})
	if len(all) != 5 {
		t.Fatalf("replayed %d entries, want 5 (the probe skipped)", len(all))
	}
	for i, want := range append(first, second...) {
		if all[i].Kind != want.Kind || idOf(all[i]) != idOf(want) || all[i].Seq != want.Seq || all[i].Pos != want.Pos {
			t.Fatalf("entry %d: got %v %s %v, want %v %s %v", i, all[i].Kind, idOf(all[i]), all[i].Pos, want.Kind, idOf(want), want.Pos)
		}
	}
	if rest := replay(first[2].Pos); len(rest) != 2 || idOf(rest[0]) != idOf(second[0]) {
		t.Fatalf("replay from the third entry: %d entries", len(rest))
	}
	if rest := replay(second[1].Pos); len(rest) != 0 {
		t.Fatalf("replay from the end: %d entries", len(rest))
	}

	// A write cut short by a crash: the torn entry and nothing after it.
	seg := filepath.Join(dir, "0000000000000001.spool")
	fi, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(seg, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	if got := replay(Pos{}); len(got) != 4 {
		t.Fatalf("after a torn tail: %d entries, want 4", len(got))
	}
	// A flipped byte fails its entry's checksum; replay resumes at the
	// next entry (damage_test.go covers the damage report).
	data, _ := os.ReadFile(seg)
	firstStart := first[0].Pos.Off - int64(len(appendEntry(nil, 1, 0, KindRecord, first[0].Payload)))
	data[firstStart+frameV2Header+5] ^= 0xff
	if err := os.WriteFile(seg, data, 0o640); err != nil {
		t.Fatal(err)
	}
	if got := replay(Pos{}); len(got) != 3 || idOf(got[0]) != idOf(first[1]) {
		t.Fatalf("after corruption of the first entry: %d entries, want the 3 after it", len(got))
	}
}

func TestSpoolLockedByOneProcess(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Pos{}, quiet)
	if _, err := Open(dir, Pos{}, Options{Logger: quiet}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v", err)
	}
	s.Unlock()
	s2 := open(t, dir, Pos{}, quiet)
	s2.Unlock()
}

// A segment that grows (the first after a start) is left for a prepared
// one as soon as that is ready: its syncs pay a journal commit each.
// Nothing is lost or reordered across the move.
func TestSpoolLeavesGrowingSegment(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Pos{}, quiet)
	n := 0
	for s.off < spareAfterGrowing {
		if err := s.Append(testItems(100, n)); err != nil {
			t.Fatal(err)
		}
		n += 100
	}
	if s.seg != 1 || s.zeroed || s.spareDone == nil {
		t.Fatalf("after %d bytes: segment %d zeroed=%v, spare not started=%v", s.off, s.seg, s.zeroed, s.spareDone == nil)
	}
	<-s.spareDone
	items := testItems(1, n)
	if err := s.Append(items); err != nil {
		t.Fatal(err)
	}
	n++
	if items[0].Pos.Seg != 2 || !s.zeroed {
		t.Fatalf("the append after the spare was ready went to segment %d (zeroed=%v), want the spare as 2", items[0].Pos.Seg, s.zeroed)
	}
	if fi, err := os.Stat(s.SegPath(2)); err != nil || fi.Size() != spoolSegmentMax {
		t.Fatalf("segment 2 is not the prepared one: %v", err)
	}
	// A zeroed segment is kept until it is full, whatever spare is ready.
	s.prepareSpare()
	<-s.spareDone
	items = testItems(1, n)
	if err := s.Append(items); err != nil {
		t.Fatal(err)
	}
	n++
	if items[0].Pos.Seg != 2 {
		t.Fatalf("left a prepared segment for segment %d", items[0].Pos.Seg)
	}
	s.Close()
	s.Unlock()
	s2 := open(t, dir, Pos{}, quiet)
	defer s2.Unlock()
	var seqs []uint64
	if _, err := s2.Replay(Pos{}, 1000, Expect{}, func(items []Item) error {
		for _, it := range items {
			seqs = append(seqs, it.Seq)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seqs) != n {
		t.Fatalf("replayed %d entries, want %d", len(seqs), n)
	}
	for i, q := range seqs {
		if q != uint64(i+1) {
			t.Fatalf("entry %d has seq %d: out of order", i, q)
		}
	}
}

// A busy spool writes into a segment of zeros prepared beforehand;
// replay stops quietly at the unused rest.
func TestSpoolPreparedSegment(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Pos{}, quiet)
	if err := s.Append(testItems(2, 0)); err != nil {
		t.Fatal(err)
	}
	s.prepareSpare()
	<-s.spareDone
	s.abandon() // the next append starts segment 2 from the spare
	items := testItems(3, 2)
	if err := s.Append(items); err != nil {
		t.Fatal(err)
	}
	if items[0].Pos.Seg != 2 {
		t.Fatalf("second segment is %d", items[0].Pos.Seg)
	}
	fi, err := os.Stat(s.SegPath(2))
	if err != nil || fi.Size() != spoolSegmentMax {
		t.Fatalf("segment 2 is not the prepared one: %v %v", fi.Size(), err)
	}
	s.Close()
	s.Unlock()
	if _, err := os.Stat(filepath.Join(dir, spareName)); err == nil {
		t.Fatal("spare not taken")
	}
	var logs strings.Builder
	s2 := open(t, dir, Pos{}, slogTo(&logs))
	defer s2.Unlock()
	n := 0
	if _, err := s2.Replay(Pos{}, 100, Expect{}, func(items []Item) error { n += len(items); return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 5 || logs.Len() != 0 {
		t.Fatalf("replayed %d entries (want 5), logged %q", n, logs.String())
	}
}
