package postgres

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/storetest"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/internal/vocab"
)

// openTestStore opens a store on a fresh database of the test server.
func openTestStore(t *testing.T) (*store, string) {
	url := pgTestURL(t)
	return storetest.Open(t, Driver(), url, audit.StoreOptions{}).(*store), url
}

// testStores holds the PostgreSQL store only.
func testStores() *audit.Stores { return storetest.Stores(Driver()) }

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Subject{
		Open: func(t *testing.T) (audit.Store, string) {
			return openTestStore(t)
		},
		Driver: Driver(),
	})
}

// A record for the store is not one for a spool: PostgreSQL takes
// records directly.
func TestNoSpool(t *testing.T) {
	if Driver().SpoolDir != nil {
		t.Error("the PostgreSQL store keeps spools")
	}
	var s audit.Store = &store{}
	if _, ok := s.(audit.SpoolStore); ok {
		t.Error("the PostgreSQL store keeps spool cursors")
	}
}

// Read-only on a database that holds no audit store is refused, and the
// URL forms reach the PostgreSQL store.
func TestPostgresOpenErrors(t *testing.T) {
	ctx := context.Background()
	url := pgTestURL(t)
	if _, err := testStores().Open(ctx, url, audit.StoreOptions{ReadOnly: true, Logger: quiet}); err == nil ||
		!strings.Contains(err.Error(), "not a Sluice audit store") {
		t.Errorf("read-only on an empty database: %v", err)
	}
	s, err := testStores().Open(ctx, strings.Replace(url, "postgres://", "postgresql://", 1), audit.StoreOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Opening again finds the schema in place.
	s, err = testStores().Open(ctx, url, audit.StoreOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := testStores().Open(ctx, "postgres://nobody@127.0.0.1:1/x?connect_timeout=2", audit.StoreOptions{Logger: quiet}); err == nil ||
		!strings.Contains(err.Error(), "audit: postgres") {
		t.Errorf("unreachable server: %v", err)
	}
}

// Timestamps survive the round trip to the microsecond (PostgreSQL's
// precision; SQLite keeps milliseconds).
func TestPostgresTimePrecision(t *testing.T) {
	ctx := context.Background()
	s, err := testStores().Open(ctx, pgTestURL(t), audit.StoreOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := storetest.Ended(storetest.Numbered("gw1", 1, 123456789*time.Nanosecond), 200)
	r.TimeEnd = r.TimeStart.Add(987654 * time.Nanosecond)
	if err := s.Write(ctx, &audit.Batch{Inserts: []*audit.Record{r}}); err != nil {
		t.Fatal(err)
	}
	got, err := audit.QueryAll(ctx, s, audit.Filter{})
	if err != nil || len(got) != 1 {
		t.Fatal(got, err)
	}
	if want := r.TimeStart.Truncate(time.Microsecond); !got[0].TimeStart.Equal(want) || got[0].TimeStart.Location() != time.UTC {
		t.Errorf("time_start %v, want %v", got[0].TimeStart, want)
	}
	if want := r.TimeEnd.Truncate(time.Microsecond); !got[0].TimeEnd.Equal(want) {
		t.Errorf("time_end %v, want %v", got[0].TimeEnd, want)
	}
}

// A full Auditor on PostgreSQL: Begin/End/Complete are committed straight
// to the store (no spool), queried back, and a call left open is closed
// with gateway_restart by the next audit.Open.
func TestPostgresAuditor(t *testing.T) {
	ctx := context.Background()
	url := pgTestURL(t)
	opts := audit.Options{
		Config:        config.Audit{Store: url, OnFailure: "deny"},
		Stores:        testStores(),
		Cost:          config.Cost{Currency: "USD", Meters: []config.Meter{{Name: "charge", Host: "api.stripe.com", Method: "POST", PathPrefix: "/v1/charges", PerRequest: 0.002}}},
		Gateway:       "gw-pg",
		Logger:        quiet,
		ProbeInterval: 20 * time.Millisecond,
	}
	a, err := audit.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	call := audit.Record{SourceWorkload: "checkout", Host: "api.stripe.com", Port: 443, Method: "POST", Path: "/v1/charges",
		Decision: vocab.DecisionAllow, Enforced: true}
	if err := a.Begin(ctx, &call); err != nil {
		t.Fatal(err)
	}
	// Committed before Begin returns.
	if got, err := audit.QueryAll(ctx, a.Reader(), audit.Filter{ID: call.ID}); err != nil || len(got) != 1 || !got[0].TimeEnd.IsZero() {
		t.Fatalf("after Begin: %+v, %v", got, err)
	}
	call.Status, call.BytesSent, call.BytesReceived = 200, 10, 20
	a.End(&call)
	denied := audit.Record{SourceWorkload: "checkout", Host: "evil.example", Decision: vocab.DecisionDeny, Enforced: true, Reason: "policy_denied"}
	if err := a.Complete(ctx, &denied); err != nil {
		t.Fatal(err)
	}
	left := audit.Record{SourceWorkload: "billing", Host: "api.github.com", Decision: vocab.DecisionAllow, Enforced: true}
	if err := a.Begin(ctx, &left); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}

	a, err = audit.Open(ctx, opts) // closes left with gateway_restart
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	got, err := audit.QueryAll(ctx, a.Reader(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{left.ID, denied.ID, call.ID}; !slices.Equal(storetest.IDs(got), want) {
		t.Fatalf("records %v, want %v", storetest.IDs(got), want)
	}
	byID := map[string]audit.Record{}
	for _, r := range got {
		byID[r.ID] = r
	}
	if r := byID[call.ID]; r.Status != 200 || r.TimeEnd.IsZero() || r.Host != "api.stripe.com" || r.Meter != "charge" ||
		r.Cost != 0.002 || r.Currency != "USD" || r.Seq != 1 || r.Gateway != "gw-pg" || r.BytesReceived != 20 {
		t.Errorf("ended call: %+v", r)
	}
	if r := byID[denied.ID]; r.Reason != "policy_denied" || r.Decision != vocab.DecisionDeny || r.TimeEnd.IsZero() || r.Seq != 2 {
		t.Errorf("denial: %+v", r)
	}
	if r := byID[left.ID]; r.Error != audit.ErrorGatewayRestart || r.TimeEnd.IsZero() {
		t.Errorf("call left open: %+v", r)
	}
	// seq continues.
	next := audit.Record{Host: "api.github.com", Decision: vocab.DecisionAllow, Enforced: true}
	if err := a.Complete(ctx, &next); err != nil {
		t.Fatal(err)
	}
	if next.Seq != 4 {
		t.Errorf("seq after reopen: %d, want 4", next.Seq)
	}
	rows, err := a.Reader().Cost(ctx, audit.CostQuery{By: []string{"source"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || rows[0].Source != "checkout" || rows[0].Cost != 0.002 {
		t.Errorf("cost: %+v", rows)
	}
}

// The PostgreSQL server restarting under a gateway is the audit failure
// contract at work: while it is down Begin fails (on_failure deny refuses
// the call) and Ready reports it; when it is back the pool reconnects,
// Ready clears by itself and records are written again, outcomes kept
// meanwhile included.
func TestPostgresServerRestart(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	url, err := srv.NewDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, err := audit.Open(ctx, audit.Options{
		Config:        config.Audit{Store: url, OnFailure: "deny"},
		Stores:        testStores(),
		Gateway:       "gw-pg",
		Logger:        quiet,
		ProbeInterval: 20 * time.Millisecond,
		BusyTimeout:   500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	before := storetest.Sample(1)
	if err := a.Begin(ctx, before); err != nil {
		t.Fatal(err)
	}
	var during *audit.Record
	if err := srv.Restart(func() {
		during = storetest.Sample(2)
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := a.Begin(bctx, during); !errors.Is(err, audit.ErrUnavailable) {
			t.Errorf("Begin with the server down: %v, want audit.ErrUnavailable", err)
		}
		if a.Ready() == nil {
			t.Error("Ready with the server down: nil")
		}
		before.Status = 200
		a.End(before) // kept until the store is back
	}); err != nil {
		t.Fatal(err)
	}
	storetest.Eventually(t, "Ready after the restart", func() bool { return a.Ready() == nil })
	after := storetest.Sample(3)
	if err := a.Begin(ctx, after); err != nil {
		t.Fatalf("Begin after the restart: %v", err)
	}
	r, err := testStores().OpenReader(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	storetest.Eventually(t, "the outcome kept while down", func() bool {
		got, err := audit.QueryAll(ctx, r, audit.Filter{ID: before.ID})
		return err == nil && len(got) == 1 && got[0].Status == 200
	})
	got, err := audit.QueryAll(ctx, r, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Errorf("%d records, want 2 (the refused call has none): %v", len(got), storetest.IDs(got))
	}
}

var quiet = slog.New(slog.DiscardHandler)
