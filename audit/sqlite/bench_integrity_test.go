package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/storetest"
	"github.com/sluicehq/sluice/audit/tlog"
	"golang.org/x/mod/sumdb/note"
)

// BenchmarkIntegrityCheck1M measures what Open's integrity check costs on
// a store of one million records (about 0.7 GB): quick_check, which a
// file of that size gets, and integrity_check for comparison. The store
// is generated once per run (a minute or two), or kept at
// $SLUICE_AUDIT_BENCH_1M between runs. Skipped with -short.
func BenchmarkIntegrityCheck1M(b *testing.B) {
	if testing.Short() {
		b.Skip("generating a million records takes minutes; skipped with -short")
	}
	path := os.Getenv("SLUICE_AUDIT_BENCH_1M")
	if path == "" {
		path = filepath.Join(b.TempDir(), "audit.db")
	}
	if _, err := os.Stat(path); err != nil {
		start := time.Now()
		if err := generateRecords(path, 1_000_000); err != nil {
			b.Fatal(err)
		}
		fi, _ := os.Stat(path)
		b.Logf("generated 1M records in %v: %.2f GB", time.Since(start).Round(time.Second), float64(fi.Size())/1e9)
	}
	s, err := openSQLite(context.Background(), path, audit.StoreOptions{Logger: quiet, IntegrityTimeout: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for _, pragma := range []string{"quick_check", "integrity_check"} {
		b.Run(pragma, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				problems, err := integrityRows(context.Background(), s.conn, pragma)
				if err != nil || len(problems) > 0 {
					b.Fatalf("%s: %v %v", pragma, problems, err)
				}
			}
		})
	}
}

// generateRecords writes n finished records into a new store at path, in
// transactions of 8192.
func generateRecords(path string, n int) error {
	s, err := openSQLite(context.Background(), path, audit.StoreOptions{Logger: quiet})
	if err != nil {
		return err
	}
	defer s.Close()
	start := time.Now().Add(-30 * 24 * time.Hour)
	const batch = 8192
	recs := make([]*audit.Record, batch)
	for done := 0; done < n; {
		k := min(batch, n-done)
		for i := range k {
			r := storetest.Sample(done + i)
			r.TimeStart = start.Add(time.Duration(done+i) * 2 * time.Second)
			r.TimeEnd = r.TimeStart.Add(40 * time.Millisecond)
			r.ID, r.Seq, r.Gateway = fmt.Sprintf("01BENCH%019d", done+i), uint64(done+i+1), "bench"
			r.Status, r.BytesSent, r.BytesReceived, r.DurationMS = 200, 1234, 5678, 40
			recs[i] = r
		}
		if err := s.Write(context.Background(), &audit.Batch{Inserts: recs[:k]}); err != nil {
			return err
		}
		done += k
	}
	return nil
}

// BenchmarkVerify1M measures `sluice audit verify` on a store of one
// million finished records of one gateway (written through Write, so
// logged), with a checkpoint every 8192 records: every record read back,
// encoded and hashed, matched with its leaf, and the tree rebuilt and
// checked against each checkpoint. The store is generated once per run
// (a few minutes), or kept at $SLUICE_AUDIT_BENCH_LOG_1M between runs.
// Skipped with -short.
func BenchmarkVerify1M(b *testing.B) {
	if testing.Short() {
		b.Skip("generating a million records takes minutes; skipped with -short")
	}
	path := os.Getenv("SLUICE_AUDIT_BENCH_LOG_1M")
	if path == "" {
		path = filepath.Join(b.TempDir(), "audit.db")
	}
	skey, vkey, err := tlog.GenerateKey("bench")
	if err != nil {
		b.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	if _, err := os.Stat(path); err != nil {
		start := time.Now()
		if err := generateRecords(path, 1_000_000); err != nil {
			b.Fatal(err)
		}
		fi, _ := os.Stat(path)
		b.Logf("generated 1M records in %v: %.2f GB", time.Since(start).Round(time.Second), float64(fi.Size())/1e9)
	}
	// Checkpoints, signed now (the key is new each run).
	ctx := context.Background()
	s, err := openSQLite(ctx, path, audit.StoreOptions{Logger: quiet, IntegrityTimeout: -1})
	if err != nil {
		b.Fatal(err)
	}
	lr, err := s.LogSnapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	r := audit.HashReader(ctx, lr, "bench")
	size, _ := lr.Size(ctx, "bench")
	var notes [][]byte
	for n := int64(8192); ; n += 8192 {
		n = min(n, size)
		root, err := tlog.TreeHash(n, r)
		if err != nil {
			b.Fatal(err)
		}
		msg, err := tlog.Sign(tlog.Checkpoint{Origin: "bench", Size: n, Root: root}, signer)
		if err != nil {
			b.Fatal(err)
		}
		notes = append(notes, msg)
		if n == size {
			break
		}
	}
	_ = lr.Close()
	_ = s.Close()
	opts := audit.VerifyOptions{Verifiers: tlog.Verifiers(verifier)}
	for i, n := range notes {
		opts.Checkpoints = append(opts.Checkpoints, audit.ExternalCheckpoint{Source: fmt.Sprint(i), Note: n})
	}
	ro, err := testStores().Open(ctx, "sqlite://"+path, audit.StoreOptions{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer ro.Close()
	cpu := storetest.StartCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := audit.VerifyLogs(ctx, ro.(audit.LogStore), opts)
		if err != nil {
			b.Fatal(err)
		}
		if len(res) != 1 || !res[0].Intact() || res[0].Checked != 1_000_000 || res[0].Checkpoints != len(notes) {
			b.Fatalf("verification: %+v", res)
		}
	}
	b.StopTimer()
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/verify")
	cpu.Report(b, b.N*1_000_000)
}
