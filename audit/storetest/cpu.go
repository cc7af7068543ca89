package storetest

import (
	"syscall"
	"testing"
	"time"
)

// CPUMeter reports process CPU time (user+system) per record in a
// benchmark: steadier than wall time on a shared machine, and what the
// gateway pays.
type CPUMeter struct{ start time.Duration }

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}

// StartCPU starts measuring.
func StartCPU() CPUMeter { return CPUMeter{cpuNow()} }

// Report reports records/s and cpu-µs/record for n records.
func (m CPUMeter) Report(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64((cpuNow()-m.start).Nanoseconds())/1e3/float64(n), "cpu-µs/record")
}
