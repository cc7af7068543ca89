package audit_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/httpapi"
	"github.com/sluicehq/sluice/audit/spool"
	"github.com/sluicehq/sluice/audit/storetest"
	"github.com/sluicehq/sluice/internal/config"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

const damageChildEnv = "SLUICE_AUDIT_DAMAGE_CHILD"

// damageChildCalls is how many calls the child begins (every other one
// ended).
const damageChildCalls = 400

// TestDamageChild is the gateway TestSpoolDamageAfterKill9 kills: its
// store is "busy" (nothing is ingested), so every record it acknowledges
// is only in the spool; it prints "spooled" once they all are.
func TestDamageChild(t *testing.T) {
	path := os.Getenv(damageChildEnv)
	if path == "" {
		t.Skip("helper process of TestSpoolDamageAfterKill9")
	}
	a, err := audit.Open(context.Background(), audit.Options{Stores: testStores, Config: config.Audit{Store: "sqlite://" + path}, Gateway: "gw-1",
		Logger: quiet, IngestDelay: time.Hour})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	for i := range damageChildCalls {
		r := storetest.Sample(i)
		if err := a.Begin(context.Background(), r); err != nil {
			fmt.Println("begin:", err)
			os.Exit(2)
		}
		if i%2 == 0 {
			r.Status = 200
			a.End(r)
		}
	}
	for audit.Backlog(a) < damageChildCalls*3/2 {
		time.Sleep(time.Millisecond)
	}
	fmt.Println("spooled")
	select {}
}

// spoolAfterKill9 runs TestDamageChild on a store at path and kills it
// with SIGKILL once its records are spooled; it returns the segment that
// holds them.
func spoolAfterKill9(t *testing.T, path string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDamageChild$")
	cmd.Env = append(os.Environ(), damageChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "spooled" {
		_ = cmd.Process.Kill()
		t.Fatalf("child: %q", sc.Text())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	segs, _ := filepath.Glob(filepath.Join(path+".spool", "gw-1", "*.spool"))
	if len(segs) != 1 {
		t.Fatalf("segments: %v", segs)
	}
	return segs[0]
}

// The scenario: records held in the spool (the store busy),
// kill -9, then the segment damaged. The restart recovers every intact
// entry, and reports the damage as damage: an error log with segment,
// offset and seqs, the metrics, and /v1/audit's "damage" list. Readiness
// stays OK (the store writes; see audit/README.md), the seqs lost are not
// handed out again, and the damaged segment is kept aside.
func TestSpoolDamageAfterKill9(t *testing.T) {
	if os.Getenv(damageChildEnv) != "" {
		t.Skip("in the helper")
	}
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
		// maxLost bounds the seqs the damage may cost (0: no bound):
		// 200 bytes touch at most two entries, and replay resumes after.
		maxLost uint64
	}{
		{"200 bytes of garbage mid-segment", func(b []byte) []byte {
			for i := range 200 {
				b[len(b)/2+i] = byte(i*7 + 1)
			}
			return b
		}, 2},
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.db")
			seg := spoolAfterKill9(t, path)
			damageFile(t, seg, tc.damage)

			reader := sdkmetric.NewManualReader()
			var logs strings.Builder
			a := openSpooled(t, path, func(o *audit.Options) {
				o.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
				o.Logger = slogTo(&logs)
			})
			defer a.Close(context.Background())
			h := &harness{a: a, reader: reader}

			dmg := a.Damage()
			if len(dmg) != 1 {
				t.Fatalf("damage events: %+v", dmg)
			}
			d := dmg[0]
			// (The damaged bytes may have held only outcomes: then no seq
			// is named, and nothing may be missing.)
			if d.Kind != spool.DamageSpool || d.File != seg || d.Offset <= 0 || d.Bytes <= 0 {
				t.Fatalf("damage %+v", d)
			}
			// Every seq the event does not name is in the store; those it
			// names are missing, unless their outcome entry (which
			// carries the whole record) was intact.
			present := map[uint64]bool{}
			recs, err := audit.QueryAll(context.Background(), a.Reader(), audit.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				present[r.Seq] = true
			}
			missing := 0
			for seq := uint64(1); seq <= damageChildCalls; seq++ {
				named := seq >= d.LostSeqFrom && seq <= d.LostSeqTo
				if !present[seq] {
					missing++
					if !named {
						t.Fatalf("seq %d is not in the store and the damage names %d..%d", seq, d.LostSeqFrom, d.LostSeqTo)
					}
				}
			}
			if named := d.LostSeqTo - d.LostSeqFrom + 1; tc.maxLost > 0 && d.LostSeqFrom > 0 && named > tc.maxLost {
				t.Fatalf("the damage names %d seqs, want at most %d: replay must resume after the damaged bytes", named, tc.maxLost)
			}
			if missing == 0 && d.LostSeqTo-d.LostSeqFrom > 2 {
				t.Errorf("nothing missing, yet the damage names %d..%d", d.LostSeqFrom, d.LostSeqTo)
			}
			t.Logf("damage: %+v; %d of %d records recovered", d, len(recs), damageChildCalls)

			wantSeqs := `lost_seqs="none`
			if d.LostSeqFrom > 0 {
				wantSeqs = fmt.Sprintf("lost_seqs=%d..%d", d.LostSeqFrom, d.LostSeqTo)
			}
			for _, want := range []string{"DAMAGE", "file=" + seg, fmt.Sprintf("offset=%d", d.Offset),
				fmt.Sprintf("seq_before=%d", d.SeqBefore), wantSeqs} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, logs.String())
				}
			}
			if strings.Contains(logs.String(), "never acknowledged") {
				t.Errorf("damage logged as a torn write:\n%s", logs.String())
			}
			if n, _ := h.metric(t, "sluice_audit_spool_damage_total"); n != 1 {
				t.Errorf("sluice_audit_spool_damage_total = %d", n)
			}
			if n, _ := h.metric(t, "sluice_audit_spool_damaged_bytes_total"); n != d.Bytes {
				t.Errorf("sluice_audit_spool_damaged_bytes_total = %d, want %d", n, d.Bytes)
			}
			if err := a.Ready(); err != nil {
				t.Errorf("not ready after recovering from damage: %v", err)
			}
			rec := httptest.NewRecorder()
			httpapi.New(a.Reader(), httpapi.Options{Damage: a.Damage}).ServeHTTP(rec, httptest.NewRequest("GET", "/v1/audit?limit=1", nil))
			var body struct {
				Damage []spool.DamageEvent `json:"damage"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Damage) != 1 || body.Damage[0].File != seg ||
				body.Damage[0].LostSeqFrom != d.LostSeqFrom {
				t.Errorf("GET /v1/audit damage: %v\n%s", err, rec.Body.String())
			}
			if kept, _ := filepath.Glob(seg + ".damaged-*"); len(kept) != 1 {
				t.Errorf("damaged segment not kept aside: %v", kept)
			}
			r := storetest.Sample(1000)
			if err := a.Begin(context.Background(), r); err != nil || r.Seq <= damageChildCalls {
				t.Errorf("Begin after the damage: seq %d, %v (lost seqs must not be reused)", r.Seq, err)
			}
		})
	}
}

// A crash alone is never damage: kill -9 under load, restart, nothing
// reported.
func TestKill9IsNotDamage(t *testing.T) {
	if os.Getenv(damageChildEnv) != "" {
		t.Skip("in the helper")
	}
	path := filepath.Join(t.TempDir(), "audit.db")
	spoolAfterKill9(t, path)
	a := openSpooled(t, path, nil)
	defer a.Close(context.Background())
	if d := a.Damage(); len(d) != 0 {
		t.Fatalf("damage after a plain kill -9: %+v", d)
	}
	if all, open := countRecords(t, path); all != damageChildCalls || open != 0 {
		t.Fatalf("%d records (%d open), want %d", all, open, damageChildCalls)
	}
}
