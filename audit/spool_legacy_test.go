package audit

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// appendEntryV1 is the framing-1 writer as the gateway had it before
// framing 2 (kept here, byte for byte, to produce legacy spools): [u32
// length][u32 CRC-32C of the payload][kind][record].
func appendEntryV1(dst []byte, kind byte, r *Record) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameV1Header)...)
	dst = append(dst, kind)
	if r != nil {
		dst = appendRecordV1(dst, r)
	}
	payload := dst[start+frameV1Header:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, crcTable))
	return dst
}

// legacyFixture describes testdata/spool-v1/0000000000000001.spool, a
// segment written by the gateway's spool before framing 2 (commit
// 923e6cb): 20 records (seq 1..20, ids 01LEGACY…, gateway legacy-gw) in
// two writes with a probe between them, and the outcomes of every fourth
// (status 200, 7 ms).
func legacyFixture(i int) *Record {
	r := sample(i)
	r.ID = fmt.Sprintf("01LEGACY%018d", i)
	r.Seq = uint64(i + 1)
	r.Gateway = "legacy-gw"
	return r
}

func copyLegacyFixture(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/spool-v1/0000000000000001.spool")
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

// The old writer kept in this file is the one that wrote the fixture.
func TestLegacyWriterMatchesFixture(t *testing.T) {
	want, err := os.ReadFile("testdata/spool-v1/0000000000000001.spool")
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for i := range 10 {
		got = appendEntryV1(got, entryRecord, legacyFixture(i))
	}
	got = appendEntryV1(got, entryProbe, nil)
	for i := 10; i < 20; i++ {
		got = appendEntryV1(got, entryRecord, legacyFixture(i))
	}
	for i := 0; i < 20; i += 4 {
		r := legacyFixture(i)
		r.TimeEnd = r.TimeStart.Add(7 * time.Millisecond)
		r.DurationMS, r.Status, r.BytesSent, r.BytesReceived = 7, 200, 100, 2000
		got = appendEntryV1(got, entryOutcome, r)
	}
	if string(got) != string(want) {
		t.Fatalf("the kept framing-1 writer no longer produces the fixture (%d bytes, want %d)", len(got), len(want))
	}
}

// A spool segment written before framing 2 replays whole: every record
// and outcome, the probe skipped.
func TestLegacySpoolReplays(t *testing.T) {
	dir := t.TempDir()
	copyLegacyFixture(t, dir)
	s, err := openSpool(dir, spoolPos{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer s.unlock()
	var got []spoolItem
	res, err := s.replay(spoolPos{}, 7, replayExpect{}, func(items []spoolItem) error {
		got = append(got, items...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 25 || len(res.damage) != 0 || len(res.torn) != 0 {
		t.Fatalf("replayed %d entries (want 25), damage %v, torn %v", len(got), res.damage, res.torn)
	}
	for i := range 20 {
		want := legacyFixture(i)
		if g := got[i]; g.kind != entryRecord || g.rec.ID != want.ID || g.rec.Seq != want.Seq || g.rec.Host != want.Host ||
			!g.rec.TimeStart.Equal(want.TimeStart) || g.rec.SourceIdentity != want.SourceIdentity {
			t.Fatalf("entry %d: %+v, want %+v", i, *g.rec, *want)
		}
	}
	for i, g := range got[20:] {
		if g.kind != entryOutcome || g.rec.ID != legacyFixture(4*i).ID || g.rec.Status != 200 || g.rec.DurationMS != 7 {
			t.Fatalf("outcome %d: kind %d %+v", i, g.kind, *g.rec)
		}
	}
	if res.maxSeq != 20 || res.end.Off != 7217 {
		t.Fatalf("replay ends at %+v, seq %d", res.end, res.maxSeq)
	}
}

// An upgrade with records still in the spool: the new gateway writes the
// old spool into the store whole, closes the calls it left open, and
// continues the seq; its own segments use framing 2.
func TestUpgradeReplaysLegacySpool(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	copyLegacyFixture(t, filepath.Join(path+".spool", "legacy-gw"))
	ctx := context.Background()
	a := openSpooled(t, path, func(o *Options) { o.Gateway = "legacy-gw" })
	r := sample(99)
	if err := a.Begin(ctx, r); err != nil {
		t.Fatal(err)
	}
	if r.Seq != 21 {
		t.Errorf("first seq after the upgrade is %d, want 21", r.Seq)
	}
	if d := a.Damage(); len(d) != 0 {
		t.Errorf("damage reported for an intact legacy spool: %+v", d)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rd, err := OpenReader(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	recs, err := QueryAll(ctx, rd, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Record{}
	for _, rec := range recs {
		byID[rec.ID] = rec
	}
	if len(recs) != 21 {
		t.Fatalf("%d records in the store, want the legacy spool's 20 and 1 new", len(recs))
	}
	for i := range 20 {
		rec, ok := byID[legacyFixture(i).ID]
		switch {
		case !ok:
			t.Fatalf("legacy record %d missing", i)
		case i%4 == 0 && (rec.Status != 200 || rec.Error != ""):
			t.Errorf("legacy record %d: status %d error %q, want its outcome", i, rec.Status, rec.Error)
		case i%4 != 0 && rec.Error != ErrorGatewayRestart:
			t.Errorf("legacy record %d: error %q, want %s", i, rec.Error, ErrorGatewayRestart)
		}
	}
}

// Damage in a legacy segment (no markers) is skipped too: replay tries
// every offset until an entry's checksum holds.
func TestLegacySpoolResyncsAfterDamage(t *testing.T) {
	dir := t.TempDir()
	seg := copyLegacyFixture(t, dir)
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// Entry boundaries of the fixture's first write.
	var ends []int64
	var off int64
	for i := range 10 {
		off += int64(len(appendEntryV1(nil, entryRecord, legacyFixture(i))))
		ends = append(ends, off)
	}
	// 40 bytes of garbage inside the fourth record.
	at := ends[2] + 10
	for i := range int64(40) {
		data[at+i] = byte(0x5a ^ i)
	}
	if err := os.WriteFile(seg, data, 0o640); err != nil {
		t.Fatal(err)
	}
	s, err := openSpool(dir, spoolPos{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer s.unlock()
	n := 0
	res, err := s.replay(spoolPos{}, 100, replayExpect{}, func(items []spoolItem) error {
		for _, it := range items {
			if it.rec.Seq == 4 && it.kind == entryRecord {
				t.Errorf("the damaged record was replayed")
			}
		}
		n += len(items)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 24 || len(res.damage) != 1 {
		t.Fatalf("replayed %d entries (want 24), damage %+v", n, res.damage)
	}
	d := res.damage[0]
	if d.File != seg || d.Offset != ends[2] || d.Bytes != ends[3]-ends[2] || d.LostSeqFrom != 4 || d.LostSeqTo != 4 {
		t.Fatalf("damage %+v, want %s at %d, %d bytes, seq 4", d, seg, ends[2], ends[3]-ends[2])
	}
}
