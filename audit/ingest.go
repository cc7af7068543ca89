package audit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice/audit/spool"
)

// ingestQueue holds what the spool has made durable and the store has not
// yet received. The writer goroutine appends; the ingester takes from the
// front.
type ingestQueue struct {
	mu       sync.Mutex
	pending  []spool.Item
	queued   spool.Pos     // position of the last item handed over
	ingested spool.Pos     // the store has everything up to here
	progress chan struct{} // closed (and replaced) when ingested advances
	err      error         // the last ingest failure; nil after a success

	wake  chan struct{} // cap 1: something was queued
	flush chan struct{} // cap 1: a query waits, skip the batching delay
	quit  chan struct{} // closed by Close after the writer has stopped
	done  chan struct{} // closed when the ingester has exited

	idx map[string]int // scratch for merge, ingester only
}

func newIngestQueue() *ingestQueue {
	return &ingestQueue{
		progress: make(chan struct{}),
		wake:     make(chan struct{}, 1),
		flush:    make(chan struct{}, 1),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		idx:      map[string]int{},
	}
}

// add queues items (already durable in the spool) for the store.
func (q *ingestQueue) add(items []spool.Item) {
	if len(items) == 0 {
		return
	}
	q.mu.Lock()
	q.pending = append(q.pending, items...)
	q.queued = items[len(items)-1].Pos
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// backlog is the number of records durable in the spool but not yet in
// the store.
func (q *ingestQueue) backlog() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// lastErr is the last ingest failure, or nil.
func (q *ingestQueue) lastErr() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// take returns up to n items from the front, without copying: only the
// ingester reads them or removes them (advance), and add appends past
// them (the capacity of the returned slice stops an append from reaching
// into it).
func (q *ingestQueue) take(n int) []spool.Item {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.pending))
	return q.pending[:n:n]
}

// advance drops the first n items, ingested up to pos. The items taken
// are not to be read after it.
func (q *ingestQueue) advance(n int, pos spool.Pos) {
	q.mu.Lock()
	defer q.mu.Unlock()
	rest := copy(q.pending, q.pending[n:])
	clear(q.pending[rest:])
	q.pending = q.pending[:rest]
	q.ingested = pos
	q.err = nil
	close(q.progress)
	q.progress = make(chan struct{})
}

func (q *ingestQueue) fail(err error) {
	q.mu.Lock()
	q.err = err
	q.mu.Unlock()
}

// ingest is the ingester: it copies what the spool made durable into the
// store in large transactions. It waits IngestDelay after the first item
// (or until IngestBatch items are queued, or a query asks) so that a
// call's decision and outcome usually land in one batch and become one
// row. On a store failure it keeps the items (they are safe in the spool)
// and retries every ProbeInterval.
func (a *Auditor) ingest() {
	q := a.iq
	defer close(q.done)
	removed := int64(0)
	for {
		select {
		case <-q.wake:
		case <-q.flush:
		case <-q.quit:
			a.ingestRest(&removed)
			return
		}
		delay := time.NewTimer(a.opts.IngestDelay)
	gather:
		for q.backlog() < a.opts.IngestBatch {
			select {
			case <-delay.C:
				break gather
			case <-q.flush:
				break gather
			case <-q.quit:
				break gather
			case <-q.wake:
			}
		}
		delay.Stop()
	drain:
		for q.backlog() > 0 {
			if err := a.ingestOnce(&removed); err != nil {
				select {
				case <-time.After(a.opts.ProbeInterval):
				case <-q.quit:
				}
				break drain
			}
		}
		if q.backlog() > 0 {
			// Retry without waiting for new records.
			select {
			case q.wake <- struct{}{}:
			default:
			}
		}
	}
}

// ingestRest writes everything still queued at Close; what cannot be
// written stays in the spool for the next start.
func (a *Auditor) ingestRest(removed *int64) {
	for a.iq.backlog() > 0 {
		if err := a.ingestOnce(removed); err != nil {
			a.log.Error("audit: records stay in the spool until the next start (the store cannot take them now)",
				"count", a.iq.backlog(), "spool", a.spool.Dir(), "err", err)
			return
		}
	}
}

// ingestOnce writes one batch from the front of the queue.
func (a *Auditor) ingestOnce(removed *int64) error {
	q := a.iq
	items := q.take(a.opts.IngestBatch)
	if len(items) == 0 {
		return nil
	}
	ctx := context.Background()
	if err := a.writeIngest(ctx, items); err != nil {
		if q.lastErr() == nil {
			a.log.Error("audit: cannot write spooled records to the store; they are safe in the spool and retried",
				"err", err, "backlog", q.backlog())
		}
		q.fail(err)
		a.ins.writeErrors.Add(ctx, 1)
		return err
	}
	if q.lastErr() != nil {
		a.log.Info("audit: store takes spooled records again", "backlog", q.backlog()-len(items))
	}
	pos := items[len(items)-1].Pos
	q.advance(len(items), pos)
	a.ins.ingested.Add(ctx, int64(len(items)))
	if pos.Seg > *removed {
		a.spool.RemoveBefore(pos.Seg)
		*removed = pos.Seg
	}
	return nil
}

// writeIngest merges items into one batch and writes it with the spool
// position it reaches. A call whose decision and outcome are both in
// items becomes one whole record: no open row, no later update.
func (a *Auditor) writeIngest(ctx context.Context, items []spool.Item) error {
	idx := a.iq.idx
	clear(idx)
	b := &Batch{Inserts: make([]*Record, 0, len(items))}
	var maxSeq uint64
	for i := range items {
		r := recordOf(&items[i])
		maxSeq = max(maxSeq, r.Seq)
		switch items[i].Kind {
		case spool.KindRecord:
			idx[r.ID] = len(b.Inserts)
			b.Inserts = append(b.Inserts, r)
		case spool.KindOutcome:
			if j, ok := idx[r.ID]; ok && b.Inserts[j].TimeEnd.IsZero() {
				b.Inserts[j] = r
			} else {
				b.Outcomes = append(b.Outcomes, r)
			}
		}
	}
	b.Cursor = &SpoolCursor{Gateway: a.opts.Gateway, Pos: items[len(items)-1].Pos}
	a.storeMu.Lock()
	defer a.storeMu.Unlock()
	start := time.Now()
	err := a.store.Write(ctx, b)
	a.ins.ingestTime.Record(ctx, time.Since(start).Seconds())
	if err == nil {
		a.noteStored(maxSeq)
	}
	return err
}

// Sync waits until every record committed before the call has reached the
// store, so a query sees it (the admin API calls it before each query).
// Without a spool it returns at once.
func (a *Auditor) Sync(ctx context.Context) error {
	if a.spool == nil {
		return nil
	}
	// Outcomes written lazily are synced and queued first, so the query
	// sees every call that ended before it started.
	done := make(chan error, 1)
	select {
	case a.syncs <- done:
		select {
		case <-done:
		case <-ctx.Done():
		}
	case <-a.done:
	case <-ctx.Done():
	}
	q := a.iq
	q.mu.Lock()
	target := q.queued
	q.mu.Unlock()
	select {
	case q.flush <- struct{}{}:
	default:
	}
	for {
		q.mu.Lock()
		done, ch, err := !q.ingested.Before(target), q.progress, q.err
		q.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("audit: records not yet in the store: %w", err)
			}
			return fmt.Errorf("audit: sync: %w", ctx.Err())
		}
	}
}

// syncedReader is the Auditor's store as the admin API queries it: each
// query first waits (briefly) for the spool to reach the store.
type syncedReader struct{ a *Auditor }

// syncWait bounds how long a query waits for the spool; past it the query
// answers from what the store has.
const syncWait = 2 * time.Second

func (r syncedReader) sync(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, syncWait)
	defer cancel()
	if err := r.a.Sync(ctx); err != nil {
		r.a.log.Warn("audit: query answered without the newest records", "err", err)
	}
}

func (r syncedReader) Query(ctx context.Context, f Filter, fn func(*Record) error) error {
	r.sync(ctx)
	return r.a.store.Query(ctx, f, fn)
}

func (r syncedReader) Cost(ctx context.Context, q CostQuery) ([]CostRow, error) {
	r.sync(ctx)
	return r.a.store.Cost(ctx, q)
}

func (r syncedReader) Close() error { return nil }
