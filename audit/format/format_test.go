package format

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/storetest"
	"github.com/sluicehq/sluice/internal/vocab"
)

func TestRecordWriters(t *testing.T) {
	r := audit.Record{
		ID: "01JDAZ3J8V0000000000000000", Seq: 7, Gateway: "gw-1",
		TimeStart: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC), TimeEnd: time.Date(2026, 11, 21, 12, 0, 0, 42_500_000, time.UTC),
		DurationMS: 42.5, Event: vocab.EventOutboundCall, SourceWorkload: "checkout", SourceIdentity: storetest.IDCheckout, SourceIP: "10.0.0.1",
		Method: "POST", Host: "api.stripe.com", Port: 443, Path: "/v1/charges", Decision: vocab.DecisionAllow, Enforced: true,
		PolicyRules: []string{"a", "b"}, Status: 200, BytesSent: 10, BytesReceived: 20, Meter: "charge", Cost: 0.002, Currency: "USD", Count: 1,
	}
	open := audit.Record{ID: "01JDAZ3J8V0000000000000001", TimeStart: r.TimeStart, SourceIP: "10.0.0.9", Host: "x.example",
		Decision: vocab.DecisionDeny, Reason: "policy_denied", Enforced: false}

	var b bytes.Buffer
	w, err := NewRecordWriter(&b, Table)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Write(&r)
	_ = w.Write(&open)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME") ||
		!strings.Contains(lines[1], "checkout") || !strings.Contains(lines[1], "api.stripe.com:443/v1/charges") ||
		!strings.Contains(lines[1], "42.5ms") || !strings.Contains(lines[1], "0.002 USD") ||
		!strings.Contains(lines[2], "deny(report)") || !strings.Contains(lines[2], "policy_denied") {
		t.Errorf("table:\n%s", b.String())
	}
	// audit.Columns line up.
	if strings.Index(lines[0], "SOURCE") != strings.Index(lines[1], "checkout") {
		t.Errorf("table not aligned:\n%s", b.String())
	}

	b.Reset()
	w, _ = NewRecordWriter(&b, JSON)
	_ = w.Write(&r)
	_ = w.Write(&open)
	_ = w.Flush()
	lines = strings.Split(strings.TrimSpace(b.String()), "\n")
	var back audit.Record
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &back) != nil || back.Cost != 0.002 || back.Seq != 7 ||
		!back.TimeEnd.Equal(r.TimeEnd) || len(back.PolicyRules) != 2 {
		t.Errorf("json lines:\n%s", b.String())
	}
	var fields map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &fields)
	for _, c := range audit.Columns() {
		if _, ok := fields[c]; !ok {
			t.Errorf("json lacks %s", c)
		}
	}

	b.Reset()
	w, _ = NewRecordWriter(&b, CSV)
	_ = w.Write(&r)
	_ = w.Write(&open)
	_ = w.Flush()
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(rows) != 3 || strings.Join(rows[0], ",") != strings.Join(audit.Columns(), ",") {
		t.Fatalf("csv: %v %v", rows, err)
	}
	col := func(row []string, name string) string {
		for i, c := range audit.Columns() {
			if c == name {
				return row[i]
			}
		}
		return "?"
	}
	if col(rows[1], "time_start") != "2026-11-21T12:00:00.000Z" || col(rows[1], "policy_rules") != `["a","b"]` ||
		col(rows[1], "cost") != "0.002" || col(rows[1], "enforced") != "true" || col(rows[2], "time_end") != "" {
		t.Errorf("csv rows: %v", rows[1:])
	}

	if _, err := NewRecordWriter(&b, "xml"); err == nil {
		t.Error("xml accepted")
	}
}

func TestWriteCost(t *testing.T) {
	rows := []audit.CostRow{
		{Source: "checkout", Meter: "charge", Calls: 3, Bytes: 100, Cost: 0.006, Currency: "USD"},
		{Source: "billing", Calls: 1, Bytes: 5, Cost: 0, Currency: "USD"},
	}
	var b bytes.Buffer
	if err := WriteCost(&b, Table, []string{"source", "meter"}, rows); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "SOURCE") || !strings.Contains(out, "checkout") || !strings.Contains(out, "0.006000") ||
		!strings.Contains(out, "TOTAL") || !strings.Contains(out, "105") {
		t.Errorf("table:\n%s", out)
	}
	b.Reset()
	if err := WriteCost(&b, CSV, []string{"source", "meter"}, rows); err != nil {
		t.Fatal(err)
	}
	if b.String() != "source,meter,calls,bytes,cost,currency\ncheckout,charge,3,100,0.006,USD\nbilling,,1,5,0,USD\n" {
		t.Errorf("csv:\n%s", b.String())
	}
}
