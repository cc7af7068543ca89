package audit

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit/spool"
	"github.com/sluicehq/sluice/internal/vocab"
)

// v1FixtureRecords are what sqlite/testdata/store-v1.db holds: a SQLite
// store written by the store code of schema version 1 (commit 943f5b2),
// one Write of the inserts and one of the outcomes (the first outcome by
// the rid its insert got), with gw-a's spool cursor at (3, 4567). Tests
// of later code open a copy to check that a store written then reads
// back whole and migrates.
func v1FixtureRecords() (inserts []*Record, outcomes []*Record) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 123_000_000, time.UTC)
	base := func(id string, seq uint64, gw string, at time.Duration) *Record {
		return &Record{ID: id, Seq: seq, Gateway: gw, TimeStart: t0.Add(at), Event: vocab.EventOutboundCall,
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
	d := &Record{ID: "01FIXTURE0000000000000000D", Seq: 4, Gateway: "gw-a", TimeStart: t0.Add(3 * time.Second),
		TimeEnd: t0.Add(13 * time.Second), Event: vocab.EventDNSQuery, IdentitySource: "none", SourceIP: "10.9.9.9",
		Listener: "dns", Kind: "dns", Method: "A", Host: "evil.example", Decision: vocab.DecisionDeny, Enforced: true,
		Reason: "undeclared_destination", Count: 5, DurationMS: 10000}
	e := base("01FIXTURE0000000000000000E", 1, "gw-ü", 4*time.Second)
	e.Decision, e.Enforced, e.Reason = vocab.DecisionDeny, false, "undeclared_destination"
	e.TimeEnd = e.TimeStart.Add(7 * time.Millisecond)
	e.DurationMS, e.Status, e.BytesSent, e.BytesReceived, e.DialedIP, e.TLSVersion = 7, 201, 100, 2000, "192.0.2.7", "TLS1.3"
	e.Meter, e.Cost, e.Currency = "charge", 0.002, "USD"
	inserts = []*Record{a, b, c, d, e}

	ao := *a
	ao.TimeEnd = a.TimeStart.Add(42 * time.Millisecond)
	ao.DurationMS, ao.Status, ao.BytesSent, ao.BytesReceived = 42, 200, 1234, 5678
	ao.DialedIP, ao.TLSVersion, ao.Meter, ao.Cost, ao.Currency = "192.0.2.1", "TLS1.3", "charge", 0.002, "USD"
	f := base("01FIXTURE0000000000000000F", 5, "gw-a", 5*time.Second)
	f.TimeEnd = f.TimeStart.Add(3 * time.Millisecond)
	f.DurationMS, f.Status, f.Reason, f.Error = 3, 0, "upstream_timeout", "dial tcp: i/o timeout"
	f.Currency = "USD"
	outcomes = []*Record{&ao, f}
	return inserts, outcomes
}

// The store fixture reads back as written.
func TestStoreV1Fixture(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	copyFile(t, "sqlite/testdata/store-v1.db", path)
	ctx := context.Background()
	s, err := openSQLite(ctx, path, StoreOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ins, outs := v1FixtureRecords()
	want := map[string]Record{}
	for _, r := range append(ins, outs...) {
		if r.Count == 0 {
			r.Count = 1
		}
		want[r.ID] = public(*r)
	}
	got, err := QueryAll(ctx, s, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for _, r := range got {
		if !reflect.DeepEqual(public(r), want[r.ID]) {
			t.Errorf("%s:\n got %+v\nwant %+v", r.ID, public(r), want[r.ID])
		}
	}
	if cur, err := s.spoolCursor(ctx, "gw-a"); err != nil || cur != (spool.Pos{Seg: 3, Off: 4567}) {
		t.Errorf("cursor %+v %v", cur, err)
	}
}
