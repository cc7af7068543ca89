package sqlite

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/storetest"
)

// BenchmarkStoreWrite measures the store alone: batches of 1024 new
// records, each batch one transaction with fsync (what the writer does
// under load).
func BenchmarkStoreWrite(b *testing.B) {
	s, _ := openTestStore(b)
	const batch = 1024
	recs := make([]*audit.Record, batch)
	for i := range recs {
		recs[i] = storetest.Sample(i)
	}
	cpu := storetest.StartCPU()
	b.ResetTimer()
	n := 0
	for n < b.N {
		now := time.Now()
		for _, r := range recs {
			r.TimeStart = now
			r.ID = benchID(n)
			r.Seq = uint64(n)
			r.Gateway = "g1"
			n++
		}
		if err := s.Write(context.Background(), &audit.Batch{Inserts: recs}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu.Report(b, n)
}

// BenchmarkStoreWriteWhole measures what the ingester writes under load:
// batches of 8192 finished records (a call's decision and outcome
// together), with the transparency log and without it, side by side, so
// that the difference is what the log costs the gateway per record:
// encoding and hashing each record's leaf, the tree's interior hashes, and
// inserting the leaf's row.
func BenchmarkStoreWriteWhole(b *testing.B) {
	for _, mode := range []string{"log", "nolog"} {
		b.Run(mode, func(b *testing.B) {
			s, _ := openTestStore(b)
			s.noLog = mode == "nolog"
			const batch = 8192
			recs := make([]*audit.Record, batch)
			for i := range recs {
				recs[i] = storetest.Sample(i)
			}
			cpu := storetest.StartCPU()
			b.ResetTimer()
			n := 0
			for n < b.N {
				now := time.Now()
				k := min(batch, b.N-n)
				for _, r := range recs[:k] {
					r.TimeStart, r.TimeEnd = now, now.Add(40*time.Millisecond)
					r.ID = benchID(n)
					r.Seq = uint64(n + 1)
					r.Gateway = "g1"
					r.Status, r.BytesSent, r.BytesReceived, r.DurationMS = 200, 1234, 5678, 40
					n++
				}
				if err := s.Write(context.Background(), &audit.Batch{Inserts: recs[:k]}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cpu.Report(b, n)
		})
	}
}

// BenchmarkLogAppend measures the log's part of a write alone: batches of
// 8192 finished records made leaves (encoded, hashed, the tree's interior
// hashes) and their rows inserted into log_leaves, one transaction each,
// as Write does in the transaction of the records.
func BenchmarkLogAppend(b *testing.B) {
	s, _ := openTestStore(b)
	ctx := context.Background()
	const batch = 8192
	recs := make([]*audit.Record, batch)
	for i := range recs {
		recs[i] = storetest.Sample(i)
	}
	cpu := storetest.StartCPU()
	b.ResetTimer()
	n := 0
	for n < b.N {
		now := time.Now()
		k := min(batch, b.N-n)
		for _, r := range recs[:k] {
			r.TimeStart, r.TimeEnd = now, now.Add(40*time.Millisecond)
			r.ID, r.Seq, r.Gateway = benchID(n), uint64(n+1), "g1"
			r.Status, r.BytesSent, r.BytesReceived, r.DurationMS = 200, 1234, 5678, 40
			n++
		}
		if _, err := s.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			b.Fatal(err)
		}
		if err := s.prepareLog(ctx, "g1"); err != nil {
			b.Fatal(err)
		}
		leaves, err := s.logs.Append(recs[:k])
		if err != nil {
			b.Fatal(err)
		}
		if err := s.insertLeaves(ctx, leaves); err != nil {
			b.Fatal(err)
		}
		if _, err := s.conn.ExecContext(ctx, "COMMIT"); err != nil {
			b.Fatal(err)
		}
		s.logs.Commit()
	}
	b.StopTimer()
	cpu.Report(b, n)
}

// BenchmarkStoreOutcome measures outcome updates: batches of 1024
// outcomes of records inserted before the timer starts.
func BenchmarkStoreOutcome(b *testing.B) {
	s, _ := openTestStore(b)
	const batch = 1024
	var all []*audit.Record
	for len(all) < b.N {
		recs := make([]*audit.Record, batch)
		now := time.Now()
		for i := range recs {
			r := storetest.Sample(len(all) + i)
			r.TimeStart, r.ID, r.Gateway = now, benchID(len(all)+i), "g1"
			recs[i] = r
		}
		if err := s.Write(context.Background(), &audit.Batch{Inserts: recs}); err != nil {
			b.Fatal(err)
		}
		all = append(all, recs...)
	}
	for _, r := range all {
		r.TimeEnd = r.TimeStart.Add(42 * time.Millisecond)
		r.DurationMS, r.Status, r.BytesSent, r.BytesReceived, r.DialedIP = 42, 200, 1234, 5678, "203.0.113.7"
	}
	cpu := storetest.StartCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		if err := s.Write(context.Background(), &audit.Batch{Outcomes: all[i:min(i+batch, b.N)]}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu.Report(b, b.N)
}

// benchID is a unique record ID for n, made with one allocation (as the
// Auditor's IDs are), so that the benchmarks count the store's own.
func benchID(n int) string {
	var b [26]byte
	copy(b[:], "01BENCH0000000000000000000")
	var d [20]byte
	digits := strconv.AppendInt(d[:0], int64(n), 10)
	copy(b[len(b)-len(digits):], digits)
	return string(b[:])
}
