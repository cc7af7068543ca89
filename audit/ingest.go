package audit

import (
	"context"
	"fmt"
	"math"
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
	arrived  []int64       // when each pending item was queued (Unix ns)
	queued   spool.Pos     // position of the last item handed over
	ingested spool.Pos     // the store has everything up to here
	progress chan struct{} // closed (and replaced) when ingested advances
	err      error         // the last ingest failure; nil after a success

	wake  chan struct{} // cap 1: something was queued
	flush chan struct{} // cap 1: a query waits, skip the batching delay
	quit  chan struct{} // closed by Close after the writer has stopped
	done  chan struct{} // closed when the ingester has exited

	now   func() time.Time // the Auditor's clock (Options.Now), for arrived
	idx   map[string]int   // scratch for merge, ingester only
	ended map[string]int   // scratch for settled, ingester only
}

func newIngestQueue(now func() time.Time) *ingestQueue {
	return &ingestQueue{
		now:      now,
		progress: make(chan struct{}),
		wake:     make(chan struct{}, 1),
		flush:    make(chan struct{}, 1),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		idx:      map[string]int{},
		ended:    map[string]int{},
	}
}

// add queues items (already durable in the spool) for the store.
func (q *ingestQueue) add(items []spool.Item) {
	if len(items) == 0 {
		return
	}
	now := q.now().UnixNano()
	q.mu.Lock()
	q.pending = append(q.pending, items...)
	for range items {
		q.arrived = append(q.arrived, now)
	}
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

// take returns up to n items from the front, and when each was queued,
// without copying: only the ingester reads them or removes them
// (advance), and add appends past them (the capacity of the returned
// slices stops an append from reaching into them).
func (q *ingestQueue) take(n int) ([]spool.Item, []int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.pending))
	return q.pending[:n:n], q.arrived[:n:n]
}

// advance drops the first n items, ingested up to pos. The items taken
// are not to be read after it.
func (q *ingestQueue) advance(n int, pos spool.Pos) {
	q.mu.Lock()
	defer q.mu.Unlock()
	rest := copy(q.pending, q.pending[n:])
	clear(q.pending[rest:])
	q.pending = q.pending[:rest]
	copy(q.arrived, q.arrived[n:])
	q.arrived = q.arrived[:rest]
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
// row; an open call queued less than IngestDelay before the round whose
// outcome has not come yet waits for the next round, with everything
// queued after it (see settled). A cut anywhere in a steady stream still
// splits the calls in flight across it (about one per concurrent caller
// per round): measured on the bench loads, 1.4 % of HTTP calls became an
// open row and a later outcome row (16 % without the wait) and 19 % of
// tunnels (40 %). On a store failure it keeps the items (they are safe in the
// spool) and retries every ProbeInterval.
func (a *Auditor) ingest() {
	q := a.iq
	defer close(q.done)
	removed := int64(0)
	stalled := false // the last round held items back
	for {
		force := false // a query or Close waits: take everything
		select {
		case <-q.wake:
		case <-q.flush:
			force = true
		case <-q.quit:
			a.ingestRest(&removed)
			return
		}
		if !force {
			force = a.gather(stalled)
		}
		stalled = false
		// One cut per round: what is held back waits for the next, not
		// for the next batch of this drain (which would take each call as
		// it crosses the line, open, in many small transactions).
		since := int64(math.MaxInt64)
		if !force {
			since = a.now().Add(-a.opts.IngestDelay).UnixNano()
		}
	drain:
		for q.backlog() > 0 {
			held, err := a.ingestOnce(&removed, since)
			switch {
			case err != nil:
				select {
				case <-time.After(a.opts.ProbeInterval):
				case <-q.quit:
				}
				break drain
			case held:
				stalled = true
				break drain
			}
		}
		if q.backlog() > 0 {
			// Retry, or take what was held back, in the next round.
			select {
			case q.wake <- struct{}{}:
			default:
			}
		}
	}
}

// gather waits IngestDelay, or less if IngestBatch items are queued
// (unless stalled: the last round held items back, which must wait
// their round however many are queued). It reports whether a query or
// Close cut the wait short.
func (a *Auditor) gather(stalled bool) (force bool) {
	q := a.iq
	delay := time.NewTimer(a.opts.IngestDelay)
	defer delay.Stop()
	for stalled || q.backlog() < a.opts.IngestBatch {
		select {
		case <-delay.C:
			return false
		case <-q.flush:
			return true
		case <-q.quit:
			return true
		case <-q.wake:
		}
	}
	return false
}

// ingestRest writes everything still queued at Close; what cannot be
// written stays in the spool for the next start.
func (a *Auditor) ingestRest(removed *int64) {
	for a.iq.backlog() > 0 {
		if _, err := a.ingestOnce(removed, math.MaxInt64); err != nil {
			a.log.Error("audit: records stay in the spool until the next start (the store cannot take them now)",
				"count", a.iq.backlog(), "spool", a.spool.Dir(), "err", err)
			return
		}
	}
}

// ingestOnce writes one batch from the front of the queue: up to
// IngestBatch items, those settled with respect to since (Unix ns; see
// settled). It reports whether it held items back.
func (a *Auditor) ingestOnce(removed *int64, since int64) (held bool, err error) {
	q := a.iq
	items, arrived := q.take(a.opts.IngestBatch)
	n := q.settled(items, arrived, since)
	held, items = n < len(items), items[:n]
	if len(items) == 0 {
		return held, nil
	}
	ctx := context.Background()
	if err := a.writeIngest(ctx, items); err != nil {
		if q.lastErr() == nil {
			a.log.Error("audit: cannot write spooled records to the store; they are safe in the spool and retried",
				"err", err, "backlog", q.backlog())
		}
		q.fail(err)
		a.ins.writeErrors.Add(ctx, 1)
		return false, err
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
	return held, nil
}

// settled returns how many items, from the front, go to the store now:
// the longest prefix in which every open call queued after since
// (arrived: when each item was queued, Unix ns) has its outcome too. Such
// a call without its outcome waits one round with everything after it
// (the store's spool cursor only moves forward), and so does one whose
// outcome lies past such a call: then decision and outcome usually
// become one finished row instead of an open row and an outcome row
// closing it later, which cost about twice as much to write (#18: 40 % of
// the bench's tunnels and 16 % of its HTTP calls were split that way).
// A call queued before since goes as it is, open or not: were it held
// until its outcome, one long call would hold back everything.
func (q *ingestQueue) settled(items []spool.Item, arrived []int64, since int64) int {
	outcomeAt := q.ended
	clear(outcomeAt)
	for i := range items {
		if items[i].Kind == spool.KindOutcome {
			outcomeAt[recordOf(&items[i]).ID] = i
		}
	}
	best, reach := 0, 0 // reach: the prefix must end past every outcome a call in it needs
	for i := 0; i <= len(items); i++ {
		if reach <= i {
			best = i
		}
		if i == len(items) {
			break
		}
		if arrived[i] <= since || items[i].Kind != spool.KindRecord || !recordOf(&items[i]).TimeEnd.IsZero() {
			continue
		}
		j, ok := outcomeAt[recordOf(&items[i]).ID]
		if !ok {
			break
		}
		reach = max(reach, j+1)
	}
	return best
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
