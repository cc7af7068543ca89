package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/sqlite"
	"github.com/sluicehq/sluice/audit/storetest"
	"github.com/sluicehq/sluice/internal/vocab"
)

// now is the handler's clock in the tests: relative times count from it.
var now = storetest.T0.Add(time.Hour)

// fixture writes a small, varied set of records into a SQLite store and
// returns the store and the records by name.
func fixture(t *testing.T) (audit.Reader, map[string]*audit.Record) {
	t.Helper()
	ctx := context.Background()
	gib := int64(1 << 30)
	mk := func(n int, ago time.Duration, host, src string, mod func(*audit.Record)) *audit.Record {
		r := storetest.Ended(storetest.Numbered("gw-1", n, 0), 200)
		r.TimeStart, r.TimeEnd = now.Add(-ago), now.Add(-ago+time.Millisecond)
		r.Host, r.SourceIP, r.Meter, r.Cost = host, src, "", 0
		if mod != nil {
			mod(r)
		}
		return r
	}
	charge := func(cost float64) func(*audit.Record) {
		return func(r *audit.Record) { r.Meter, r.Cost = "charge", cost }
	}
	recs := map[string]*audit.Record{
		"r0": mk(1, time.Hour, "api.stripe.com", "10.0.0.1", charge(0.502)),
		"r1": mk(2, 2*time.Hour, "api.stripe.com", "10.0.0.1", func(r *audit.Record) {
			r.Decision, r.Reason, r.Status = vocab.DecisionDeny, "policy_denied", 0
		}),
		"r2": mk(3, 30*time.Hour, "api.github.com", "10.0.0.2", func(r *audit.Record) {
			r.Status, r.Reason, r.Error, r.BytesReceived, r.Cost = 504, "upstream_timeout", "i/o timeout", 2*gib, 1
		}),
		"r3": mk(4, 10*24*time.Hour, "api.github.com", "10.0.0.3", nil),
		"r4": mk(5, 3*time.Hour, "evil.example", "10.0.0.3", func(r *audit.Record) {
			r.Event, r.Decision, r.Reason, r.Count = vocab.EventDNSQuery, vocab.DecisionDeny, "undeclared_destination", 3
		}),
		"r5": mk(6, 5*time.Hour, "api.stripe.com", "10.0.0.2", func(r *audit.Record) {
			r.Decision, r.Enforced, r.Reason, r.Meter, r.Cost = vocab.DecisionDeny, false, "undeclared_destination", "charge", 0.002
		}),
		"old": mk(7, 40*24*time.Hour, "api.stripe.com", "10.0.0.1", charge(0.002)),
		"ip9": mk(8, 4*time.Hour, "api.github.com", "10.0.0.9", nil),
	}
	stores := &audit.Stores{}
	stores.Register(sqlite.Driver())
	url := "sqlite://" + filepath.Join(t.TempDir(), "audit.db")
	s, err := stores.Open(ctx, url, audit.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	b := &audit.Batch{}
	for _, r := range recs {
		b.Inserts = append(b.Inserts, r)
	}
	if err := s.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	return s, recs
}

func TestHandler(t *testing.T) {
	r, recs := fixture(t)
	srv := httptest.NewServer(New(r, Options{Now: func() time.Time { return now }}))
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
		Records []audit.Record `json:"records"`
		Count   int            `json:"count"`
		Error   string         `json:"error"`
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
