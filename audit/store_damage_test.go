package audit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/storetest"
	"github.com/sluicehq/sluice/internal/config"
)

// runGateway opens a spooled audit.Auditor on path, records n calls and closes
// it (everything reaches the store).
func runGateway(t *testing.T, path string, n int) {
	t.Helper()
	ctx := context.Background()
	a := openSpooled(t, path, nil)
	for i := range n {
		r := storetest.Sample(i)
		if err := a.Begin(ctx, r); err != nil {
			t.Fatal(err)
		}
		r.Status = 200
		a.End(r)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// openErr opens an audit.Auditor on path the way `sluice serve` does and
// returns the error.
func openErr(t *testing.T, path string) error {
	t.Helper()
	a, err := audit.Open(context.Background(), audit.Options{Stores: testStores, Config: testAuditConfig(path), Gateway: "gw-1", Logger: quiet})
	if err == nil {
		_ = a.Close(context.Background())
	}
	return err
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// A store that lacks records the gateway committed to it (truncated,
// replaced by another file, restored from an older copy) is refused at
// audit.Open, naming the file, the seqs missing and what to do; removing the
// high-water mark accepts the loss.
func TestStoreBehindHighWaterIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, path, older string)
		missing string
	}{
		{"truncated to 0 bytes", func(t *testing.T, path, _ string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, "records 1..30"},
		{"removed", func(t *testing.T, path, _ string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, "records 1..30"},
		{"restored from an older copy", func(t *testing.T, path, older string) {
			copyFile(t, older, path)
		}, "records 11..30"},
		{"replaced by another store", func(t *testing.T, path, _ string) {
			other := filepath.Join(t.TempDir(), "other.db")
			s, err := testStores.Open(context.Background(), "sqlite://"+other, audit.StoreOptions{Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			_ = s.Close()
			copyFile(t, other, path)
		}, "records 1..30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "audit.db")
			older := filepath.Join(dir, "older.db")
			runGateway(t, path, 10)
			copyFile(t, path, older)
			runGateway(t, path, 20)
			tc.damage(t, path, older)

			err := openErr(t, path)
			mark := filepath.Join(path+".spool", "gw-1", "hwm")
			if !errors.Is(err, audit.ErrStoreDamaged) {
				t.Fatalf("Open of a store behind its high-water mark: %v", err)
			}
			for _, want := range []string{path, mark, tc.missing, "remove " + mark} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
			// Refused means untouched: no spool replayed into it.
			if err := openErr(t, path); !errors.Is(err, audit.ErrStoreDamaged) {
				t.Fatalf("second Open: %v", err)
			}
			if err := os.Remove(mark); err != nil {
				t.Fatal(err)
			}
			if err := openErr(t, path); err != nil {
				t.Fatalf("Open once the loss is accepted: %v", err)
			}
		})
	}
}

// A restart, `sluice audit replay` and a brand-new deployment are not
// damage: nothing is refused or reported.
func TestHighWaterAllowsOrdinaryStarts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data", "audit.db")
	ctx := context.Background()
	// New deployment: no spool directory, no store.
	a := openSpooled(t, path, parked)
	if d := a.Damage(); len(d) != 0 {
		t.Fatalf("damage on a new deployment: %+v", d)
	}
	if _, err := os.Stat(filepath.Join(path+".spool", "gw-1", "hwm")); err != nil {
		t.Fatalf("no high-water mark: %v", err)
	}
	for i := range 5 {
		if err := a.Begin(ctx, storetest.Sample(i)); err != nil {
			t.Fatal(err)
		}
	}
	crash(a)
	// Restart after a crash, then a clean one.
	for range 2 {
		a = openSpooled(t, path, nil)
		if d := a.Damage(); len(d) != 0 {
			t.Fatalf("damage on restart: %+v", d)
		}
		r := storetest.Sample(9)
		if err := a.Begin(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A crashed gateway replayed by `sluice audit replay`.
	a = openSpooled(t, path, parked)
	if err := a.Begin(ctx, storetest.Sample(10)); err != nil {
		t.Fatal(err)
	}
	crash(a)
	res, err := audit.ReplaySpools(ctx, testStores, "sqlite://"+path, quiet)
	if err != nil || len(res) != 1 || res[0].Err != nil || res[0].Pending != 1 || len(res[0].Damage) != 0 {
		t.Fatalf("replay: %+v %v", res, err)
	}
	if all, open := countRecords(t, path); all != 8 || open != 0 {
		t.Fatalf("%d records (%d open), want 8 (0 open)", all, open)
	}
}

// A damaged SQLite file is never served as healthy: audit.Open checks its
// integrity and refuses it with what to do.
func TestDamagedStoreIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   func(size int64) int64 // where a 4 KiB page of garbage goes
		want string
	}{
		{"garbage page mid-file", func(size int64) int64 { return size / 2 &^ 4095 }, "integrity_check"},
		{"garbage first page", func(int64) int64 { return 0 }, "not a database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.db")
			runGateway(t, path, 3000)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			page := make([]byte, 4096)
			for i := range page {
				page[i] = byte(i*131 + 7)
			}
			if _, err := f.WriteAt(page, tc.at(fi.Size())); err != nil {
				t.Fatal(err)
			}
			_ = f.Close()

			err = openErr(t, path)
			if !errors.Is(err, audit.ErrStoreDamaged) {
				t.Fatalf("Open of a damaged store: %v", err)
			}
			mark := filepath.Join(path+".spool", "gw-1", "hwm")
			for _, want := range []string{path, tc.want, "mv " + path, "remove " + mark} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
			t.Logf("refused: %v", err)
		})
	}
}

// The integrity check is bounded: one that cannot finish in time lets a
// store open, unverified, and says so.
func TestIntegrityCheckTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	runGateway(t, path, 100)
	var logs strings.Builder
	a, err := audit.Open(context.Background(), audit.Options{Stores: testStores, Config: config.Audit{Store: "sqlite://" + path}, Gateway: "gw-1",
		Logger: slogTo(&logs), IntegrityTimeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	_ = a.Close(context.Background())
	if !strings.Contains(logs.String(), "did not finish in time") {
		t.Fatalf("no warning: %s", logs.String())
	}
}

// A store file replaced while the gateway runs (the ingester recreates
// it) is damage: the records of the old file are not in the new one.
func TestStoreReplacedWhileRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	ctx := context.Background()
	a := openSpooled(t, path, func(o *audit.Options) { o.IngestDelay = time.Millisecond })
	defer a.Close(ctx)
	r := storetest.Sample(1)
	if err := a.Begin(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		_ = os.Remove(p)
	}
	if err := a.Begin(ctx, storetest.Sample(2)); err != nil {
		t.Fatal(err)
	}
	storetest.Eventually(t, "the replaced store reported", func() bool {
		for _, d := range a.Damage() {
			if d.Kind == audit.DamageStoreReplaced && d.File == path && d.SeqBefore >= 1 {
				return true
			}
		}
		return false
	})
}
