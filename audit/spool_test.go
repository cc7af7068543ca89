package audit_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/spool"
	"github.com/sluicehq/sluice/audit/storetest"
	"github.com/sluicehq/sluice/internal/config"
)

// openSpooled opens an audit.Auditor with the spool on the SQLite store at
// path (as `sluice serve` does).
func openSpooled(t *testing.T, path string, mod func(*audit.Options)) *audit.Auditor {
	t.Helper()
	opts := audit.Options{
		Stores:        testStores,
		Config:        testAuditConfig(path),
		Gateway:       "gw-1",
		Logger:        quiet,
		ProbeInterval: 20 * time.Millisecond,
	}
	if mod != nil {
		mod(&opts)
	}
	a, err := audit.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if audit.SpoolOf(a) == nil {
		t.Fatal("no spool")
	}
	return a
}

// parked makes an audit.Auditor that a test will crash idle between calls:
// its ingester waits an hour (nothing reaches the store unless a query
// asks), and it neither probes nor syncs its high-water mark, so after
// crash it touches no file, as a killed process would not.
func parked(o *audit.Options) {
	o.IngestDelay, o.ProbeInterval, o.HighWaterSync = time.Hour, time.Hour, time.Hour
}

// crash leaves a (opened with parked) without Close, as kill -9 would,
// and releases the spool lock as the kernel would.
func crash(a *audit.Auditor) {
	if audit.ProbeIntervalOf(a) != time.Hour {
		panic("crash: open the audit.Auditor with parked")
	}
	audit.SpoolOf(a).Unlock()
}

func countRecords(t *testing.T, path string) (all, open int) {
	t.Helper()
	r, err := testStores.OpenReader(context.Background(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = r.Query(context.Background(), audit.Filter{}, func(rec *audit.Record) error {
		all++
		if rec.TimeEnd.IsZero() {
			open++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return all, open
}

// Records acknowledged but not yet ingested survive a crash: the next
// audit.Open replays them, exactly once, and closes the calls left open.
func TestSpoolReplayAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	ctx := context.Background()
	// A first run whose records reach the store, so the cursor is not at
	// the start: the replay must not insert them again.
	a := openSpooled(t, path, nil)
	for i := range 5 {
		r := storetest.Sample(i)
		if err := a.Begin(ctx, r); err != nil {
			t.Fatal(err)
		}
		r.Status = 200
		a.End(r)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The second run never ingests (IngestDelay of an hour, and no query
	// asks): everything it acknowledges is only in the spool.
	a = openSpooled(t, path, parked)
	var ids []string
	for i := range 10 {
		r := storetest.Sample(i)
		if err := a.Begin(ctx, r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
		if i%2 == 0 {
			r.Status = 200
			a.End(r)
		}
	}
	// End hands the outcome over asynchronously: wait until the spool
	// has all of them before the "crash".
	storetest.Eventually(t, "outcomes spooled", func() bool { return audit.Backlog(a) == 15 })
	crash(a)
	if all, _ := countRecords(t, path); all != 5 {
		t.Fatalf("before restart the store has %d records, want the first run's 5", all)
	}

	a = openSpooled(t, path, nil)
	defer a.Close(ctx)
	all, open := countRecords(t, path)
	if all != 15 || open != 0 {
		t.Fatalf("after restart: %d records (%d open), want 15 (0 open)", all, open)
	}
	r, err := testStores.OpenReader(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i, id := range ids {
		recs, err := audit.QueryAll(ctx, r, audit.Filter{ID: id})
		if err != nil || len(recs) != 1 {
			t.Fatalf("%s: %v %v", id, recs, err)
		}
		wantErr := audit.ErrorGatewayRestart
		if i%2 == 0 {
			wantErr = ""
		}
		if recs[0].Error != wantErr {
			t.Errorf("record %d: error %q, want %q", i, recs[0].Error, wantErr)
		}
	}
	segs, _ := audit.SpoolOf(a).Segments()
	if len(segs) > 1 {
		t.Errorf("replayed segments not removed: %v", segs)
	}
}

// A query through the audit.Auditor sees a call at once, although the ingester
// batches.
func TestSpoolQueriesSeeNewestRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	a := openSpooled(t, path, func(o *audit.Options) { o.IngestDelay = time.Hour })
	defer a.Close(context.Background())
	ctx := context.Background()
	r := storetest.Sample(1)
	if err := a.Begin(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Status = 201
	a.End(r)
	storetest.Eventually(t, "outcome spooled", func() bool { return audit.Backlog(a) == 2 })
	recs, err := audit.QueryAll(ctx, a.Reader(), audit.Filter{ID: r.ID})
	if err != nil || len(recs) != 1 || recs[0].Status != 201 {
		t.Fatalf("query: %+v %v", recs, err)
	}
	// Decision and outcome were ingested together: one whole record.
	if got := audit.Backlog(a); got != 0 {
		t.Fatalf("backlog %d after Sync", got)
	}
}

// The ingester holds back an open call queued less than IngestDelay ago
// until its outcome comes, so the two become one finished record; a
// query takes it at once, open.
func TestIngestWaitsForYoungCalls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	var back atomic.Int64 // how far the Auditor's clock is set back
	a := openSpooled(t, path, func(o *audit.Options) {
		o.IngestDelay = 50 * time.Millisecond
		o.Now = func() time.Time { return time.Now().Add(-time.Duration(back.Load())) }
	})
	defer a.Close(context.Background())
	ctx := context.Background()
	begin := func(i int) *audit.Record {
		back.Store(0)
		r := storetest.Sample(i)
		if err := a.Begin(ctx, r); err != nil {
			t.Fatal(err)
		}
		// Queued "now"; the clock then goes back an hour, so to the
		// ingester the call stays young for the whole test.
		back.Store(int64(time.Hour))
		return r
	}
	r := begin(1)
	time.Sleep(300 * time.Millisecond) // several ingest rounds
	if got := audit.Backlog(a); got != 1 {
		t.Fatalf("backlog %d: a young open call went to the store without its outcome", got)
	}
	r.Status, r.TimeEnd = 201, r.TimeStart.Add(time.Second)
	a.End(r)
	storetest.Eventually(t, "decision and outcome ingested", func() bool { return audit.Backlog(a) == 0 })

	r2 := begin(2)
	recs, err := audit.QueryAll(ctx, a.Reader(), audit.Filter{ID: r2.ID})
	if err != nil || len(recs) != 1 || !recs[0].TimeEnd.IsZero() {
		t.Fatalf("a query does not see the young open call: %+v %v", recs, err)
	}
	recs, err = audit.QueryAll(ctx, a.Reader(), audit.Filter{ID: r.ID})
	if err != nil || len(recs) != 1 || recs[0].Status != 201 {
		t.Fatalf("the finished call: %+v %v", recs, err)
	}
}

// The spool is where durability lives: a removed segment fails the
// commit it took (not durable) and the next one starts a new segment; a
// spool that cannot be written refuses calls until it can.
func TestSpoolFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	a := openSpooled(t, path, nil)
	defer a.Close(context.Background())
	ctx := context.Background()
	if err := a.Begin(ctx, storetest.Sample(0)); err != nil {
		t.Fatal(err)
	}
	dir := audit.SpoolOf(a).Dir()
	segs, _ := audit.SpoolOf(a).Segments()
	if err := os.Remove(audit.SpoolOf(a).SegPath(segs[len(segs)-1])); err != nil {
		t.Fatal(err)
	}
	if err := a.Begin(ctx, storetest.Sample(1)); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("Begin into a removed segment: %v", err)
	}
	storetest.Eventually(t, "recovery with a new segment", func() bool { return a.Ready() == nil })
	if err := a.Begin(ctx, storetest.Sample(2)); err != nil {
		t.Fatalf("Begin after recovery: %v", err)
	}

	// The whole spool directory replaced by a file.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := a.Begin(ctx, storetest.Sample(3)); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("Begin with the spool directory gone: %v", err)
	}
	if a.Ready() == nil {
		t.Fatal("Ready while the spool cannot be written")
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	storetest.Eventually(t, "recovery", func() bool { return a.Ready() == nil })
	r := storetest.Sample(4)
	if err := a.Begin(ctx, r); err != nil {
		t.Fatalf("Begin after recovery: %v", err)
	}
	if recs, err := audit.QueryAll(ctx, a.Reader(), audit.Filter{ID: r.ID}); err != nil || len(recs) != 1 {
		t.Fatalf("record after recovery: %v %v", recs, err)
	}
}

// cursorWrap is a wrapStore that can sit behind the spool.
type cursorWrap struct {
	*wrapStore
	real audit.SpoolStore
}

func (c cursorWrap) SpoolCursor(ctx context.Context, gw string) (spool.Pos, error) {
	return c.real.SpoolCursor(ctx, gw)
}

func (c cursorWrap) SpoolCursors(ctx context.Context) (map[string]spool.Pos, error) {
	return c.real.SpoolCursors(ctx)
}

// A store that cannot write does not stop calls while the spool holds
// their records; past MaxBacklog it does (on_failure applies), and once
// the store writes again every record arrives.
func TestSpoolStoreDownBacklog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.db")
	st, err := testStores.Open(context.Background(), "sqlite://"+path, audit.StoreOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	real := st.(audit.SpoolStore)
	ws := &wrapStore{Store: real}
	a, err := audit.Open(context.Background(), audit.Options{
		Stores:        testStores,
		Config:        config.Audit{Store: "sqlite://" + path, OnFailure: "deny"},
		Gateway:       "gw-1",
		Logger:        quiet,
		Store:         cursorWrap{ws, real},
		SpoolDir:      path + ".spool",
		ProbeInterval: 20 * time.Millisecond,
		IngestDelay:   time.Millisecond,
		MaxBacklog:    5,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	ctx := context.Background()
	ws.setFail(errors.New("database is locked"))
	var ids []string
	for i := range 5 {
		r := storetest.Sample(i)
		if err := a.Begin(ctx, r); err != nil {
			t.Fatalf("Begin %d with the store down but the spool fine: %v", i, err)
		}
		ids = append(ids, r.ID)
	}
	storetest.Eventually(t, "the ingester to meet the failure", func() bool { return audit.IngestErr(a) != nil })
	err = a.Begin(ctx, storetest.Sample(5))
	if !errors.Is(err, audit.ErrUnavailable) || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("Begin past MaxBacklog: %v", err)
	}
	ws.setFail(nil)
	storetest.Eventually(t, "backlog written", func() bool { return audit.Backlog(a) == 0 })
	storetest.Eventually(t, "recovery", func() bool { return a.Ready() == nil })
	for _, id := range ids {
		if recs, err := audit.QueryAll(ctx, a.Reader(), audit.Filter{ID: id}); err != nil || len(recs) != 1 {
			t.Fatalf("%s after recovery: %v %v", id, recs, err)
		}
	}
}

// PendingSpool tells what a crashed gateway left in its spool, without
// taking the spool's lock; after the restart nothing is pending.
func TestPendingSpool(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	url := "sqlite://" + path
	ctx := context.Background()
	a := openSpooled(t, path, func(o *audit.Options) { parked(o); o.Gateway = "pod/a b" })
	for i := range 3 {
		if err := a.Begin(ctx, storetest.Sample(i)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := audit.PendingSpool(ctx, testStores, url)
	if err != nil {
		t.Fatal(err)
	}
	// The gateway has not written to the store yet: no cursor, so the
	// spooled records name the gateway (its directory is the hex form).
	if len(st) != 1 || st[0].Pending != 3 || st[0].Gateway != "pod/a b" || time.Since(st[0].LastWrite) > time.Minute {
		t.Fatalf("pending: %+v", st)
	}
	crash(a)
	a = openSpooled(t, path, func(o *audit.Options) { o.Gateway = "pod/a b" })
	defer a.Close(ctx)
	st, err = audit.PendingSpool(ctx, testStores, url)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Pending != 0 || st[0].Gateway != "pod/a b" {
		t.Fatalf("after restart: %+v", st)
	}
	if st, err := audit.PendingSpool(ctx, testStores, "discard://"); err != nil || st != nil {
		t.Fatalf("discard: %v %v", st, err)
	}
}

// audit.ReplaySpools writes a stopped gateway's spooled records into the store
// and closes its open calls, as its restart would; a spool a running
// gateway holds is left alone.
func TestReplaySpools(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	url := "sqlite://" + path
	ctx := context.Background()
	// Gateway "pod/a b" (hex directory name) crashes with 4 records only
	// in its spool, one of them finished.
	a := openSpooled(t, path, func(o *audit.Options) { parked(o); o.Gateway = "pod/a b" })
	for i := range 4 {
		r := storetest.Sample(i)
		if err := a.Begin(ctx, r); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			r.Status = 200
			a.End(r)
		}
	}
	storetest.Eventually(t, "outcome spooled", func() bool { return audit.Backlog(a) == 5 })
	crash(a)
	// Gateway "live" is running with a record of its own in its spool.
	live := openSpooled(t, path, func(o *audit.Options) { o.IngestDelay = time.Hour; o.Gateway = "live" })
	defer live.Close(ctx)
	if err := live.Begin(ctx, storetest.Sample(9)); err != nil {
		t.Fatal(err)
	}

	res, err := audit.ReplaySpools(ctx, testStores, url, quiet)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]audit.ReplayResult{}
	for _, r := range res {
		got[r.Gateway] = r
	}
	if r := got["pod/a b"]; r.Pending != 5 || r.InUse || r.Err != nil {
		t.Errorf("stopped gateway: %+v", r)
	}
	if r := got["live"]; !r.InUse || r.Err != nil {
		t.Errorf("running gateway: %+v", r)
	}
	if all, open := countRecords(t, path); all != 4 || open != 0 {
		t.Errorf("after replay: %d records (%d open), want the stopped gateway's 4, none open", all, open)
	}
	if _, err := audit.ReplaySpools(ctx, testStores, "discard://", quiet); err == nil {
		t.Error("replay of a store without spools: no error")
	}
}

func slogTo(w *strings.Builder) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
