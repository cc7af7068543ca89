package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/spool"
	"github.com/sluicehq/sluice/audit/sqlplan"
	"github.com/sluicehq/sluice/audit/storetest"
	"github.com/sluicehq/sluice/internal/vocab"
)

// v1FixtureRecords are what sqlite/testdata/store-v1.db holds: a SQLite
// store written by the store code of schema version 1 (commit 943f5b2),
// one Write of the inserts and one of the outcomes (the first outcome by
// the rid its insert got), with gw-a's spool cursor at (3, 4567). Tests
// of later code open a copy to check that a store written then reads
// back whole and migrates.
func v1FixtureRecords() (inserts []*audit.Record, outcomes []*audit.Record) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 123_000_000, time.UTC)
	base := func(id string, seq uint64, gw string, at time.Duration) *audit.Record {
		return &audit.Record{ID: id, Seq: seq, Gateway: gw, TimeStart: t0.Add(at), Event: vocab.EventOutboundCall,
			SourceIdentity: "spiffe://cluster.local/ns/shop/sa/checkout", IdentitySource: "mtls", SourceIP: "10.1.2.3",
			SourceWorkload: "checkout", Listener: "proxy", Kind: "http", Method: "POST", Host: "api.stripe.com", Port: 443,
			Path: "/v1/charges", SNI: "api.stripe.com", ServiceEntry: "payments/stripe", TLSOriginated: true,
			Decision: vocab.DecisionAllow, Enforced: true, PolicyRules: []string{"allow_payments"}, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}
	}
	a := base("01FIXTURE0000000000000000A", 1, "gw-a", 0)
	b := base("01FIXTURE0000000000000000B", 2, "gw-a", time.Second)
	b.Host, b.Path, b.Method, b.Kind = "api.github.com", "", "CONNECT", "connect"
	c := base("01FIXTURE0000000000000000C", 3, "gw-a", 2*time.Second)
	c.Decision, c.Reason, c.PolicyRules = vocab.DecisionDeny, "policy_denied", []string{`no "pay"`, "second"}
	c.TimeEnd, c.TLSOriginated = c.TimeStart, false
	d := &audit.Record{ID: "01FIXTURE0000000000000000D", Seq: 4, Gateway: "gw-a", TimeStart: t0.Add(3 * time.Second),
		TimeEnd: t0.Add(13 * time.Second), Event: vocab.EventDNSQuery, IdentitySource: "none", SourceIP: "10.9.9.9",
		Listener: "dns", Kind: "dns", Method: "A", Host: "evil.example", Decision: vocab.DecisionDeny, Enforced: true,
		Reason: "undeclared_destination", Count: 5, DurationMS: 10000}
	e := base("01FIXTURE0000000000000000E", 1, "gw-ü", 4*time.Second)
	e.Decision, e.Enforced, e.Reason = vocab.DecisionDeny, false, "undeclared_destination"
	e.TimeEnd = e.TimeStart.Add(7 * time.Millisecond)
	e.DurationMS, e.Status, e.BytesSent, e.BytesReceived, e.DialedIP, e.TLSVersion = 7, 201, 100, 2000, "192.0.2.7", "TLS1.3"
	e.Meter, e.Cost, e.Currency = "charge", 0.002, "USD"
	inserts = []*audit.Record{a, b, c, d, e}

	ao := *a
	ao.TimeEnd = a.TimeStart.Add(42 * time.Millisecond)
	ao.DurationMS, ao.Status, ao.BytesSent, ao.BytesReceived = 42, 200, 1234, 5678
	ao.DialedIP, ao.TLSVersion, ao.Meter, ao.Cost, ao.Currency = "192.0.2.1", "TLS1.3", "charge", 0.002, "USD"
	f := base("01FIXTURE0000000000000000F", 5, "gw-a", 5*time.Second)
	f.TimeEnd = f.TimeStart.Add(3 * time.Millisecond)
	f.DurationMS, f.Status, f.Reason, f.Error = 3, 0, "upstream_timeout", "dial tcp: i/o timeout"
	f.Currency = "USD"
	outcomes = []*audit.Record{&ao, f}
	return inserts, outcomes
}

// openFixture opens a copy of testdata/store-v1.db with the columns cols
// (nil: the schema's).
func openFixture(t *testing.T, cols []audit.Column, readOnly bool) (*store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.db")
	b, err := os.ReadFile("testdata/store-v1.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	s, err := openSQLite(context.Background(), path, audit.StoreOptions{Logger: quiet, Columns: cols, ReadOnly: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// fixtureWant is what the fixture's records read as: each written record
// with the outcome it got, count at least 1.
func fixtureWant() map[string]audit.Record {
	ins, outs := v1FixtureRecords()
	want := map[string]audit.Record{}
	for _, r := range append(ins, outs...) {
		if r.Count == 0 {
			r.Count = 1
		}
		want[r.ID] = storetest.Public(*r)
	}
	return want
}

// The store the first schema's code wrote reads back whole, with its
// spool cursor, and takes new records.
func TestStoreV1Fixture(t *testing.T) {
	for _, readOnly := range []bool{true, false} {
		s, _ := openFixture(t, nil, readOnly)
		storetest.CheckRecords(t, s, fixtureWant(), nil)
		curs, err := s.SpoolCursors(t.Context())
		if err != nil || len(curs) != 1 || curs["gw-a"] != (spool.Pos{Seg: 3, Off: 4567}) {
			t.Errorf("cursors %+v %v", curs, err)
		}
		if !readOnly {
			storetest.CheckNewRecords(t, s, "gw-a")
		}
	}
}

// Adding a field to the record is one entry in the column table: the
// store written before gains the column (see storetest.ExtraColumns).
func TestMigrationAddsColumns(t *testing.T) {
	cols := storetest.WithExtra()
	t.Run("read-only", func(t *testing.T) {
		s, _ := openFixture(t, cols, true)
		storetest.CheckRecords(t, s, fixtureWant(), storetest.WithoutExtra)
	})
	s, path := openFixture(t, cols, false)
	storetest.CheckRecords(t, s, fixtureWant(), storetest.WithoutExtra)
	for table, col := range map[string]string{"decisions": "x_decision", "outcomes": "x_outcome", "records": "x_time"} {
		have, err := sqlplan.ColumnsOf(t.Context(), dialect{}, sqlplan.DBQuerier(s.conn), table)
		if err != nil || !have[col] || !have["rid"] {
			t.Errorf("%s lacks %s after the migration: %v %v", table, col, have, err)
		}
	}
	storetest.CheckNewRecords(t, s, "gw-a")
	s.Close()
	// Opened again, nothing changes, and the schema version stays (added
	// columns do not change it); today's schema still reads the store
	// (a downgrade), ignoring the new columns.
	for _, tc := range []struct {
		cols     []audit.Column
		readOnly bool
	}{{cols, false}, {nil, true}} {
		s, err := openSQLite(t.Context(), path, audit.StoreOptions{Logger: quiet, Columns: tc.cols, ReadOnly: tc.readOnly})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := audit.QueryAll(t.Context(), s, audit.Filter{}); err != nil || len(got) != len(fixtureWant())+2 {
			t.Errorf("reopened (read-only %v): %d records, %v", tc.readOnly, len(got), err)
		}
		r, _ := s.reader()
		var v int
		if err := r.QueryRowContext(t.Context(), "PRAGMA user_version").Scan(&v); err != nil || v != schemaVersion {
			t.Errorf("user_version %d %v", v, err)
		}
		s.Close()
	}
}
