package audit

import (
	"time"

	"github.com/sluicehq/sluice/audit/spool"
)

// What the external tests (package audit_test) see of the Auditor's
// insides. They run the Auditor on the SQLite store, which imports this
// package, so they cannot be internal tests.

// Backlog is the number of spooled records not yet in the store.
func Backlog(a *Auditor) int { return a.backlog() }

// QueueDepth is the number of rows waiting for the writer.
func QueueDepth(a *Auditor) int { return a.queueDepth() }

// SpoolOf is the Auditor's spool (nil without one).
func SpoolOf(a *Auditor) *spool.Spool { return a.spool }

// IngestErr is the ingester's last failure.
func IngestErr(a *Auditor) error { return a.iq.lastErr() }

// ProbeIntervalOf is the Auditor's probe interval.
func ProbeIntervalOf(a *Auditor) time.Duration { return a.opts.ProbeInterval }

// SetOpenSpoolFile makes the Auditor open its spool segments with f.
func SetOpenSpoolFile(o *Options, f spool.OpenFileFunc) { o.openSpoolFile = f }

// SpoolPayload is r as a spool entry's payload.
func SpoolPayload(r *Record) spool.Payload { return spooled{r} }

// DecodePayload reads a record payload of any version.
var DecodePayload = decodePayload

// RecordOf is the record an entry of the Auditor's spool carries.
var RecordOf = recordOf

// AppendRecordV1 writes a version-1 record payload (codec_test.go).
var AppendRecordV1 = appendRecordV1

// SetLazySync sets how long outcomes may stay written but not synced.
func SetLazySync(o *Options, d time.Duration) { o.lazySync = d }
