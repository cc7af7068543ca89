package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/audit/spool"
)

// op is one row for the writer: a new record (done is the waiting
// caller) or the outcome of an existing one.
type op struct {
	outcome bool
	rec     Record
	done    chan error
}

// pruneOp asks the writer to delete old records.
type pruneOp struct {
	before time.Time
	limit  int
	result chan pruneResult
}

type pruneResult struct {
	n   int
	err error
}

// writerState is owned by the writer goroutine.
type writerState struct {
	batch   Batch
	waiters []*op
	// retry holds outcomes that could not be committed; they go with the
	// next successful commit.
	retry []*Record
	// lastOK is when the store last committed.
	lastOK time.Time
	// commits and rows count successful commits and their rows.
	commits, rows int64
	// lastWaiters is how many callers the previous commit answered, and
	// syncStart when the previous durable commit (one with an fdatasync)
	// started.
	lastWaiters int
	syncStart   time.Time
	// lazy holds outcomes written to the spool without a sync (persist),
	// handed to the ingester once synced; lazyC fires lazySyncDelay after
	// the first of them.
	lazy      []spool.Item
	lazyTimer *time.Timer
	lazyC     <-chan time.Time
}

// lazySyncDelay bounds how long an outcome stays written but not synced:
// a power loss (not a crash: the kernel has it) in that window loses the
// outcome, never the decision record, which the next start closes as
// gateway_restart. A call's End then costs a write, not an fdatasync.
const lazySyncDelay = 50 * time.Millisecond

// run is the writer: the only goroutine that writes to the store. It takes
// everything queued (up to MaxBatch rows), commits it in one transaction
// and then wakes the callers waiting in Begin/Complete. While it commits,
// new callers queue up and go in the next batch: one fsync serves many
// calls under load, and a lone call pays one fsync.
func (a *Auditor) run() {
	defer close(a.done)
	ws := &writerState{lastOK: a.now()}
	tick := time.NewTicker(a.opts.ProbeInterval)
	defer tick.Stop()
	for {
		select {
		case o := <-a.ops:
			a.collect(ws, o)
			a.commit(ws)
		case p := <-a.prunes:
			p.result <- a.prune(ws, p)
		case <-ws.lazyC:
			a.syncLazy(ws)
		case done := <-a.syncs:
			done <- a.syncLazy(ws)
		case c := <-a.ckptOps:
			c.result <- a.ckpt.ls.AddCheckpoint(context.Background(), a.opts.Gateway, c.size, c.note)
		case <-tick.C:
			a.probe(ws)
		case <-a.quit:
			// Close set a.closed before closing quit, so nothing more is
			// queued: drain what is there, then stop.
			for {
				select {
				case o := <-a.ops:
					a.collect(ws, o)
					a.commit(ws)
					continue
				default:
				}
				break
			}
			a.syncLazy(ws)
			if len(ws.retry) > 0 {
				if a.health.Load() != nil {
					a.check(ws)
				} else {
					a.flushRetry(ws)
				}
			}
			if n := len(ws.retry); n > 0 {
				a.log.Error("audit: outcomes lost at shutdown: the store could not write them", "count", n)
				a.ins.dropped.Add(context.Background(), int64(n))
			}
			a.log.Debug("audit: writer stopped", "commits", ws.commits, "rows", ws.rows)
			return
		}
	}
}

// collect starts a batch with first and adds whatever else is queued.
func (a *Auditor) collect(ws *writerState, first *op) {
	ws.batch.Inserts = ws.batch.Inserts[:0]
	ws.batch.Outcomes = ws.batch.Outcomes[:0]
	ws.waiters = ws.waiters[:0]
	add := func(o *op) {
		if o.outcome {
			ws.batch.Outcomes = append(ws.batch.Outcomes, &o.rec)
		} else {
			ws.batch.Inserts = append(ws.batch.Inserts, &o.rec)
			ws.waiters = append(ws.waiters, o)
		}
	}
	add(first)
drain:
	for ws.batch.Len() < a.opts.MaxBatch {
		select {
		case o := <-a.ops:
			add(o)
		default:
			break drain
		}
	}
	// Under load (the previous commit served several callers), the next
	// sync starts no sooner than CommitWindow after the previous one
	// started: fewer, larger commits leave more CPU for the calls (see
	// Options.CommitWindow). The sync's own duration counts towards the
	// window, so a caller waits at most the window's remainder; a lone
	// caller never waits.
	if a.opts.CommitWindow <= 0 || ws.lastWaiters < 2 || ws.batch.Len() >= a.opts.MaxBatch {
		return
	}
	wait := time.Until(ws.syncStart.Add(a.opts.CommitWindow))
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for ws.batch.Len() < a.opts.MaxBatch {
		select {
		case o := <-a.ops:
			add(o)
		case <-t.C:
			return
		case <-a.quit: // Close: commit now, then drain
			return
		}
	}
}

// commit writes the current batch, then answers the waiters.
func (a *Auditor) commit(ws *writerState) {
	ctx := context.Background()
	if a.health.Load() != nil {
		// Fail fast while the store is down; the probe retries it.
		err := a.Ready()
		a.keep(ws, ws.batch.Outcomes)
		a.answer(ws, err)
		return
	}
	if ws.batch.Len() == 0 {
		return
	}
	start := time.Now()
	// A batch of outcomes only has nobody waiting: written, synced later.
	lazy := len(ws.batch.Inserts) == 0
	if !lazy {
		ws.syncStart = start
	}
	err := a.persist(ctx, ws, &ws.batch, lazy)
	a.ins.commitTime.Record(ctx, time.Since(start).Seconds())
	if err != nil {
		a.ins.writeErrors.Add(ctx, 1)
		a.setHealth(err)
		a.keep(ws, ws.batch.Outcomes)
		a.answer(ws, fmt.Errorf("%w: %v", ErrUnavailable, err))
		// Try to recover at once (a removed file is simply recreated).
		a.check(ws)
		return
	}
	a.ins.batchSize.Record(ctx, int64(ws.batch.Len()))
	ws.commits++
	ws.rows += int64(ws.batch.Len())
	ws.lastOK = a.now()
	if !lazy {
		// An outcome-only commit answers nobody by nature: it says
		// nothing of the load.
		ws.lastWaiters = len(ws.waiters)
	}
	a.answer(ws, nil)
	if len(ws.retry) > 0 {
		a.flushRetry(ws)
	}
}

// persist makes b durable: in the spool (and queued for the store) when
// there is one, else in the store. lazy (outcomes only) writes to the
// spool without a sync; syncLazy or the next durable append syncs them.
func (a *Auditor) persist(ctx context.Context, ws *writerState, b *Batch, lazy bool) error {
	if a.spool == nil {
		return a.store.Write(ctx, b)
	}
	if err := a.backlogFull(); err != nil {
		return err
	}
	items := make([]spool.Item, 0, b.Len())
	for _, r := range b.Inserts {
		items = append(items, spool.Item{Kind: spool.KindRecord, Seq: r.Seq, Payload: spooled{r}})
	}
	for _, r := range b.Outcomes {
		items = append(items, spool.Item{Kind: spool.KindOutcome, Seq: r.Seq, Payload: spooled{r}})
	}
	if lazy {
		if err := a.spool.AppendLazy(items); err != nil {
			return err
		}
		ws.lazy = append(ws.lazy, items...)
		if ws.lazyC == nil {
			ws.lazyTimer = time.NewTimer(a.opts.lazySync)
			ws.lazyC = ws.lazyTimer.C
		}
		return nil
	}
	if err := a.spool.Append(items); err != nil {
		return err
	}
	a.handOver(ws) // the sync covered the lazy ones too
	a.iq.add(items)
	return nil
}

// syncLazy syncs the outcomes written lazily and hands them to the
// ingester.
func (a *Auditor) syncLazy(ws *writerState) error {
	if len(ws.lazy) == 0 {
		return nil
	}
	err := a.spool.Sync()
	if err != nil {
		a.log.Error("audit: syncing the spool", "err", err)
	}
	a.handOver(ws)
	return err
}

// handOver queues the synced lazy outcomes for the store, in spool order.
func (a *Auditor) handOver(ws *writerState) {
	if ws.lazyTimer != nil {
		ws.lazyTimer.Stop()
		ws.lazyTimer, ws.lazyC = nil, nil
	}
	if len(ws.lazy) == 0 {
		return
	}
	a.iq.add(ws.lazy)
	clear(ws.lazy)
	ws.lazy = ws.lazy[:0]
}

// persistCheck reports whether persist can commit now.
func (a *Auditor) persistCheck(ctx context.Context) error {
	if a.spool == nil {
		return a.store.Check(ctx)
	}
	if err := a.backlogFull(); err != nil {
		return err
	}
	return a.spool.Check()
}

// backlogFull applies when MaxBacklog spooled records wait for the store.
// While the store writes, only slower than calls arrive, the writer
// waits for the ingester (back-pressure: Begin takes longer, nothing is
// refused). While the store fails, it is an error: calls are refused
// (on_failure) instead of piling up in memory.
func (a *Auditor) backlogFull() error {
	for {
		n := a.iq.backlog()
		if n < a.opts.MaxBacklog {
			return nil
		}
		if err := a.iq.lastErr(); err != nil {
			return fmt.Errorf("%d spooled records are waiting for the store, which fails: %w", n, err)
		}
		a.iq.mu.Lock()
		progress := a.iq.progress
		a.iq.mu.Unlock()
		select {
		case <-progress:
		case <-a.iq.done:
			return fmt.Errorf("%d spooled records are waiting for the store", n)
		case <-time.After(a.opts.ProbeInterval):
		}
	}
}

// answer wakes the callers waiting for the batch's inserts.
func (a *Auditor) answer(ws *writerState, err error) {
	for _, o := range ws.waiters {
		o.done <- err
	}
	ws.waiters = ws.waiters[:0]
}

// keep holds outcomes for the next commit, up to RetryLimit. The slice
// is copied: the batch's backing array is reused.
func (a *Auditor) keep(ws *writerState, outs []*Record) {
	room := a.opts.RetryLimit - len(ws.retry)
	if room < len(outs) {
		dropped := len(outs) - max(room, 0)
		a.log.Error("audit: outcome retry buffer full; outcomes dropped", "count", dropped)
		a.ins.dropped.Add(context.Background(), int64(dropped))
		outs = outs[:max(room, 0)]
	}
	ws.retry = append(ws.retry, outs...)
}

// check probes the store; on success it marks it healthy and writes the
// outcomes kept meanwhile.
func (a *Auditor) check(ws *writerState) bool {
	if err := a.persistCheck(context.Background()); err != nil {
		a.ins.writeErrors.Add(context.Background(), 1)
		a.setHealth(err)
		return false
	}
	ws.lastOK = a.now()
	a.setHealth(nil)
	a.flushRetry(ws)
	return true
}

// flushRetry writes the outcomes kept while the store was down. If that
// fails although the store passes its probe, one of them is bad (nothing
// in practice, but it must not keep the store "down" forever): they are
// then written one at a time, and any that fails alone is logged in full
// and dropped.
func (a *Auditor) flushRetry(ws *writerState) {
	if len(ws.retry) == 0 {
		return
	}
	ctx := context.Background()
	if err := a.persist(ctx, ws, &Batch{Outcomes: ws.retry}, false); err == nil {
		a.ins.batchSize.Record(ctx, int64(len(ws.retry)))
		ws.retry = ws.retry[:0]
		return
	}
	a.ins.writeErrors.Add(ctx, 1)
	if err := a.persistCheck(ctx); err != nil {
		a.ins.writeErrors.Add(ctx, 1)
		a.setHealth(err)
		return
	}
	for i, r := range ws.retry {
		err := a.persist(ctx, ws, &Batch{Outcomes: []*Record{r}}, false)
		if err == nil {
			continue
		}
		a.ins.writeErrors.Add(ctx, 1)
		if cerr := a.persistCheck(ctx); cerr != nil {
			a.ins.writeErrors.Add(ctx, 1)
			a.setHealth(cerr)
			ws.retry = append(ws.retry[:0], ws.retry[i:]...)
			return
		}
		a.log.Error("audit: record cannot be written; dropped", "err", err, "record", *r)
		a.ins.dropped.Add(ctx, 1)
	}
	ws.retry = ws.retry[:0]
}

// probe runs every ProbeInterval: a failing store is retried; a healthy
// one that has been idle for an interval is checked (a removed file or a
// full disk shows on /readyz without waiting for the next call).
func (a *Auditor) probe(ws *writerState) {
	switch {
	case a.health.Load() != nil, a.now().Sub(ws.lastOK) >= a.opts.ProbeInterval:
		a.check(ws)
	case len(ws.retry) > 0:
		a.flushRetry(ws)
	}
}

// prune deletes one batch of old records.
func (a *Auditor) prune(ws *writerState, p *pruneOp) pruneResult {
	if err := a.Ready(); err != nil {
		return pruneResult{err: err}
	}
	a.storeMu.Lock()
	n, err := a.store.Prune(context.Background(), p.before, p.limit)
	a.storeMu.Unlock()
	if err != nil {
		a.ins.writeErrors.Add(context.Background(), 1)
		a.setHealth(err)
		a.check(ws)
		return pruneResult{n: n, err: err}
	}
	ws.lastOK = a.now()
	if n > 0 {
		a.ins.pruned.Add(context.Background(), int64(n))
	}
	return pruneResult{n: n}
}

// retain prunes records older than retention every RetentionInterval,
// starting at once, in batches of PruneBatch rows: each batch is its own
// short transaction on the writer, between batches of records.
func (a *Auditor) retain(ctx context.Context, retention time.Duration) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		before := a.now().Add(-retention)
		total := 0
		for {
			p := &pruneOp{before: before, limit: a.opts.PruneBatch, result: make(chan pruneResult, 1)}
			select {
			case a.prunes <- p:
			case <-ctx.Done():
				return
			}
			res := <-p.result
			total += res.n
			if res.err != nil {
				if !errors.Is(res.err, ErrUnavailable) {
					a.log.Error("audit: retention", "err", res.err)
				}
				break
			}
			if res.n < a.opts.PruneBatch {
				break
			}
		}
		if total > 0 {
			a.log.Info("audit: retention pruned old records", "count", total, "before", before.UTC().Format(time.RFC3339))
		}
		t.Reset(a.opts.RetentionInterval)
	}
}
