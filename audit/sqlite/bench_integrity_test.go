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
