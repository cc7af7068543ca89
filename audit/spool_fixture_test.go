package audit_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/spool"
	"github.com/sluicehq/sluice/audit/storetest"
)

// legacyFixture describes testdata/spool-v1/0000000000000001.spool, a
// segment written by the gateway's spool before framing 2 (commit
// 923e6cb): 20 records (seq 1..20, ids 01LEGACY…, gateway legacy-gw) in
// two writes with a probe between them, and the outcomes of every fourth
// (status 200, 7 ms).
func legacyFixture(i int) *audit.Record {
	r := storetest.Sample(i)
	r.ID = fmt.Sprintf("01LEGACY%018d", i)
	r.Seq = uint64(i + 1)
	r.Gateway = "legacy-gw"
	return r
}

func copyLegacyFixture(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("spool/testdata/spool-v1/0000000000000001.spool")
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

// legacyEntries are the entries spool/testdata's segments hold (see its
// README): records of legacyFixture in two writes, then the outcomes of
// every fourth.
func legacyEntries() (kinds []spool.Kind, recs []*audit.Record) {
	for i := range 20 {
		kinds, recs = append(kinds, spool.KindRecord), append(recs, legacyFixture(i))
	}
	for i := 0; i < 20; i += 4 {
		r := legacyFixture(i)
		r.TimeEnd = r.TimeStart.Add(7 * time.Millisecond)
		r.DurationMS, r.Status, r.BytesSent, r.BytesReceived = 7, 200, 100, 2000
		kinds, recs = append(kinds, spool.KindOutcome), append(recs, r)
	}
	return kinds, recs
}

// The spools earlier gateways wrote (framing 1 and 2, both with record
// payloads of version 1) hold exactly what appendRecordV1 makes of their
// records, and replay gives those records back whole.
func TestSpoolFixturesRecords(t *testing.T) {
	kinds, want := legacyEntries()
	for _, name := range []string{"spool-v1", "spool-framing2"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			copyFile(t, filepath.Join("spool/testdata", name, "0000000000000001.spool"), filepath.Join(dir, "0000000000000001.spool"))
			var raw [][]byte
			decode := func(b []byte) (spool.Payload, uint64, error) {
				// (Replay decodes a segment's first entry twice: once to
				// tell its framing.)
				if n := len(raw); n == 0 || !bytes.Equal(raw[n-1], b) {
					raw = append(raw, bytes.Clone(b))
				}
				return audit.DecodePayload(b)
			}
			s, err := spool.Open(dir, spool.Pos{}, spool.Options{Logger: quiet, Decode: decode})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Unlock()
			var got []spool.Item
			res, err := s.Replay(spool.Pos{}, 7, spool.Expect{}, func(items []spool.Item) error {
				got = append(got, items...)
				return nil
			})
			if err != nil || len(got) != len(want) || len(res.Damage) != 0 {
				t.Fatalf("replayed %d entries (want %d), damage %v, %v", len(got), len(want), res.Damage, err)
			}
			for i := range want {
				r := audit.RecordOf(&got[i])
				if got[i].Kind != kinds[i] || !reflect.DeepEqual(storetest.Public(*r), storetest.Public(*want[i])) {
					t.Fatalf("entry %d: %v %+v\nwant %v %+v", i, got[i].Kind, *r, kinds[i], *want[i])
				}
				if string(raw[i]) != string(audit.AppendRecordV1(nil, want[i])) {
					t.Fatalf("entry %d: its payload is not what appendRecordV1 makes of it", i)
				}
			}
		})
	}
}
