package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/audit/spool"
	"github.com/sluicehq/sluice/internal/vocab"
)

// ErrorGatewayRestart is the error of records whose outcome never arrived
// because the gateway stopped (crash, kill -9); they are closed with it
// when the same gateway id opens the store again.
const ErrorGatewayRestart = "gateway_restart"

// Auditor records calls durably. Begin and Complete return once their
// record is committed; End hands the outcome to the writer and returns.
// One writer goroutine group-commits everything queued (see writer.go).
type Auditor struct {
	opts   Options
	log    *slog.Logger
	store  Store
	pricer *pricer
	ins    *instruments
	now    func() time.Time
	ids    idGen
	seq    atomic.Uint64

	ops     chan *op
	prunes  chan *pruneOp
	ckptOps chan *ckptOp
	syncs   chan chan error // queries ask the writer to sync lazy outcomes

	// ckpt signs checkpoints of the gateway's log (checkpoint.go); nil
	// without audit.checkpoint_key.
	ckpt *checkpointer

	mu      sync.RWMutex // guards closed and senders.Add
	closed  bool
	senders sync.WaitGroup // callers between the closed check and the queue
	quit    chan struct{}  // closed once Close has no sender left: the writer drains and exits
	done    chan struct{}  // closed when the writer has exited

	health atomic.Pointer[unhealthy] // nil while the store accepts writes

	bgCancel context.CancelFunc
	bg       sync.WaitGroup

	// spool, when set, is where records are committed; the ingester
	// copies them into the store (ingest.go). storeMu serialises the
	// store's write side between the ingester and the writer (prune).
	spool   *spool.Spool
	iq      *ingestQueue
	storeMu sync.Mutex

	// damage is what damage the Auditor found (damage.go).
	damage damageLog
}

// unhealthy is why and since when the store cannot write.
type unhealthy struct {
	err   error
	since time.Time
}

// Open opens the store of opts.Config.Store (or opts.Store), closes the
// records this gateway left open, and starts the writer and retention.
func Open(ctx context.Context, opts Options) (*Auditor, error) {
	opts.defaults()
	a := &Auditor{
		opts:    opts,
		log:     opts.Logger,
		store:   opts.Store,
		pricer:  newPricer(opts.Cost),
		now:     opts.Now,
		ops:     make(chan *op, opts.QueueSize),
		prunes:  make(chan *pruneOp),
		quit:    make(chan struct{}),
		ckptOps: make(chan *ckptOp),
		syncs:   make(chan chan error),
		done:    make(chan struct{}),
	}
	if a.store == nil {
		if opts.Stores == nil {
			return nil, fmt.Errorf("audit: no stores to open %q with (Options.Stores)", opts.Config.Store)
		}
		if a.opts.SpoolDir == "" {
			a.opts.SpoolDir = opts.Stores.SpoolDir(opts.Config.Store)
		}
		s, err := opts.Stores.Open(ctx, opts.Config.Store, StoreOptions{BusyTimeout: opts.BusyTimeout, Logger: opts.Logger,
			IntegrityTimeout: opts.IntegrityTimeout})
		if err != nil {
			if !opts.NoSpool {
				err = damagedStoreHint(err, a.opts.SpoolDir, opts.Gateway)
			}
			return nil, err
		}
		a.store = s
	}
	ins, err := newInstruments(opts.MeterProvider, a)
	if err != nil {
		_ = a.store.Close()
		return nil, fmt.Errorf("audit: metrics: %w", err)
	}
	a.ins = ins
	fail := func(err error) (*Auditor, error) {
		if a.spool != nil {
			a.spool.Close()
			a.spool.Unlock()
		}
		if ins.reg != nil {
			_ = ins.reg.Unregister()
		}
		_ = a.store.Close()
		return nil, err
	}
	if err := a.openSpool(ctx); err != nil {
		return fail(err)
	}
	if err := a.recover(ctx); err != nil {
		return fail(err)
	}
	if err := a.openCheckpointer(); err != nil {
		return fail(err)
	}
	go a.run()
	if a.spool != nil {
		go a.ingest()
	}
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.bgCancel = cancel
	if a.spool != nil && a.spool.HasHighWater() {
		a.bg.Add(1)
		go func() {
			defer a.bg.Done()
			a.syncHighWater(bgCtx)
		}()
	}
	if r := opts.Config.Retention.D(); r > 0 {
		a.bg.Add(1)
		go func() {
			defer a.bg.Done()
			a.retain(bgCtx, r)
		}()
	}
	if a.ckpt != nil {
		interval := opts.Config.CheckpointInterval.D()
		if interval <= 0 {
			interval = time.Minute
		}
		a.bg.Add(1)
		go func() {
			defer a.bg.Done()
			a.checkpoints(bgCtx, interval)
		}()
	}
	return a, nil
}

// recover continues this gateway's seq and closes the records it left
// open (their outcome never arrived: the process died mid-call).
func (a *Auditor) recover(ctx context.Context) error {
	last, err := a.store.LastSeq(ctx, a.opts.Gateway)
	if err != nil {
		return err
	}
	if a.spool != nil {
		// Seqs the spool reached and the store never got (damage) are
		// not handed out again: they stay a gap.
		last = max(last, a.spool.MaxSeq())
	}
	a.seq.Store(last)
	open, err := a.store.OpenRecords(ctx, a.opts.Gateway)
	if err != nil {
		return err
	}
	if len(open) == 0 {
		return nil
	}
	now := a.now()
	b := &Batch{}
	for i := range open {
		r := &open[i]
		r.TimeEnd = now
		if r.Error == "" {
			r.Error = ErrorGatewayRestart
		}
		a.finish(r)
		b.Outcomes = append(b.Outcomes, r)
	}
	if err := a.store.Write(ctx, b); err != nil {
		return fmt.Errorf("audit: closing %d records left open: %w", len(open), err)
	}
	a.log.Warn("audit: closed records left open by the previous run", "count", len(open),
		"gateway", a.opts.Gateway, "error", ErrorGatewayRestart)
	return nil
}

// assign gives r a fresh ID and seq, this gateway's id, and a start time
// if it has none. The host is kept exactly as given: the edge made it
// canonical (internal/canon, docs/contract.md §2.1), and a second
// normalisation here could only make the record disagree with what the
// data plane matched, dialled and counted.
func (a *Auditor) assign(r *Record) {
	now := a.now()
	if r.TimeStart.IsZero() {
		r.TimeStart = now
	}
	r.ID = a.ids.next(now)
	r.Seq = a.seq.Add(1)
	r.Gateway = a.opts.Gateway
	if r.Event == "" {
		r.Event = vocab.EventOutboundCall
	}
}

// finish computes the duration, meter, cost and currency of a record
// whose TimeEnd is set.
func (a *Auditor) finish(r *Record) {
	if !r.TimeStart.IsZero() && r.TimeEnd.After(r.TimeStart) {
		r.DurationMS = float64(r.TimeEnd.Sub(r.TimeStart)) / float64(time.Millisecond)
	} else {
		r.DurationMS = 0
	}
	a.pricer.price(r)
}

// Begin assigns r's ID, Seq and Gateway and returns once the decision part
// of r is durable (group commit: committed and fsynced with whatever else
// was queued). Call it before dialling upstream. An error means nothing
// was recorded: with on_failure=deny the caller refuses the call (503
// audit_unavailable). The ID is assigned even then, for the response.
func (a *Auditor) Begin(ctx context.Context, r *Record) error {
	a.assign(r)
	if err := a.Ready(); err != nil {
		return err
	}
	return a.insert(ctx, r)
}

// End records the outcome of a call begun with Begin: set TimeEnd (now
// if zero), Status, Error, bytes, DialedIP, TLSVersion, Reason (for
// upstream failures) before calling it. End computes DurationMS, Meter,
// Cost and Currency (into r as well) and hands the outcome to the writer
// without waiting for the disk; it is committed with the next batch.
// Outcomes of calls whose Begin failed are kept and written as whole
// records once the store recovers. A second End of the same record is
// ignored (and logged): the first outcome stands.
func (a *Auditor) End(r *Record) {
	if r.ended {
		a.log.Warn("audit: End called twice; the first outcome stands", "id", r.ID)
		return
	}
	r.ended = true
	if r.ID == "" {
		a.assign(r) // End without a successful Begin: still record the call
	}
	if r.TimeEnd.IsZero() {
		r.TimeEnd = a.now()
	}
	a.finish(r)
	o := &op{outcome: true, rec: *r}
	if err := a.enqueue(context.Background(), o); err != nil {
		a.log.Error("audit: outcome dropped", "id", r.ID, "err", err)
		a.ins.dropped.Add(context.Background(), 1)
	}
}

// Complete writes a whole record (a denial, a DNS query) in one insert
// and returns once it is durable. TimeEnd defaults to TimeStart.
func (a *Auditor) Complete(ctx context.Context, r *Record) error {
	a.assign(r)
	if r.TimeEnd.IsZero() {
		r.TimeEnd = r.TimeStart
	}
	a.finish(r)
	if err := a.Ready(); err != nil {
		return err
	}
	return a.insert(ctx, r)
}

// insert queues a copy of r and waits for its commit. Once queued, it
// waits whatever ctx says: the commit takes milliseconds, and returning
// early would leave the caller unsure whether the record exists.
func (a *Auditor) insert(ctx context.Context, r *Record) error {
	o := &op{rec: *r, done: make(chan error, 1)}
	if err := a.enqueue(ctx, o); err != nil {
		return err
	}
	if err := <-o.done; err != nil {
		return err
	}
	if a.spool == nil {
		r.row = o.rec.row // where End's outcome goes
	}
	return nil
}

// enqueue hands o to the writer, waiting while the queue is full.
func (a *Auditor) enqueue(ctx context.Context, o *op) error {
	a.mu.RLock()
	if a.closed {
		a.mu.RUnlock()
		return ErrClosed
	}
	a.senders.Add(1)
	a.mu.RUnlock()
	defer a.senders.Done()
	select {
	case a.ops <- o:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit: %w", ctx.Err())
	}
}

// OnFailureDeny reports whether audit.on_failure is deny: calls are
// refused (503 audit_unavailable) when Begin fails.
func (a *Auditor) OnFailureDeny() bool { return a.opts.Config.OnFailure != "allow" }

// Ready is nil while the store accepts writes (for /readyz). After a
// failed commit it reports the error until a write succeeds again; the
// writer retries every ProbeInterval, so recovery is automatic.
func (a *Auditor) Ready() error {
	if h := a.health.Load(); h != nil {
		return fmt.Errorf("%w since %s: %v", ErrUnavailable, h.since.UTC().Format(time.RFC3339), h.err)
	}
	return nil
}

func (a *Auditor) setHealth(err error) {
	if err == nil {
		if old := a.health.Swap(nil); old != nil {
			a.log.Info("audit: store writable again", "down_for", a.now().Sub(old.since).Round(time.Millisecond).String())
		}
		return
	}
	if old := a.health.Load(); old != nil {
		a.health.Store(&unhealthy{err: err, since: old.since})
		return
	}
	a.health.Store(&unhealthy{err: err, since: a.now()})
	mode := "deny: new calls are refused (503 audit_unavailable)"
	if !a.OnFailureDeny() {
		mode = "allow: calls continue, outcomes are kept in memory until the store recovers"
	}
	a.log.Error("audit: store cannot write; "+mode, "err", err)
}

// Reader is the store for queries: with a spool, each query first waits
// briefly for the newest records to reach the store.
func (a *Auditor) Reader() Reader {
	if a.spool == nil {
		return a.store
	}
	return syncedReader{a}
}

// Close flushes the queued records and outcomes, stops the writer and
// retention, and closes the store.
func (a *Auditor) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.mu.Unlock()
	a.bgCancel()
	go func() {
		// The writer keeps serving until retention and every caller
		// already past the closed check have handed over their rows.
		a.bg.Wait()
		a.senders.Wait()
		close(a.quit)
	}()
	select {
	case <-a.done:
	case <-ctx.Done():
		return fmt.Errorf("audit: close: %w", ctx.Err())
	}
	if a.spool != nil {
		close(a.iq.quit)
		select {
		case <-a.iq.done:
		case <-ctx.Done():
			return fmt.Errorf("audit: close: %w", ctx.Err())
		}
		a.spool.Close()
		a.spool.Unlock()
	}
	var errs []error
	// The last checkpoint, over everything written.
	if err := a.Checkpoint(ctx); err != nil {
		errs = append(errs, fmt.Errorf("audit: checkpoint at shutdown: %w", err))
	}
	if a.ins.reg != nil {
		errs = append(errs, a.ins.reg.Unregister())
	}
	errs = append(errs, a.store.Close())
	return errors.Join(errs...)
}

// Store returns the store records are written to (for queries).
func (a *Auditor) Store() Store { return a.store }

// backlog is the number of spooled records not yet in the store.
func (a *Auditor) backlog() int {
	if a.spool == nil {
		return 0
	}
	return a.iq.backlog()
}

// queueDepth is the number of rows waiting for the writer.
func (a *Auditor) queueDepth() int { return len(a.ops) }
