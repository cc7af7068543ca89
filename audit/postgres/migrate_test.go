package postgres

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/sqlplan"
	"github.com/sluicehq/sluice/audit/storetest"
	"github.com/sluicehq/sluice/internal/vocab"
)

// v1Database creates, in a fresh database, the store as the first
// schema's code made and wrote it (testdata/schema-v1.sql), and returns
// its URL.
func v1Database(t *testing.T) string {
	t.Helper()
	url := pgTestURL(t)
	ddl, err := os.ReadFile("testdata/schema-v1.sql")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, string(ddl)); err != nil {
		t.Fatal(err)
	}
	return url
}

// v1Records are the records testdata/schema-v1.sql holds.
func v1Records() map[string]audit.Record {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	call := audit.Record{ID: "01FIXTURE0000000000000000A", Seq: 1, Gateway: "gw-a", TimeStart: t0.Add(123456 * time.Microsecond),
		TimeEnd: t0.Add(165 * time.Millisecond), DurationMS: 41.544, Event: vocab.EventOutboundCall,
		SourceIdentity: storetest.IDCheckout, IdentitySource: vocab.IdentityMTLS, SourceIP: "10.1.2.3", SourceWorkload: "checkout",
		Listener: vocab.ListenerProxy, Kind: vocab.KindHTTP, Method: "POST", Host: "api.stripe.com", Port: 443, Path: "/v1/charges",
		SNI: "api.stripe.com", ServiceEntry: "payments/stripe", DialedIP: "192.0.2.1", TLSOriginated: true, TLSVersion: "TLS1.3",
		Decision: vocab.DecisionAllow, Enforced: true, PolicyRules: []string{"allow_payments"}, Status: 200,
		BytesSent: 1234, BytesReceived: 5678, Meter: "charge", Cost: 0.002, Currency: "USD",
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Count: 1}
	open := audit.Record{ID: "01FIXTURE0000000000000000B", Seq: 2, Gateway: "gw-a", TimeStart: t0.Add(1123 * time.Millisecond),
		Event: vocab.EventOutboundCall, SourceIdentity: storetest.IDCheckout, IdentitySource: vocab.IdentityMTLS,
		SourceIP: "10.1.2.3", SourceWorkload: "checkout", Listener: vocab.ListenerProxy, Kind: vocab.KindConnect,
		Method: "CONNECT", Host: "api.github.com", Port: 443, ServiceEntry: "payments/stripe",
		Decision: vocab.DecisionAllow, Enforced: true, PolicyRules: []string{"allow_payments"}, Count: 1}
	dns := audit.Record{ID: "01FIXTURE0000000000000000D", Seq: 3, Gateway: "gw-a", TimeStart: t0.Add(3123 * time.Millisecond),
		TimeEnd: t0.Add(13123 * time.Millisecond), DurationMS: 10000, Event: vocab.EventDNSQuery, IdentitySource: vocab.IdentityNone,
		SourceIP: "10.9.9.9", Listener: vocab.ListenerDNS, Kind: vocab.KindDNS, Method: "A", Host: "evil.example",
		Decision: vocab.DecisionDeny, Enforced: true, Reason: "undeclared_destination", Count: 5}
	return map[string]audit.Record{call.ID: call, open.ID: open, dns.ID: dns}
}

// The database the first schema's code wrote reads back whole; with
// columns added to the record schema since (storetest.ExtraColumns) it
// gains them when opened for writing, reads them as zero when opened
// read-only and not migrated, and keeps them for new records.
func TestMigrationAddsColumns(t *testing.T) {
	cols := storetest.WithExtra()
	url := v1Database(t)
	for _, tc := range []struct {
		name string
		opts audit.StoreOptions
		as   func(audit.Record) audit.Record
	}{
		{"as written", audit.StoreOptions{ReadOnly: true}, nil},
		{"read-only with the new columns", audit.StoreOptions{ReadOnly: true, Columns: cols}, storetest.WithoutExtra},
		{"migrated", audit.StoreOptions{Columns: cols}, storetest.WithoutExtra},
		{"migrated, again", audit.StoreOptions{Columns: cols}, storetest.WithoutExtra},
		{"migrated, read by the schema without the columns", audit.StoreOptions{ReadOnly: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Logger = quiet
			s, err := openPostgres(t.Context(), url, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			storetest.CheckRecords(t, s, v1Records(), tc.as)
			if tc.opts.ReadOnly {
				return
			}
			for _, rel := range []string{"decisions", "records"} {
				have, err := sqlplan.ColumnsOf(t.Context(), dialect{}, s.query(s.r), rel)
				if err != nil || !have["x_decision"] || !have["x_outcome"] || !have["x_time"] || !have["rid"] {
					t.Errorf("%s after the migration: %v %v", rel, have, err)
				}
			}
			if open, err := s.OpenRecords(t.Context(), "gw-a"); err != nil || len(open) != 1 {
				t.Errorf("open records: %v %v", storetest.IDs(open), err)
			}
			// The console's indexes, which the first schema lacked.
			for _, ix := range consoleIndexes {
				var n int
				if err := s.r.QueryRow(t.Context(), "SELECT count(*) FROM pg_indexes WHERE indexname = $1", ix).Scan(&n); err != nil || n != 1 {
					t.Errorf("index %s after the migration: %d %v", ix, n, err)
				}
			}
		})
	}
	s, err := openPostgres(t.Context(), url, audit.StoreOptions{Logger: quiet, Columns: cols})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckNewRecords(t, s, "gw-a")
}
