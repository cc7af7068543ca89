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

// LegacyFixture is record i of the spools in spool/testdata.
var LegacyFixture = legacyFixture

// CopyLegacyFixture puts spool/testdata/spool-v1's segment in dir.
var CopyLegacyFixture = copyLegacyFixture
