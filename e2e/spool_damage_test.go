package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// damageEvent is an entry of the "damage" list of GET /v1/audit.
type damageEvent struct {
	Kind        string `json:"kind"`
	File        string `json:"file"`
	Offset      int64  `json:"offset"`
	Bytes       int64  `json:"bytes"`
	LostSeqFrom uint64 `json:"lost_seq_from"`
	LostSeqTo   uint64 `json:"lost_seq_to"`
}

// The case: records held in the spool (the store busy), kill -9,
// then the spool segment damaged. The restarted gateway recovers every
// intact entry after the damage, and reports the damage as damage (not as
// a write cut short): an error log naming segment and offset, the
// sluice_audit_spool_damage_total metric, and the damage list of
// GET /v1/audit; /readyz stays 200, since the store writes.
func TestSpoolDamageAfterCrashIsSkippedAndReported(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
		// maxLost bounds the seqs the damage may cost (0: no bound):
		// 200 bytes touch at most two entries, and replay resumes after.
		maxLost uint64
	}{
		{"200 bytes of garbage mid-segment", func(b []byte) []byte {
			for i := range 200 {
				b[len(b)/2+i] = byte(i*29 + 3)
			}
			return b
		}, 2},
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := crashUnderLoad(t, crashOpts{busyStore: true})
			g := run.g
			segs, _ := filepath.Glob(filepath.Join(g.Dir, "audit.db.spool", "e2e-gw", "*.spool"))
			if len(segs) != 1 {
				t.Fatalf("spool segments: %v", segs)
			}
			seg := segs[0]
			b, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(seg, tc.damage(b), 0o640); err != nil {
				t.Fatal(err)
			}
			g.Restart()
			if code, body := g.AdminGet("/readyz"); code != http.StatusOK {
				t.Errorf("/readyz after a recovered damage: %d\n%s", code, body)
			}

			code, body := g.AdminGet("/v1/audit?limit=0")
			var resp struct {
				Records []record      `json:"records"`
				Damage  []damageEvent `json:"damage"`
			}
			if err := json.Unmarshal(body, &resp); err != nil || code != 200 {
				t.Fatalf("GET /v1/audit: %d %v", code, err)
			}
			if len(resp.Damage) != 1 {
				t.Fatalf("damage list: %+v", resp.Damage)
			}
			d := resp.Damage[0]
			if d.Kind != "spool_damage" || d.File != seg || d.Offset <= 0 || d.Bytes <= 0 {
				t.Fatalf("damage %+v, want spool_damage in %s", d, seg)
			}
			logs := g.Logs()
			if !contains(logs, "DAMAGE", seg, fmt.Sprintf("offset=%d", d.Offset)) || strings.Contains(logs, "never acknowledged") {
				t.Errorf("the log does not report the damage as damage:\n%s", logs)
			}
			if _, m := g.AdminGet("/metrics"); !strings.Contains(string(m), "sluice_audit_spool_damage_total 1") {
				t.Errorf("/metrics lacks sluice_audit_spool_damage_total 1")
			}

			// Every seq outside the damage's range is recovered; the calls
			// missing are no more than it names.
			seqs := map[uint64]bool{}
			var top uint64
			ids := map[string]bool{}
			for _, r := range resp.Records {
				s := uint64(r.num("seq"))
				seqs[s], ids[r.str("id")] = true, true
				top = max(top, s)
			}
			for s := uint64(1); s <= top; s++ {
				if !seqs[s] && (s < d.LostSeqFrom || s > d.LostSeqTo) {
					t.Fatalf("seq %d is missing and outside the damage (%d..%d)", s, d.LostSeqFrom, d.LostSeqTo)
				}
			}
			missing := 0
			for _, id := range run.seen {
				if !ids[id] {
					missing++
				}
			}
			if n := d.LostSeqTo - d.LostSeqFrom + 1; tc.maxLost > 0 && d.LostSeqFrom > 0 && n > tc.maxLost {
				t.Fatalf("the damage names %d seqs, want at most %d: replay must resume after the damaged bytes", n, tc.maxLost)
			}
			if named := int(d.LostSeqTo - d.LostSeqFrom + 1); d.LostSeqFrom > 0 && missing > named || d.LostSeqFrom == 0 && missing > 0 {
				t.Fatalf("%d calls the upstream saw have no record; the damage names seqs %d..%d", missing, d.LostSeqFrom, d.LostSeqTo)
			}
			t.Logf("damage %+v: %d of %d upstream calls without a record, %d records", d, missing, len(run.seen), len(resp.Records))
			// The records recovered after the damage are queryable as usual.
			if recs := records(t, g, url.Values{"limit": {"0"}}); len(recs) != len(resp.Records) {
				t.Errorf("%d records, then %d", len(resp.Records), len(recs))
			}
		})
	}
}
