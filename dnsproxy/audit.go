package dnsproxy

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/sources"
	"github.com/sluicehq/sluice/internal/vocab"
)

// Recorder writes whole audit records; *audit.Auditor implements it.
type Recorder interface {
	Complete(ctx context.Context, r *audit.Record) error
}

// Defaults of the denied-query recorder.
const (
	DefaultFoldWindow = 10 * time.Second
	auditQueueLen     = 4096
	auditWorkers      = 4
	auditWriteTimeout = 10 * time.Second
)

// deniedLog records refused DNS queries off the hot path. Which queries
// get a record of their own and which are folded into counted records is
// the folder's rule (fold.go); the first query of a (source, name, type)
// is queued at once, the counted records when their window ends. Records
// are written by a few workers (so the store's group commit can batch
// them); a full queue or a failed write is counted in
// sluice_dns_audit_dropped_total and logged, never dropped silently.
type deniedLog struct {
	rec      Recorder
	log      *slog.Logger
	metrics  *serverMetrics
	window   time.Duration
	enforced bool
	sources  *sources.Map     // names the workload of a source address
	now      func() time.Time // the clock (tests set it before start)
	folds    *folder

	queue     chan *audit.Record
	stopFlush chan struct{}
	flushDone sync.WaitGroup
	stop      chan struct{}
	done      sync.WaitGroup
	started   bool

	lossMu   sync.Mutex
	lastLoss time.Time
	lost     int
}

func newDeniedLog(rec Recorder, enforced bool, window time.Duration, log *slog.Logger, sm *serverMetrics) *deniedLog {
	if window <= 0 {
		window = DefaultFoldWindow
	}
	return &deniedLog{
		rec: rec, log: log, metrics: sm, window: window, enforced: enforced, now: time.Now,
		folds:     newFolder(window),
		queue:     make(chan *audit.Record, auditQueueLen),
		stopFlush: make(chan struct{}),
		stop:      make(chan struct{}),
	}
}

// start runs the writers and the fold flusher.
func (d *deniedLog) start() {
	d.started = true
	for range auditWorkers {
		d.done.Go(d.write)
	}
	d.flushDone.Go(d.flushLoop)
}

// close flushes the folded repeats, writes what is queued and stops the
// workers, or gives up when ctx ends (the unwritten records are counted).
func (d *deniedLog) close(ctx context.Context) error {
	if !d.started {
		return nil
	}
	ch := make(chan struct{})
	go func() {
		close(d.stopFlush) // the flusher queues the last folded repeats and returns,
		d.flushDone.Wait()
		close(d.stop) // then the writers drain the queue and return
		d.done.Wait()
		close(ch)
	}()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		d.loss(len(d.queue), "shutdown deadline")
		return ctx.Err()
	}
}

// deny records one query from src for an undeclared name (canonical).
func (d *deniedLog) deny(src netip.Addr, name string, qtype uint16) {
	d.refuse(foldKey{src, name, qtype, reasonUndeclared}, nil)
}

// badName records one query from src whose name is not a host name: the
// raw question name, as the client sent it, is recorded, and why canon
// refused it.
func (d *deniedLog) badName(src netip.Addr, qname string, qtype uint16, why error) {
	d.refuse(foldKey{src, qname, qtype, reasonBadName}, why)
}

// refuse records one refused query: its own record now, or a count in a
// record written when the window ends.
func (d *deniedLog) refuse(k foldKey, why error) {
	first, ok, due := d.folds.add(k, why, d.now())
	if ok {
		d.enqueue(d.record(first))
	}
	d.queueAll(due)
}

// record is the audit record of a denial.
func (d *deniedLog) record(x denial) *audit.Record {
	method := "*"
	if !x.anyType {
		method = dns.Type(x.qtype).String()
	}
	r := &audit.Record{
		// A bad name is refused in report mode too: only undeclared
		// names are let through there.
		Event: vocab.EventDNSQuery, Decision: vocab.DecisionDeny, Enforced: d.enforced || x.reason == reasonBadName,
		Reason: x.reason.String(), Listener: vocab.ListenerDNS, Kind: vocab.KindDNS,
		Method: method, Host: x.host, TimeStart: x.first, TimeEnd: x.last,
		IdentitySource: vocab.IdentityNone, Error: x.detail,
	}
	if x.why != nil {
		r.Error = x.why.Error()
	}
	if x.src.IsValid() {
		r.SourceIP = x.src.String()
		// As on the egress listeners: a workload named by
		// identity.sources is also the caller's (weak) identity.
		if w := d.sources.Workload(x.src); w != "" {
			r.SourceWorkload, r.SourceIdentity, r.IdentitySource = w, w, vocab.IdentityCIDR
		}
	}
	if x.count > 1 {
		r.Count = x.count
	}
	return r
}

// queueAll queues the records of an ended window and says, once per
// window, when a flood was folded beyond the per-source and per-window
// limits.
func (d *deniedLog) queueAll(due []denial) {
	folded, queries := 0, 0
	for _, x := range due {
		d.enqueue(d.record(x))
		if x.host == "*" {
			folded++
			queries += x.count
		}
	}
	if folded > 0 {
		d.log.Warn("dns: refused queries beyond the record limits were folded into counted records (host \"*\")",
			"records", folded, "queries", queries, "per_source", foldPerSource, "per_window", foldWindowBudget)
	}
}

func (d *deniedLog) enqueue(r *audit.Record) {
	if d.rec == nil {
		d.metrics.auditDropped.Add(context.Background(), 1, d.metrics.dropNone)
		return
	}
	select {
	case d.queue <- r:
	default:
		d.metrics.auditDropped.Add(context.Background(), 1, d.metrics.dropFull)
		d.loss(1, "queue full")
	}
}

// loss logs lost records, at most once per fold window.
func (d *deniedLog) loss(n int, why string) {
	d.lossMu.Lock()
	d.lost += n
	now := time.Now()
	if now.Sub(d.lastLoss) < d.window {
		d.lossMu.Unlock()
		return
	}
	lost := d.lost
	d.lost, d.lastLoss = 0, now
	d.lossMu.Unlock()
	d.log.Error("dns: audit records of denied queries lost", "records", lost, "why", why)
}

func (d *deniedLog) write() {
	for {
		select {
		case r := <-d.queue:
			d.writeOne(r)
		case <-d.stop:
			for {
				select {
				case r := <-d.queue:
					d.writeOne(r)
				default:
					return
				}
			}
		}
	}
}

func (d *deniedLog) writeOne(r *audit.Record) {
	ctx, cancel := context.WithTimeout(context.Background(), auditWriteTimeout)
	defer cancel()
	if err := d.rec.Complete(ctx, r); err != nil {
		d.metrics.auditDropped.Add(ctx, 1, d.metrics.dropWrite)
		d.log.Error("dns: writing the audit record of a denied query failed", "host", r.Host, "source_ip", r.SourceIP, "err", err)
	}
}

// flushLoop writes the records of each window when it ends (windows are
// aligned to the wall clock; see folder), and everything at close.
func (d *deniedLog) flushLoop() {
	untilNext := func() time.Duration {
		w := int64(d.window)
		return time.Duration(w-time.Now().UnixNano()%w) + time.Millisecond
	}
	t := time.NewTimer(untilNext())
	defer t.Stop()
	for {
		select {
		case <-t.C:
			d.flush(false)
			t.Reset(untilNext())
		case <-d.stopFlush:
			d.flush(true)
			return
		}
	}
}

// flush queues the records of the windows that have ended (all of them
// when final).
func (d *deniedLog) flush(final bool) {
	d.queueAll(d.folds.flush(d.now(), final))
}
