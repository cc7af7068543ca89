package audit_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/spool"
	"github.com/sluicehq/sluice/audit/storetest"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

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
		r := storetest.Sample(i)
		r.ID, r.Seq, r.Gateway = "01KAAAAAAAAAAAAAAAAAAAAAAA", uint64(i), "g1"
		items[i] = spool.Item{Kind: spool.KindRecord, Seq: r.Seq, Payload: audit.SpoolPayload(r)}
	}
	cpu := storetest.StartCPU()
	b.ResetTimer()
	n := 0
	for n < b.N {
		if err := s.Append(items); err != nil {
			b.Fatal(err)
		}
		n += batch
	}
	b.StopTimer()
	cpu.Report(b, n)
}

func benchBeginEnd(b *testing.B, workers int, direct bool) {
	reader := sdkmetric.NewManualReader()
	a, err := audit.Open(context.Background(), audit.Options{
		Stores:        testStores,
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
	cpu := storetest.StartCPU()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := (b.N + workers - 1) / workers
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat[w] = make([]time.Duration, 0, per)
			for i := range per {
				r := storetest.Sample(w*per + i)
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
	cpu.Report(b, per*workers)
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
	r := storetest.Sample(1)
	r.ID, r.Seq, r.Gateway = "01KAAAAAAAAAAAAAAAAAAAAAAA", 1, "g1"
	buf := make([]byte, 0, 64<<10)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(buf) > 60<<10 {
			buf = buf[:0]
		}
		buf = spool.EncodeEntry(buf, 1, int64(len(buf)), spool.KindRecord, audit.SpoolPayload(r))
	}
	b.SetBytes(int64(len(spool.EncodeEntry(nil, 1, 0, spool.KindRecord, audit.SpoolPayload(r)))))
}
