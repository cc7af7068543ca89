package audit_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/storetest"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/vocab"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// wrapStore wraps a real store to count, delay or fail writes.
type wrapStore struct {
	audit.Store
	mu      sync.Mutex
	fail    error         // Write and Check fail with it while set
	gate    chan struct{} // Write waits for it to close when set
	entered chan struct{} // receives when a Write starts (if set)
	batches []int         // rows per successful Write
}

func (w *wrapStore) setFail(err error) {
	w.mu.Lock()
	w.fail = err
	w.mu.Unlock()
}

func (w *wrapStore) Write(ctx context.Context, b *audit.Batch) error {
	w.mu.Lock()
	gate, entered, fail := w.gate, w.entered, w.fail
	w.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		<-gate
	}
	if fail != nil {
		return fail
	}
	if err := w.Store.Write(ctx, b); err != nil {
		return err
	}
	w.mu.Lock()
	w.batches = append(w.batches, b.Len())
	w.mu.Unlock()
	return nil
}

func (w *wrapStore) Check(ctx context.Context) error {
	w.mu.Lock()
	fail := w.fail
	w.mu.Unlock()
	if fail != nil {
		return fail
	}
	return w.Store.Check(ctx)
}

func (w *wrapStore) sizes() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.batches...)
}

// harness is an audit.Auditor on a temp SQLite store, with a metric reader.
type harness struct {
	a      *audit.Auditor
	path   string
	url    string
	reader *sdkmetric.ManualReader
	store  *wrapStore
}

func newHarness(t *testing.T, mod func(*audit.Options)) *harness {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "audit.db")
	h := &harness{path: path, url: "sqlite://" + path, reader: sdkmetric.NewManualReader()}
	real, err := testStores.Open(context.Background(), h.url, audit.StoreOptions{Logger: quiet, BusyTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h.store = &wrapStore{Store: real}
	opts := audit.Options{
		Stores:        testStores,
		Config:        config.Audit{Store: h.url, OnFailure: "deny"},
		Cost:          config.Cost{Currency: "USD", Meters: []config.Meter{{Name: "charge", Host: "api.stripe.com", Method: "POST", PathPrefix: "/v1/charges", PerRequest: 0.002}}},
		Gateway:       "gw-1",
		Logger:        quiet,
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader)),
		Store:         h.store,
		ProbeInterval: 20 * time.Millisecond,
	}
	if mod != nil {
		mod(&opts)
	}
	h.a, err = audit.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.a.Close(context.Background()) })
	return h
}

// query reads the store through a separate read-only connection, as an
// auditor would.
func (h *harness) query(t *testing.T, f audit.Filter) []audit.Record {
	t.Helper()
	r, err := testStores.OpenReader(context.Background(), h.url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs, err := audit.QueryAll(context.Background(), r, f)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func (h *harness) get(t *testing.T, id string) *audit.Record {
	t.Helper()
	recs := h.query(t, audit.Filter{ID: id})
	if len(recs) != 1 {
		t.Fatalf("record %s: found %d", id, len(recs))
	}
	return &recs[0]
}

// metric returns a counter's total or a histogram's count and sum.
func (h *harness) metric(t *testing.T, name string) (count int64, sum float64) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					count += p.Value
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					count += int64(p.Count)
					sum += float64(p.Sum)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					count += p.Value
				}
			}
		}
	}
	return count, sum
}

func TestBeginAssignsAndIsDurable(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	r := storetest.Sample(1)
	r.TimeStart = time.Time{}
	if err := h.a.Begin(ctx, r); err != nil {
		t.Fatal(err)
	}
	if len(r.ID) != audit.IDLen || r.Seq != 1 || r.Gateway != "gw-1" || r.TimeStart.IsZero() {
		t.Fatalf("assigned %q seq %d gateway %q start %v", r.ID, r.Seq, r.Gateway, r.TimeStart)
	}
	// Readable from another connection at once: committed.
	got := h.get(t, r.ID)
	if !got.TimeEnd.IsZero() || got.Status != 0 || got.Host != r.Host || got.SourceIdentity != r.SourceIdentity ||
		strings.Join(got.PolicyRules, ",") != "allow_payments" || !got.Enforced || !got.TLSOriginated {
		t.Fatalf("stored decision part: %+v", got)
	}
	r2 := storetest.Sample(2)
	if err := h.a.Begin(ctx, r2); err != nil {
		t.Fatal(err)
	}
	if r2.Seq != 2 || r2.ID <= r.ID {
		t.Errorf("second record: seq %d id %s after %s", r2.Seq, r2.ID, r.ID)
	}
}

// Begin must not return before its record is committed: the gateway
// dials only after Begin returns.
func TestBeginReturnsOnlyAfterCommit(t *testing.T) {
	h := newHarness(t, nil)
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	h.store.mu.Lock()
	h.store.gate, h.store.entered = gate, entered
	h.store.mu.Unlock()
	r := storetest.Sample(1)
	done := make(chan error, 1)
	go func() { done <- h.a.Begin(context.Background(), r) }()
	<-entered
	select {
	case err := <-done:
		t.Fatalf("Begin returned (%v) while its commit was held", err)
	case <-time.After(50 * time.Millisecond):
	}
	if n := len(h.query(t, audit.Filter{})); n != 0 {
		t.Fatalf("%d records visible before the commit", n)
	}
	h.store.mu.Lock()
	h.store.gate, h.store.entered = nil, nil
	h.store.mu.Unlock()
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.get(t, r.ID)
}

// Callers that arrive while a commit is in progress share the next one.
// After a commit that served several callers, the writer gathers for up
// to CommitWindow (here: until the batch is full) before the next one; a
// commit that served one caller is followed by no wait; Close does not
// wait for the window.
func TestCommitWindow(t *testing.T) {
	h := newHarness(t, func(o *audit.Options) { o.MaxBatch = 3; o.CommitWindow = time.Hour })
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	h.store.mu.Lock()
	h.store.gate, h.store.entered = gate, entered
	h.store.mu.Unlock()
	var wg sync.WaitGroup
	begin := func(i int, done chan<- struct{}) {
		defer wg.Done()
		if err := h.a.Begin(context.Background(), storetest.Sample(i)); err != nil {
			t.Error(err)
		}
		if done != nil {
			close(done)
		}
	}
	wg.Add(1)
	go begin(0, nil)
	<-entered // the first commit (one caller) is in progress
	h.store.mu.Lock()
	h.store.gate, h.store.entered = nil, nil
	h.store.mu.Unlock()
	wg.Add(2)
	go begin(1, nil)
	go begin(2, nil)
	storetest.Eventually(t, "2 queued", func() bool { return audit.QueueDepth(h.a) == 2 })
	close(gate)
	wg.Wait() // [0] then, with no wait after a lone caller, [1 2]

	lone := make(chan struct{})
	wg.Add(1)
	go begin(3, lone) // follows a commit of two callers: it waits for more
	select {
	case <-lone:
		t.Fatal("a call after a busy commit was committed without gathering")
	case <-time.After(100 * time.Millisecond):
	}
	wg.Add(2)
	go begin(4, nil)
	go begin(5, nil)
	wg.Wait() // the batch is full: [3 4 5]
	<-lone

	if got := h.store.sizes(); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("batches %v, want [1 2 3]", got)
	}

	// The last commit served three callers: a lone call now waits for the
	// window, and Close ends the wait rather than sitting through it.
	last := make(chan error, 1)
	go func() { last <- h.a.Begin(context.Background(), storetest.Sample(6)) }()
	select {
	case err := <-last:
		t.Fatalf("a call after a busy commit was committed without gathering (err %v)", err)
	case <-time.After(100 * time.Millisecond): // queued, and waiting in the window
	}
	closed := make(chan struct{})
	go func() { h.a.Close(context.Background()); close(closed) }()
	select {
	case err := <-last:
		if err != nil {
			t.Errorf("the call in the window: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the commit window")
	}
	<-closed
}

// A commit of outcomes only answers nobody and says nothing of the load:
// after it, a lone call still waits in the window a busy commit opened.
func TestCommitWindowIgnoresOutcomes(t *testing.T) {
	h := newHarness(t, func(o *audit.Options) { o.MaxBatch = 3; o.CommitWindow = time.Hour })
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	h.store.mu.Lock()
	h.store.gate, h.store.entered = gate, entered
	h.store.mu.Unlock()
	recs := []*audit.Record{storetest.Sample(0), storetest.Sample(1), storetest.Sample(2)}
	var wg sync.WaitGroup
	begin := func(r *audit.Record) {
		defer wg.Done()
		if err := h.a.Begin(context.Background(), r); err != nil {
			t.Error(err)
		}
	}
	wg.Add(1)
	go begin(recs[0])
	<-entered // [0] is committing
	h.store.mu.Lock()
	h.store.gate, h.store.entered = nil, nil
	h.store.mu.Unlock()
	wg.Add(2)
	go begin(recs[1])
	go begin(recs[2])
	storetest.Eventually(t, "2 queued", func() bool { return audit.QueueDepth(h.a) == 2 })
	close(gate)
	wg.Wait() // [0], then [1 2]: a busy commit
	for _, r := range recs {
		r.TimeEnd = r.TimeStart.Add(time.Millisecond)
		h.a.End(r)
	}
	storetest.Eventually(t, "the outcomes committed", func() bool { return len(h.store.sizes()) == 3 })

	lone := make(chan error, 1)
	go func() { lone <- h.a.Begin(context.Background(), storetest.Sample(3)) }()
	select {
	case err := <-lone:
		t.Fatalf("after a busy commit and an outcome-only one, a lone call was committed without gathering (err %v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	h.a.Close(context.Background())
	if err := <-lone; err != nil {
		t.Errorf("the call in the window: %v", err)
	}
	if got := h.store.sizes(); !slices.Equal(got, []int{1, 2, 3, 1}) {
		t.Fatalf("batches %v, want [1 2 3 1]", got)
	}
}

func TestGroupCommit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxBatch int
		want     []int
	}{
		{"one commit for all waiting", 0, []int{1, 99}},
		{"capped by MaxBatch", 40, []int{1, 40, 40, 19}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(o *audit.Options) { o.MaxBatch = tc.maxBatch })
			gate, entered := make(chan struct{}), make(chan struct{}, 1)
			h.store.mu.Lock()
			h.store.gate, h.store.entered = gate, entered
			h.store.mu.Unlock()
			var wg sync.WaitGroup
			begin := func(i int) {
				defer wg.Done()
				if err := h.a.Begin(context.Background(), storetest.Sample(i)); err != nil {
					t.Error(err)
				}
			}
			wg.Add(1)
			go begin(0)
			<-entered // the first commit is in progress
			h.store.mu.Lock()
			h.store.gate, h.store.entered = nil, nil
			h.store.mu.Unlock()
			for i := 1; i < 100; i++ {
				wg.Add(1)
				go begin(i)
			}
			storetest.Eventually(t, "99 queued", func() bool { return audit.QueueDepth(h.a) == 99 })
			close(gate)
			wg.Wait()
			got := h.store.sizes()
			if len(got) != len(tc.want) {
				t.Fatalf("batches %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("batches %v, want %v", got, tc.want)
				}
			}
			if n, sum := h.metric(t, "sluice_audit_batch_size"); n != int64(len(tc.want)) || sum != 100 {
				t.Errorf("sluice_audit_batch_size: %d commits, %v rows", n, sum)
			}
			if n := len(h.query(t, audit.Filter{})); n != 100 {
				t.Errorf("%d records stored", n)
			}
		})
	}
}

func TestEndWritesOutcome(t *testing.T) {
	h := newHarness(t, func(o *audit.Options) { o.Cost.PerGiB = 1 })
	ctx := context.Background()
	r := storetest.Sample(1)
	r.Host = "api.stripe.com"
	r.TimeStart = time.Now().Add(-42 * time.Millisecond)
	if err := h.a.Begin(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Status, r.BytesSent, r.BytesReceived, r.DialedIP, r.TLSVersion = 201, 1<<29, 1<<29, "203.0.113.7", "TLS1.3"
	h.a.End(r)
	if r.DurationMS < 42 || r.Meter != "charge" || r.Cost != 1.002 || r.Currency != "USD" {
		t.Fatalf("End computed duration %v meter %q cost %v %s", r.DurationMS, r.Meter, r.Cost, r.Currency)
	}
	storetest.Eventually(t, "outcome", func() bool { return !h.get(t, r.ID).TimeEnd.IsZero() })
	got := h.get(t, r.ID)
	if got.Status != 201 || got.BytesSent != 1<<29 || got.BytesReceived != 1<<29 || got.DialedIP != "203.0.113.7" ||
		got.TLSVersion != "TLS1.3" || got.Meter != "charge" || got.Cost != 1.002 || got.Currency != "USD" ||
		got.DurationMS < 42 || got.Error != "" {
		t.Fatalf("stored outcome: %+v", got)
	}
	// A second End is ignored: the first outcome stands.
	r.Reason, r.Error, r.Status = "upstream_timeout", "dial timeout", 504
	h.a.End(r)
	if err := h.a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.get(t, r.ID); got.Status != 201 || got.Error != "" {
		t.Fatalf("second End changed the outcome: %+v", got)
	}
}

func TestCompleteAndEndWithoutBegin(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	deny := storetest.Sample(1)
	deny.Decision, deny.Reason, deny.PolicyRules = vocab.DecisionDeny, "policy_denied", []string{"no_payments", `odd "rule"`}
	if err := h.a.Complete(ctx, deny); err != nil {
		t.Fatal(err)
	}
	got := h.get(t, deny.ID)
	if !got.TimeEnd.Equal(got.TimeStart) || got.Decision != vocab.DecisionDeny || got.Cost != 0 ||
		strings.Join(got.PolicyRules, "|") != `no_payments|odd "rule"` {
		t.Fatalf("completed: %+v", got)
	}
	dns := &audit.Record{Event: vocab.EventDNSQuery, Host: "evil.example.", SourceIP: "10.1.2.3", Decision: vocab.DecisionDeny,
		Reason: "undeclared_destination", Count: 7, Listener: "dns", Kind: "dns"}
	if err := h.a.Complete(ctx, dns); err != nil {
		t.Fatal(err)
	}
	// The host is recorded exactly as given: the data plane made it
	// canonical, or (a DNS name refused as not a host name) kept it as sent.
	if got := h.get(t, dns.ID); got.Count != 7 || got.Host != "evil.example." || got.Event != vocab.EventDNSQuery {
		t.Fatalf("dns record: %+v", got)
	}
	// End without Begin still records the call, whole.
	lone := storetest.Sample(3)
	lone.Status = 200
	h.a.End(lone)
	if lone.ID == "" {
		t.Fatal("End did not assign an ID")
	}
	if err := h.a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.get(t, lone.ID); got.Status != 200 || got.Host != lone.Host {
		t.Fatalf("lone outcome: %+v", got)
	}
}

func TestCloseFlushesAndRefuses(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	var recs []*audit.Record
	for i := range 50 {
		r := storetest.Sample(i)
		if err := h.a.Begin(ctx, r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	for _, r := range recs {
		r.Status = 200
		h.a.End(r)
	}
	if err := h.a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range h.query(t, audit.Filter{}) {
		if r.Status != 200 || r.TimeEnd.IsZero() {
			t.Fatalf("outcome lost at Close: %+v", r)
		}
	}
	if err := h.a.Begin(ctx, storetest.Sample(99)); !errors.Is(err, audit.ErrClosed) {
		t.Fatalf("Begin after Close: %v", err)
	}
	if err := h.a.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A restart closes the records this gateway left open (the process died
// mid-call), continues seq, and leaves other gateways' records alone.
func TestRestartClosesOpenRecords(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite://" + filepath.Join(dir, "audit.db")
	ctx := context.Background()
	open := func(gw string) *audit.Auditor {
		a, err := audit.Open(ctx, audit.Options{Stores: testStores, Config: config.Audit{Store: url}, Gateway: gw, Logger: quiet,
			Cost: config.Cost{Currency: "USD", Meters: []config.Meter{{Name: "m", Host: "*", PerRequest: 1}}}})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := open("gw-1")
	other := open("gw-2")
	var ids []string
	for i := range 3 {
		r := storetest.Sample(i)
		if err := a.Begin(ctx, r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
		if i == 0 {
			r.Status = 200
			a.End(r)
		}
	}
	o := storetest.Sample(9)
	if err := other.Begin(ctx, o); err != nil {
		t.Fatal(err)
	}
	// "Crash": flush the one outcome, then drop both without ending the
	// other calls (Close writes only what End handed over).
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := other.Close(ctx); err != nil {
		t.Fatal(err)
	}

	a = open("gw-1")
	defer a.Close(ctx)
	r, err := testStores.OpenReader(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	get := func(id string) audit.Record {
		recs, err := audit.QueryAll(ctx, r, audit.Filter{ID: id})
		if err != nil || len(recs) != 1 {
			t.Fatalf("%s: %v %v", id, recs, err)
		}
		return recs[0]
	}
	if got := get(ids[0]); got.Error != "" || got.Status != 200 {
		t.Errorf("ended record touched: %+v", got)
	}
	for _, id := range ids[1:] {
		got := get(id)
		if got.Error != audit.ErrorGatewayRestart || got.TimeEnd.IsZero() || got.Meter != "m" || got.Cost != 1 {
			t.Errorf("open record not closed: %+v", got)
		}
	}
	if got := get(o.ID); got.Error != "" || !got.TimeEnd.IsZero() {
		t.Errorf("other gateway's record closed: %+v", got)
	}
	next := storetest.Sample(5)
	if err := a.Begin(ctx, next); err != nil {
		t.Fatal(err)
	}
	if next.Seq != 4 {
		t.Errorf("seq after restart = %d, want 4", next.Seq)
	}
}

func TestOnFailureDeny(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	if !h.a.OnFailureDeny() {
		t.Fatal("on_failure deny not reported")
	}
	if err := h.a.Begin(ctx, storetest.Sample(0)); err != nil {
		t.Fatal(err)
	}
	h.store.setFail(errors.New("disk full"))
	err := h.a.Begin(ctx, storetest.Sample(1))
	if !errors.Is(err, audit.ErrUnavailable) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Begin on a failing store: %v", err)
	}
	if err := h.a.Ready(); err == nil || !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("Ready on a failing store: %v", err)
	}
	// Fails fast while down, without touching the store.
	start := time.Now()
	if err := h.a.Complete(ctx, storetest.Sample(2)); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("Complete on a failing store: %v", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("failing Complete took %v", d)
	}
	if n, _ := h.metric(t, "sluice_audit_write_errors_total"); n < 1 {
		t.Errorf("sluice_audit_write_errors_total = %d", n)
	}
	if n, _ := h.metric(t, "sluice_audit_store_ready"); n != 0 {
		t.Errorf("sluice_audit_store_ready = %d while down", n)
	}
	// Recovery is automatic once writes succeed again.
	h.store.setFail(nil)
	storetest.Eventually(t, "recovery", func() bool { return h.a.Ready() == nil })
	if err := h.a.Begin(ctx, storetest.Sample(3)); err != nil {
		t.Fatalf("Begin after recovery: %v", err)
	}
	if n, _ := h.metric(t, "sluice_audit_store_ready"); n != 1 {
		t.Errorf("sluice_audit_store_ready = %d after recovery", n)
	}
}

// With on_failure allow the caller proceeds; the outcome is kept and the
// whole record is written once the store recovers.
func TestOnFailureAllowKeepsOutcomes(t *testing.T) {
	h := newHarness(t, func(o *audit.Options) { o.Config.OnFailure = "allow" })
	ctx := context.Background()
	if h.a.OnFailureDeny() {
		t.Fatal("on_failure allow reported as deny")
	}
	h.store.setFail(errors.New("locked"))
	r := storetest.Sample(1)
	if err := h.a.Begin(ctx, r); err == nil {
		t.Fatal("Begin succeeded on a failing store")
	}
	r.Status = 200
	h.a.End(r)
	time.Sleep(60 * time.Millisecond) // a few failing probes
	h.store.setFail(nil)
	storetest.Eventually(t, "kept outcome written", func() bool { return len(h.query(t, audit.Filter{ID: r.ID})) == 1 })
	if got := h.get(t, r.ID); got.Status != 200 || got.Host != r.Host || got.Decision != vocab.DecisionAllow {
		t.Fatalf("kept record: %+v", got)
	}
}

// A real unwritable store: the file removed and its path taken by a
// directory (works as root, unlike chmod).
func TestStoreReplacedByDirectory(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	if err := h.a.Begin(ctx, storetest.Sample(0)); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(h.path + suffix)
	}
	if err := os.Mkdir(h.path, 0o755); err != nil {
		t.Fatal(err)
	}
	// The commit lands in the removed file: not durable, so an error.
	if err := h.a.Begin(ctx, storetest.Sample(1)); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("Begin into a removed store: %v", err)
	}
	storetest.Eventually(t, "Ready to report the directory", func() bool {
		err := h.a.Ready()
		return err != nil && strings.Contains(err.Error(), "is a directory")
	})
	if err := h.a.Begin(ctx, storetest.Sample(2)); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("Begin while the path is a directory: %v", err)
	}
	if err := os.Remove(h.path); err != nil {
		t.Fatal(err)
	}
	storetest.Eventually(t, "recovery", func() bool { return h.a.Ready() == nil })
	r := storetest.Sample(3)
	if err := h.a.Begin(ctx, r); err != nil {
		t.Fatalf("Begin after recovery: %v", err)
	}
	h.get(t, r.ID)
}

// A removed file is noticed at the next commit (whose waiters get an
// error: their rows went to the unlinked file) and recreated at once.
func TestStoreFileRemoved(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	first := storetest.Sample(0)
	if err := h.a.Begin(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(h.path); err != nil {
		t.Fatal(err)
	}
	if err := h.a.Begin(ctx, storetest.Sample(1)); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("Begin into a removed file: %v", err)
	}
	storetest.Eventually(t, "recreated", func() bool { return h.a.Ready() == nil })
	r := storetest.Sample(2)
	if err := h.a.Begin(ctx, r); err != nil {
		t.Fatal(err)
	}
	// The outcome of the call begun before the removal is not lost: its
	// whole record goes to the new file.
	first.Status = 200
	h.a.End(first)
	storetest.Eventually(t, "outcome in the new file", func() bool { return len(h.query(t, audit.Filter{ID: first.ID})) == 1 })
	if n := len(h.query(t, audit.Filter{})); n != 2 {
		t.Errorf("new file holds %d records, want 2", n)
	}
	matches, _ := filepath.Glob(h.path + "-wal.orphaned-*")
	if len(matches) != 1 {
		t.Errorf("orphaned WAL not set aside: %v", matches)
	}
}

// Another process holding the write lock makes commits fail after the
// busy timeout; recovery follows its release.
func TestStoreLocked(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	if err := h.a.Begin(ctx, storetest.Sample(0)); err != nil {
		t.Fatal(err)
	}
	// Another process: a connection of its own to the file.
	db, err := sql.Open("sqlite", "file:"+h.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	if err := h.a.Begin(ctx, storetest.Sample(1)); !errors.Is(err, audit.ErrUnavailable) || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("Begin while locked: %v", err)
	}
	if _, err := other.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	storetest.Eventually(t, "recovery", func() bool { return h.a.Ready() == nil })
	if err := h.a.Begin(ctx, storetest.Sample(2)); err != nil {
		t.Fatal(err)
	}
}

func TestRetention(t *testing.T) {
	h := newHarness(t, func(o *audit.Options) {
		o.RetentionInterval = time.Hour // the first run is at audit.Open; later runs via Reset
	})
	ctx := context.Background()
	now := time.Now()
	var keep []string
	for i := range 12 {
		r := storetest.Sample(i)
		r.TimeStart = now.Add(-time.Duration(i*100) * 24 * time.Hour) // 0, 100d, … 1100d ago
		if i%2 == 0 {
			if err := h.a.Begin(ctx, r); err != nil {
				t.Fatal(err)
			}
			r.Status = 200
			h.a.End(r)
		} else if err := h.a.Complete(ctx, r); err != nil {
			t.Fatal(err)
		}
		if i <= 4 {
			keep = append(keep, r.ID)
		}
	}
	if err := h.a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Reopen with retention 450d, pruning 2 records per transaction.
	h2 := &harness{reader: sdkmetric.NewManualReader()}
	a, err := audit.Open(ctx, audit.Options{Stores: testStores, Config: config.Audit{Store: h.url, Retention: config.Duration(450 * 24 * time.Hour)},
		Gateway: "gw-1", Logger: quiet, PruneBatch: 2, MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(h2.reader))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	storetest.Eventually(t, "pruning", func() bool { return len(h.query(t, audit.Filter{})) == len(keep) })
	got := h.query(t, audit.Filter{})
	for i, r := range got {
		if r.ID != keep[i] {
			t.Fatalf("kept %v, want %v", got, keep)
		}
	}
	if n, _ := h2.metric(t, "sluice_audit_records_pruned_total"); n != 7 {
		t.Errorf("sluice_audit_records_pruned_total = %d, want 7", n)
	}
	// Nothing of the pruned calls is left behind.
	s, err := sql.Open("sqlite", "file:"+h.path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var oldest string
	if err := s.QueryRowContext(ctx, "SELECT min(hour) FROM cost_hourly").Scan(&oldest); err != nil ||
		oldest < audit.FormatTime(now.Add(-451*24*time.Hour)) {
		t.Errorf("cost_hourly keeps %s (%v)", oldest, err)
	}
	for _, table := range []string{"outcomes", "open_calls"} {
		var n int
		if err := s.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE rid NOT IN (SELECT rid FROM decisions)").Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d orphans (%v)", table, n, err)
		}
	}
}

// Writes keep flowing while retention prunes.
func TestRetentionDoesNotBlockWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := testStores.Open(context.Background(), "sqlite://"+path, audit.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-1000 * 24 * time.Hour)
	for k := range 20 {
		b := &audit.Batch{}
		for i := range 1000 {
			r := storetest.Sample(i)
			r.TimeStart, r.ID, r.Gateway, r.TimeEnd = old, fmt.Sprintf("01OLD%021d", k*1000+i), "gw-1", old
			b.Inserts = append(b.Inserts, r)
		}
		if err := s.Write(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	a, err := audit.Open(context.Background(), audit.Options{Stores: testStores, Config: config.Audit{Store: "sqlite://" + path, Retention: config.Duration(24 * time.Hour)},
		Gateway: "gw-1", Logger: quiet, PruneBatch: 500})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	var slowest time.Duration
	for i := range 200 {
		start := time.Now()
		if err := a.Begin(context.Background(), storetest.Sample(i)); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(start))
	}
	t.Logf("slowest Begin while pruning 20000 records: %v", slowest)
	if slowest > 2*time.Second {
		t.Errorf("Begin blocked for %v", slowest)
	}
}

// Close under load: every caller either gets its record stored or
// audit.ErrClosed, and nobody hangs.
func TestCloseDuringLoad(t *testing.T) {
	h := newHarness(t, func(o *audit.Options) { o.QueueSize = 8 })
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for w := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				r := storetest.Sample(w*10000 + i)
				err := h.a.Begin(context.Background(), r)
				if errors.Is(err, audit.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked = append(acked, r.ID)
				mu.Unlock()
				r.Status = 200
				h.a.End(r)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("callers hang after Close")
	}
	stored := map[string]bool{}
	for _, r := range h.query(t, audit.Filter{}) {
		stored[r.ID] = true
	}
	for _, id := range acked {
		if !stored[id] {
			t.Fatalf("acknowledged record %s missing", id)
		}
	}
	t.Logf("%d records acknowledged before Close", len(acked))
}
