package spool

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

// The fixtures in testdata are spool segments earlier gateways wrote
// (testdata/README.md): 20 records (seq 1..20, ids 01LEGACY…) in two
// writes with a probe between them, then the outcomes of every fourth.
// audit's tests check the records they carry; these check the framing.

// appendEntryV1 is the framing-1 writer as the gateway had it before
// framing 2 (kept here, byte for byte, to produce legacy spools): [u32
// length][u32 CRC-32C of the payload][kind][record payload].
func appendEntryV1(dst []byte, kind Kind, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameV1Header)...)
	dst = append(dst, byte(kind))
	dst = append(dst, payload...)
	p := dst[start+frameV1Header:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(p)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(p, crcTable))
	return dst
}

// legacyID is the id of the fixtures' record i (seq i+1).
func legacyID(i int) string { return fmt.Sprintf("01LEGACY%018d", i) }

func copyFixture(t *testing.T, name, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name, "0000000000000001.spool"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "0000000000000001.spool")
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

// legacyEntries splits a framing-1 segment into its entries' kinds,
// payloads and end offsets.
func legacyEntries(t *testing.T, data []byte) (kinds []Kind, payloads [][]byte, ends []int64) {
	t.Helper()
	for off := int64(0); off < int64(len(data)); {
		kind, p, n, ok := decodeFrameV1(data[off:])
		if !ok {
			t.Fatalf("no framing-1 entry at %d", off)
		}
		off += n
		kinds, payloads, ends = append(kinds, kind), append(payloads, p), append(ends, off)
	}
	return kinds, payloads, ends
}

// The framing-1 writer kept here is the one that wrote the fixture.
func TestLegacyWriterMatchesFixture(t *testing.T) {
	want, err := os.ReadFile("testdata/spool-v1/0000000000000001.spool")
	if err != nil {
		t.Fatal(err)
	}
	kinds, payloads, _ := legacyEntries(t, want)
	var got []byte
	for i := range kinds {
		got = appendEntryV1(got, kinds[i], payloads[i])
	}
	if string(got) != string(want) {
		t.Fatalf("the kept framing-1 writer no longer produces the fixture (%d bytes, want %d)", len(got), len(want))
	}
}

// Segments of every framing replay whole: every record and outcome, the
// probe (and framing 2's segment start) skipped.
func TestFixturesReplay(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  int64
	}{{"spool-v1", 7217}, {"spool-framing2", 7418}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyFixture(t, tc.name, dir)
			s := open(t, dir, Pos{}, quiet)
			defer s.Unlock()
			var got []Item
			res, err := s.Replay(Pos{}, 7, Expect{}, func(items []Item) error {
				got = append(got, items...)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 25 || len(res.Damage) != 0 || len(res.Torn) != 0 {
				t.Fatalf("replayed %d entries (want 25), damage %v, torn %v", len(got), res.Damage, res.Torn)
			}
			for i := range 20 {
				if g := got[i]; g.Kind != KindRecord || idOf(g) != legacyID(i) || g.Seq != uint64(i+1) {
					t.Fatalf("entry %d: %v %s seq %d", i, g.Kind, idOf(g), g.Seq)
				}
			}
			for i, g := range got[20:] {
				if g.Kind != KindOutcome || idOf(g) != legacyID(4*i) {
					t.Fatalf("outcome %d: %v %s", i, g.Kind, idOf(g))
				}
			}
			if res.MaxSeq != 20 || res.End.Off != tc.end {
				t.Fatalf("replay ends at %+v, seq %d", res.End, res.MaxSeq)
			}
		})
	}
}

// Damage in a legacy segment (no markers) is skipped too: replay tries
// every offset until an entry's checksum holds.
func TestLegacySpoolResyncsAfterDamage(t *testing.T) {
	dir := t.TempDir()
	seg := copyFixture(t, "spool-v1", dir)
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	_, _, ends := legacyEntries(t, data)
	// 40 bytes of garbage inside the fourth record.
	at := ends[2] + 10
	for i := range int64(40) {
		data[at+i] = byte(0x5a ^ i)
	}
	if err := os.WriteFile(seg, data, 0o640); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir, Pos{}, quiet)
	defer s.Unlock()
	n := 0
	res, err := s.Replay(Pos{}, 100, Expect{}, func(items []Item) error {
		for _, it := range items {
			if it.Seq == 4 && it.Kind == KindRecord {
				t.Errorf("the damaged record was replayed")
			}
		}
		n += len(items)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 24 || len(res.Damage) != 1 {
		t.Fatalf("replayed %d entries (want 24), damage %+v", n, res.Damage)
	}
	d := res.Damage[0]
	if d.File != seg || d.Offset != ends[2] || d.Bytes != ends[3]-ends[2] || d.LostSeqFrom != 4 || d.LostSeqTo != 4 {
		t.Fatalf("damage %+v, want %s at %d, %d bytes, seq 4", d, seg, ends[2], ends[3]-ends[2])
	}
}
