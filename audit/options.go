package audit

import (
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/audit/spool"
	"github.com/sluicehq/sluice/internal/config"
	"go.opentelemetry.io/otel/metric"
)

// Options configure an Auditor. Only Config, Cost, Gateway and Stores
// matter in production; the rest have defaults and exist for tests and
// benchmarks.
type Options struct {
	Config config.Audit
	Cost   config.Cost
	// Stores are the stores Config.Store may name (cmd/sluice/stores.go);
	// required unless Store is set.
	Stores *Stores
	// Gateway is this instance's id (stable across restarts): records it
	// left open are closed with error gateway_restart on Open, and its
	// seq continues from the highest one stored.
	Gateway       string
	Logger        *slog.Logger
	MeterProvider metric.MeterProvider

	// Store, when set, is used instead of opening Config.Store (a store
	// wrapped by a test). Close closes it.
	Store Store
	// MaxBatch caps the rows per commit (default 1024).
	MaxBatch int
	// CommitWindow is the least time between the starts of two syncs
	// while the previous one served more than one caller (default 2ms;
	// negative: never wait). Each commit's fdatasync costs ~120-150 µs of
	// CPU however few rows it carries, so under load fewer, larger commits
	// leave more CPU for the calls. The previous sync's own duration
	// counts towards the window, so a caller waits at most what is left
	// of it; a lone caller never waits. Measured on the bench/egress HTTP
	// load (#18, a busy machine): 43-63 syncs per 1,000 calls against
	// 55-87 with the earlier rule (250µs gathered after the first row,
	// which an outcome-only commit also reset); 1ms gave 64-65. A sync
	// costs ~8 µs per call either way: a small lever.
	CommitWindow time.Duration
	// QueueSize bounds the rows waiting for the writer (default 16384);
	// Begin and End wait while it is full.
	QueueSize int
	// ProbeInterval is how often a failing store is retried, and how
	// often an idle store is probed (default 1s).
	ProbeInterval time.Duration
	// RetentionInterval is how often audit.retention prunes (default 1h;
	// the first run is at Open).
	RetentionInterval time.Duration
	// PruneBatch is the number of rows deleted per transaction (default
	// 5000).
	PruneBatch int
	// RetryLimit caps the outcomes kept in memory while the store cannot
	// write (default 100000); beyond it they are dropped and counted.
	RetryLimit int
	// BusyTimeout is how long a commit waits for a lock held by another
	// process (default 2s).
	BusyTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time

	// NoSpool commits records straight to the store instead of through
	// the spool (spool.go); for tests and for measuring the difference.
	NoSpool bool
	// SpoolDir is the spool directory (default: where the store's driver
	// keeps spools, Driver.SpoolDir: the SQLite path plus ".spool"). The
	// spool is used only when there is a SpoolDir and the store is a
	// SpoolStore.
	SpoolDir string
	// IngestDelay is how long the ingester gathers records before it
	// writes them to the store (default 400ms: a tunnel shorter than that
	// becomes one finished row, not an open row closed later, which cut
	// the CPU per tunnel by about a tenth in #18's A/B).
	IngestDelay time.Duration
	// IngestBatch caps the records per store transaction from the spool
	// (default 8192).
	IngestBatch int
	// MaxBacklog is how many spooled records may wait for the store
	// (default 65536). Beyond it the writer waits for the ingester while
	// the store is slow, and new calls are refused as if the store could
	// not write while it fails.
	MaxBacklog int
	// IntegrityTimeout bounds the store's integrity check at Open
	// (default DefaultIntegrityTimeout; negative: no check).
	IntegrityTimeout time.Duration
	// HighWaterSync is how often the spool's high-water mark is
	// fdatasynced (default 1s); it is rewritten, unsynced, at every
	// commit.
	HighWaterSync time.Duration

	// openSpoolFile opens spool segment files (tests inject faults).
	openSpoolFile spool.OpenFileFunc
	// lazySync bounds how long an outcome stays written but not synced
	// (default lazySyncDelay; tests lengthen it).
	lazySync time.Duration
}

// defaults fills in the defaults of the zero fields.
func (opts *Options) defaults() {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Gateway == "" {
		opts.Gateway = "sluice"
	}
	if opts.CommitWindow == 0 {
		opts.CommitWindow = 2 * time.Millisecond
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1024
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 16384
	}
	if opts.ProbeInterval <= 0 {
		opts.ProbeInterval = time.Second
	}
	if opts.RetentionInterval <= 0 {
		opts.RetentionInterval = time.Hour
	}
	if opts.PruneBatch <= 0 {
		opts.PruneBatch = 5000
	}
	if opts.RetryLimit <= 0 {
		opts.RetryLimit = 100000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.lazySync <= 0 {
		opts.lazySync = lazySyncDelay
	}
	if opts.IngestDelay <= 0 {
		opts.IngestDelay = 400 * time.Millisecond
	}
	if opts.IngestBatch <= 0 {
		opts.IngestBatch = 8192
	}
	if opts.MaxBacklog <= 0 {
		opts.MaxBacklog = 65536
	}
	if opts.HighWaterSync <= 0 {
		opts.HighWaterSync = time.Second
	}
	if opts.Config.OnFailure == "" {
		opts.Config.OnFailure = "deny"
	}
}
