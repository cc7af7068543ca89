package audit

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/vocab"
)

func TestHandler(t *testing.T) {
	h := costHarness(t)
	recs := fixture(t, h)
	r, err := OpenReader(context.Background(), h.url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	srv := httptest.NewServer(NewHandler(r, nil))
	defer srv.Close()

	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes()
	}
	type auditBody struct {
		Records []Record `json:"records"`
		Count   int      `json:"count"`
		Error   string   `json:"error"`
	}
	for _, tc := range []struct {
		path  string
		count int
	}{
		{"/v1/audit", 8},
		{"/v1/audit?limit=0", 8},
		{"/v1/audit?since=24h&host=api.stripe.com", 3},
		{"/v1/audit?decision=deny&limit=2", 2},
		{"/v1/audit?source=10.0.0.3", 2},
		{"/v1/audit?host=nowhere.example", 0},
		{"/v1/audit?id=" + recs["r2"].ID, 1},
	} {
		code, body := get(tc.path)
		var got auditBody
		if err := json.Unmarshal(body, &got); err != nil || code != 200 {
			t.Fatalf("%s: %d %v\n%s", tc.path, code, err, body)
		}
		if len(got.Records) != tc.count || got.Count != tc.count {
			t.Errorf("%s: %d records (count %d), want %d", tc.path, len(got.Records), got.Count, tc.count)
		}
	}
	code, body := get("/v1/audit?id=" + recs["r2"].ID)
	var one auditBody
	_ = json.Unmarshal(body, &one)
	if code != 200 || one.Records[0].Status != 504 || one.Records[0].Reason != "upstream_timeout" {
		t.Errorf("record over the API: %s", body)
	}

	for _, bad := range []string{"/v1/audit?decision=maybe", "/v1/audit?hots=x", "/v1/cost?by=team", "/v1/cost?since=soon"} {
		code, body := get(bad)
		var e struct{ Error string }
		if code != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e.Error == "" {
			t.Errorf("%s: %d %s", bad, code, body)
		}
	}

	code, body = get("/v1/cost?since=720h&by=destination,meter")
	var cost costResponse
	if err := json.Unmarshal(body, &cost); err != nil || code != 200 {
		t.Fatalf("cost: %d %v %s", code, err, body)
	}
	if len(cost.Rows) != 2 || cost.Rows[0].Destination != "api.github.com" || cost.Rows[1].Meter != "charge" ||
		strings.Join(cost.By, ",") != "destination,meter" {
		t.Errorf("cost: %s", body)
	}

	resp, err := http.Post(srv.URL+"/v1/audit", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
	if code, _ := get("/v1/other"); code != http.StatusNotFound {
		t.Errorf("/v1/other: %d", code)
	}
}

func TestRecordWriters(t *testing.T) {
	r := Record{
		ID: "01JDAZ3J8V0000000000000000", Seq: 7, Gateway: "gw-1",
		TimeStart: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC), TimeEnd: time.Date(2026, 11, 21, 12, 0, 0, 42_500_000, time.UTC),
		DurationMS: 42.5, Event: vocab.EventOutboundCall, SourceWorkload: "checkout", SourceIdentity: idCheckout, SourceIP: "10.0.0.1",
		Method: "POST", Host: "api.stripe.com", Port: 443, Path: "/v1/charges", Decision: vocab.DecisionAllow, Enforced: true,
		PolicyRules: []string{"a", "b"}, Status: 200, BytesSent: 10, BytesReceived: 20, Meter: "charge", Cost: 0.002, Currency: "USD", Count: 1,
	}
	open := Record{ID: "01JDAZ3J8V0000000000000001", TimeStart: r.TimeStart, SourceIP: "10.0.0.9", Host: "x.example",
		Decision: vocab.DecisionDeny, Reason: "policy_denied", Enforced: false}

	var b bytes.Buffer
	w, err := NewRecordWriter(&b, FormatTable)
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
	// Columns line up.
	if strings.Index(lines[0], "SOURCE") != strings.Index(lines[1], "checkout") {
		t.Errorf("table not aligned:\n%s", b.String())
	}

	b.Reset()
	w, _ = NewRecordWriter(&b, FormatJSON)
	_ = w.Write(&r)
	_ = w.Write(&open)
	_ = w.Flush()
	lines = strings.Split(strings.TrimSpace(b.String()), "\n")
	var back Record
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &back) != nil || back.Cost != 0.002 || back.Seq != 7 ||
		!back.TimeEnd.Equal(r.TimeEnd) || len(back.PolicyRules) != 2 {
		t.Errorf("json lines:\n%s", b.String())
	}
	var fields map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &fields)
	for _, c := range Columns() {
		if _, ok := fields[c]; !ok {
			t.Errorf("json lacks %s", c)
		}
	}

	b.Reset()
	w, _ = NewRecordWriter(&b, FormatCSV)
	_ = w.Write(&r)
	_ = w.Write(&open)
	_ = w.Flush()
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(rows) != 3 || strings.Join(rows[0], ",") != strings.Join(Columns(), ",") {
		t.Fatalf("csv: %v %v", rows, err)
	}
	col := func(row []string, name string) string {
		for i, c := range Columns() {
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
	rows := []CostRow{
		{Source: "checkout", Meter: "charge", Calls: 3, Bytes: 100, Cost: 0.006, Currency: "USD"},
		{Source: "billing", Calls: 1, Bytes: 5, Cost: 0, Currency: "USD"},
	}
	var b bytes.Buffer
	if err := WriteCost(&b, FormatTable, []string{"source", "meter"}, rows); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "SOURCE") || !strings.Contains(out, "checkout") || !strings.Contains(out, "0.006000") ||
		!strings.Contains(out, "TOTAL") || !strings.Contains(out, "105") {
		t.Errorf("table:\n%s", out)
	}
	b.Reset()
	if err := WriteCost(&b, FormatCSV, []string{"source", "meter"}, rows); err != nil {
		t.Fatal(err)
	}
	if b.String() != "source,meter,calls,bytes,cost,currency\ncheckout,charge,3,100,0.006,USD\nbilling,,1,5,0,USD\n" {
		t.Errorf("csv:\n%s", b.String())
	}
}
