package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/httpapi"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/spf13/cobra"
)

// auditStore writes a few records and returns the store URL and their IDs.
func auditStore(t *testing.T) (string, []string) {
	t.Helper()
	url := "sqlite://" + filepath.Join(t.TempDir(), "audit.db")
	ctx := context.Background()
	a, err := audit.Open(ctx, audit.Options{
		Stores:  stores(),
		Config:  config.Audit{Store: url},
		Cost:    config.Cost{Currency: "USD", Meters: []config.Meter{{Name: "charge", Host: "api.stripe.com", Method: "POST", PerRequest: 0.5}}},
		Gateway: "gw-test",
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var ids []string
	for i, r := range []audit.Record{
		{TimeStart: now.Add(-time.Hour), SourceWorkload: "checkout", Host: "api.stripe.com", Port: 443, Method: "POST", Path: "/v1/charges", Decision: "allow", Enforced: true},
		{TimeStart: now.Add(-2 * time.Hour), SourceWorkload: "checkout", Host: "api.stripe.com", Port: 443, Method: "POST", Decision: "deny", Enforced: true, Reason: "policy_denied"},
		{TimeStart: now.Add(-48 * time.Hour), SourceIP: "10.0.0.7", Host: "api.github.com", Port: 443, Method: "GET", Decision: "allow", Enforced: true},
	} {
		if i == 1 {
			if err := a.Complete(ctx, &r); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := a.Begin(ctx, &r); err != nil {
				t.Fatal(err)
			}
			r.Status = 200
			a.End(&r)
		}
		ids = append(ids, r.ID)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return url, ids
}

func run(t *testing.T, cmd *cobra.Command, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestAuditQueryFromStore(t *testing.T) {
	url, ids := auditStore(t)
	out, _, err := run(t, newAuditCmd(), "query", "--store", url)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(lines[1], ids[0]) || !strings.Contains(lines[3], ids[2]) {
		t.Fatalf("table:\n%s", out)
	}

	out, _, err = run(t, newAuditCmd(), "query", "--store", url, "--since", "24h", "--decision", "deny", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var r audit.Record
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.ID != ids[1] || r.Reason != "policy_denied" {
		t.Fatalf("json: %v\n%s", err, out)
	}

	out, _, err = run(t, newAuditCmd(), "query", "--store", url, "--host", "api.github.com", "--format", "csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 2 || rows[0][0] != "id" || rows[1][0] != ids[2] {
		t.Fatalf("csv: %v\n%s", err, out)
	}

	_, stderr, err := run(t, newAuditCmd(), "query", "--store", url, "--limit", "1")
	if err != nil || !strings.Contains(stderr, "all: --limit 0") || !strings.Contains(stderr, "next page: --after "+ids[0]) {
		t.Errorf("limit note: %v %q", err, stderr)
	}
	// The next page, by cursor.
	out, _, err = run(t, newAuditCmd(), "query", "--store", url, "--limit", "1", "--after", ids[0], "--format", "json")
	if err != nil || !strings.Contains(out, ids[1]) || strings.Count(out, "\n") != 1 {
		t.Errorf("--after: %v\n%s", err, out)
	}
	// An empty answer says so.
	out, stderr, err = run(t, newAuditCmd(), "query", "--store", url, "--host", "nowhere.example", "--tz", "UTC")
	if err != nil || strings.Count(out, "\n") != 1 || !strings.Contains(stderr, "no records match host nowhere.example") {
		t.Errorf("empty answer: %v %q %q", err, out, stderr)
	}
	if _, _, err := run(t, newAuditCmd(), "query", "--store", url, "--tz", "Mars/Olympus"); err == nil {
		t.Error("--tz Mars/Olympus accepted")
	}

	for _, bad := range [][]string{
		{"--decision", "maybe"},
		{"--since", "soon"},
		{"--format", "xml"},
		{"--store", url, "--server", "http://127.0.0.1:1"},
	} {
		args := append([]string{"query", "--store", url}, bad...)
		if bad[0] == "--store" {
			args = append([]string{"query"}, bad...)
		}
		if _, _, err := run(t, newAuditCmd(), args...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if _, _, err := run(t, newAuditCmd(), "query", "--store", "sqlite://"+filepath.Join(t.TempDir(), "none.db")); err == nil ||
		!strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing store: %v", err)
	}
}

// Without --store, audit.store of the config file (-c) is read.
func TestAuditQueryFromConfig(t *testing.T) {
	url, ids := auditStore(t)
	cfg := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(cfg, []byte("audit:\n  store: "+url+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, newAuditCmd(), "query", "-c", cfg, "--source", "10.0.0.7", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, ids[2]) || strings.Count(out, "\n") != 1 {
		t.Fatalf("query via config:\n%s", out)
	}
}

func TestAuditAndCostThroughServer(t *testing.T) {
	url, ids := auditStore(t)
	r, err := stores().OpenReader(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := httpapi.New(r, httpapi.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, req)
	}))
	defer srv.Close()

	out, _, err := run(t, newAuditCmd(), "query", "--server", srv.URL, "--token", "s3cret", "--format", "json", "--source", "checkout")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimSpace(out), "\n"); len(got) != 2 || !strings.Contains(got[0], ids[0]) {
		t.Fatalf("query via server:\n%s", out)
	}
	if _, _, err := run(t, newAuditCmd(), "query", "--server", srv.URL, "--token", "wrong"); err == nil ||
		!strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "unauthorized") {
		t.Errorf("bad token: %v", err)
	}

	out, _, err = run(t, newCostCmd(), "report", "--server", srv.URL, "--token", "s3cret", "--by", "destination,meter", "--format", "csv")
	if err != nil {
		t.Fatal(err)
	}
	if out != "destination,meter,calls,bytes,cost,currency\napi.stripe.com,charge,1,0,0.5,USD\napi.github.com,,1,0,0,USD\n" {
		t.Errorf("cost via server:\n%s", out)
	}
	local, _, err := run(t, newCostCmd(), "report", "--store", url, "--by", "destination,meter", "--format", "csv")
	if err != nil || local != out {
		t.Errorf("cost from the store differs from the server's: %v\n%s", err, local)
	}
}

func TestCostReportTable(t *testing.T) {
	url, _ := auditStore(t)
	out, _, err := run(t, newCostCmd(), "report", "--store", url, "--since", "720h")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "SOURCE") || !strings.Contains(out, "checkout") || !strings.Contains(out, "10.0.0.7") ||
		!strings.Contains(out, "TOTAL") {
		t.Errorf("table:\n%s", out)
	}
	out, _, err = run(t, newCostCmd(), "report", "--store", url, "--since", "24h", "--by", "")
	if err != nil || !strings.Contains(out, "0.500000") {
		t.Errorf("total since 24h: %v\n%s", err, out)
	}
	if _, _, err := run(t, newCostCmd(), "report", "--store", url, "--by", "team"); err == nil {
		t.Error("--by team accepted")
	}
}
