package audit

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit/spool"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// cpuMeter reports process CPU time (user+system) per record: steadier
// than wall time on a shared machine, and what the gateway pays.
type cpuMeter struct{ start time.Duration }

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}

func startCPU() cpuMeter { return cpuMeter{cpuNow()} }

func (m cpuMeter) report(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64((cpuNow()-m.start).Nanoseconds())/1e3/float64(n), "cpu-µs/record")
}

// BenchmarkStoreWrite measures the store alone: batches of 1024 new
// records, each batch one transaction with fsync (what the writer does
// under load).
func BenchmarkStoreWrite(b *testing.B) {
	s, _ := openTestStore(b)
	var g idGen
	const batch = 1024
	recs := make([]*Record, batch)
	for i := range recs {
		recs[i] = sample(i)
	}
	cpu := startCPU()
	b.ResetTimer()
	n := 0
	for n < b.N {
		now := time.Now()
		for _, r := range recs {
			r.TimeStart = now
			r.ID = g.next(now)
			r.Seq = uint64(n)
			r.Gateway = "g1"
			n++
		}
		if err := s.Write(context.Background(), &Batch{Inserts: recs}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu.report(b, n)
}

// BenchmarkStoreOutcome measures outcome updates: batches of 1024
// outcomes of records inserted before the timer starts.
func BenchmarkStoreOutcome(b *testing.B) {
	s, _ := openTestStore(b)
	var g idGen
	const batch = 1024
	var all []*Record
	for len(all) < b.N {
		recs := make([]*Record, batch)
		now := time.Now()
		for i := range recs {
			r := sample(len(all) + i)
			r.TimeStart, r.ID, r.Gateway = now, g.next(now), "g1"
			recs[i] = r
		}
		if err := s.Write(context.Background(), &Batch{Inserts: recs}); err != nil {
			b.Fatal(err)
		}
		all = append(all, recs...)
	}
	for _, r := range all {
		r.TimeEnd = r.TimeStart.Add(42 * time.Millisecond)
		r.DurationMS, r.Status, r.BytesSent, r.BytesReceived, r.DialedIP = 42, 200, 1234, 5678, "203.0.113.7"
	}
	cpu := startCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		if err := s.Write(context.Background(), &Batch{Outcomes: all[i:min(i+batch, b.N)]}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu.report(b, b.N)
}

// BenchmarkAuditorBeginEnd is the data plane's path: concurrent calls,
// each Begin (waits for the group commit) then End. It reports the Begin
// latency a call waits before it may dial, and the rows per commit.
// With the spool (the default) Begin waits for the spool's fsync and the
// SQLite work happens in the ingester; "direct" commits to SQLite itself,
// as before the spool existed. CPU per record counts both.
func BenchmarkAuditorBeginEnd(b *testing.B) {
	for _, mode := range []string{"spool", "direct"} {
		for _, workers := range []int{64, 512} {
			b.Run(fmt.Sprintf("%s/callers=%d", mode, workers), func(b *testing.B) {
				benchBeginEnd(b, workers, mode == "direct")
			})
		}
	}
}

// BenchmarkSpoolAppend measures the durable append alone: batches of
// 1024 records encoded, written and fdatasynced into the spool.
func BenchmarkSpoolAppend(b *testing.B) {
	s, err := spool.Open(b.TempDir(), spool.Pos{}, spool.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Unlock()
	defer s.Close()
	const batch = 1024
	items := make([]spool.Item, batch)
	for i := range items {
		r := sample(i)
		r.ID, r.Seq, r.Gateway = "01KAAAAAAAAAAAAAAAAAAAAAAA", uint64(i), "g1"
		items[i] = spool.Item{Kind: spool.KindRecord, Seq: r.Seq, Payload: spooled{r}}
	}
	cpu := startCPU()
	b.ResetTimer()
	n := 0
	for n < b.N {
		if err := s.Append(items); err != nil {
			b.Fatal(err)
		}
		n += batch
	}
	b.StopTimer()
	cpu.report(b, n)
}

func benchBeginEnd(b *testing.B, workers int, direct bool) {
	reader := sdkmetric.NewManualReader()
	a, err := Open(context.Background(), Options{
		Config:        testAuditConfig(filepath.Join(b.TempDir(), "audit.db")),
		Gateway:       "bench",
		Logger:        quiet,
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		NoSpool:       direct,
	})
	if err != nil {
		b.Fatal(err)
	}
	lat := make([][]time.Duration, workers)
	cpu := startCPU()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := (b.N + workers - 1) / workers
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat[w] = make([]time.Duration, 0, per)
			for i := range per {
				r := sample(w*per + i)
				r.TimeStart = time.Time{}
				start := time.Now()
				if err := a.Begin(context.Background(), r); err != nil {
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(start))
				r.Status, r.BytesSent, r.BytesReceived = 200, 1234, 5678
				a.End(r)
			}
		}()
	}
	wg.Wait()
	if err := a.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cpu.report(b, per*workers)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "begin-p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "begin-p99-ms")
	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[int64]); ok && m.Name == "sluice_audit_batch_size" {
				for _, p := range h.DataPoints {
					b.ReportMetric(float64(p.Sum)/float64(p.Count), "rows/commit")
				}
			}
		}
	}
}

// BenchmarkSpoolEncode measures the framing of one entry without I/O:
// the record encoding and its CRC-32C, what the writer pays per call
// before the write and fdatasync.
func BenchmarkSpoolEncode(b *testing.B) {
	r := sample(1)
	r.ID, r.Seq, r.Gateway = "01KAAAAAAAAAAAAAAAAAAAAAAA", 1, "g1"
	buf := make([]byte, 0, 64<<10)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(buf) > 60<<10 {
			buf = buf[:0]
		}
		buf = spool.EncodeEntry(buf, 1, int64(len(buf)), spool.KindRecord, spooled{r})
	}
	b.SetBytes(int64(len(spool.EncodeEntry(nil, 1, 0, spool.KindRecord, spooled{r}))))
}
