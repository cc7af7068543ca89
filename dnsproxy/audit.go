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
	maxFolds          = 65536
)

// foldKey identifies identical denied queries.
type foldKey struct {
	src    netip.Addr
	name   string
	qtype  uint16
	reason string
}

// fold counts the repeats of one denied query since its last record.
type fold struct {
	extra       int       // repeats not yet recorded
	first, last time.Time // of those repeats
	seen        time.Time // last query, for expiry
}

// deniedLog records denied DNS queries off the hot path. The first query
// of a (source, name, type) is queued at once; repeats within the fold
// window are counted and written as one record with Count at the end of
// the window. Records are written by a few workers (so the store's group
// commit can batch them); a full queue or a failed write is counted in
// sluice_dns_audit_dropped_total and logged, never dropped silently.
type deniedLog struct {
	rec      Recorder
	log      *slog.Logger
	metrics  *serverMetrics
	window   time.Duration
	enforced bool
	sources  *sources.Map // names the workload of a source address

	mu    sync.Mutex
	folds map[foldKey]*fold

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
		rec: rec, log: log, metrics: sm, window: window, enforced: enforced,
		folds:     make(map[foldKey]*fold),
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

// deny records one query from src for an undeclared name.
func (d *deniedLog) deny(src netip.Addr, name string, qtype uint16) {
	d.refuse(foldKey{src, name, qtype, "undeclared_destination"})
}

// badName records one query from src whose name is not a host name (the
// raw question name, as the client sent it, is recorded).
func (d *deniedLog) badName(src netip.Addr, qname string, qtype uint16) {
	d.refuse(foldKey{src, qname, qtype, "bad_request"})
}

// refuse records one refused query.
func (d *deniedLog) refuse(k foldKey) {
	now := time.Now()
	d.mu.Lock()
	if f := d.folds[k]; f != nil {
		if f.extra == 0 {
			f.first = now
		}
		f.extra++
		f.last, f.seen = now, now
		d.mu.Unlock()
		return
	}
	if len(d.folds) < maxFolds {
		d.folds[k] = &fold{seen: now}
	}
	d.mu.Unlock()
	d.enqueue(d.record(k, now, now, 1))
}

func (d *deniedLog) record(k foldKey, start, end time.Time, count int) *audit.Record {
	host := k.name
	if host == "" {
		host = "."
	}
	r := &audit.Record{
		Event: audit.EventDNSQuery, Decision: audit.DecisionDeny, Enforced: d.enforced,
		Reason: k.reason, Listener: "dns", Kind: "dns",
		Method: dns.Type(k.qtype).String(), Host: host, TimeStart: start, TimeEnd: end,
		IdentitySource: "none",
	}
	if k.src.IsValid() {
		r.SourceIP = k.src.String()
		// As on the egress listeners: a workload named by
		// identity.sources is also the caller's (weak) identity.
		if w := d.sources.Workload(k.src); w != "" {
			r.SourceWorkload, r.SourceIdentity, r.IdentitySource = w, w, "cidr"
		}
	}
	if count > 1 {
		r.Count = count
	}
	return r
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

func (d *deniedLog) flushLoop() {
	t := time.NewTicker(d.window)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			d.flush(false)
		case <-d.stopFlush:
			d.flush(true)
			return
		}
	}
}

// flush queues one record per fold with repeats, and forgets folds idle
// for a whole window (all of them when final).
func (d *deniedLog) flush(final bool) {
	now := time.Now()
	var out []*audit.Record
	d.mu.Lock()
	for k, f := range d.folds {
		if f.extra > 0 {
			out = append(out, d.record(k, f.first, f.last, f.extra))
			f.extra = 0
		}
		if final || now.Sub(f.seen) >= d.window {
			delete(d.folds, k)
		}
	}
	d.mu.Unlock()
	for _, r := range out {
		d.enqueue(r)
	}
}
