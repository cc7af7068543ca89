package e2e

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pgtest"
)

// Two gateways run as stateless replicas with their records in one real
// PostgreSQL database: calls through either are on record, each under its
// gateway id, and `sluice audit query --store postgres://…` (or either
// replica's admin API) sees them all.
func TestReplicasShareAPostgreSQLStore(t *testing.T) {
	srv := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := srv.NewDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	up := startUpstream(t)
	cfg := fmt.Sprintf("audit: {store: %q}\n", db)
	files := map[string]string{"registry/api.yaml": staticSE("api", "api.test.example", 80, "HTTP", up.Port)}
	a := StartGateway(t, Options{Config: cfg, Files: files, Env: []string{"SLUICE_GATEWAY_ID=replica-a"}})
	b := StartGateway(t, Options{Config: cfg, Files: files, Env: []string{"SLUICE_GATEWAY_ID=replica-b"}})

	const n = 5
	for i := 0; i < n; i++ {
		for _, g := range []*Gateway{a, b} {
			status, _, serr, _ := curl(t, "-x", "http://"+g.Proxy, fmt.Sprintf("http://api.test.example/call/%d", i))
			if status != 200 {
				t.Fatalf("call %d through %s: %d %s", i, g.Proxy, status, serr)
			}
		}
	}
	if status, _, _, _ := curl(t, "-x", "http://"+a.Proxy, "http://undeclared.test.example/"); status != 403 {
		t.Fatalf("undeclared host: %d, want 403", status)
	}

	recs, out := queryRecords(t, a, "--store", db)
	perGateway := map[string]int{}
	denied := 0
	for _, r := range recs {
		if r.str("host") == "api.test.example" && r.num("status") == 200 && r.str("time_end") != "" {
			perGateway[r.str("gateway")]++
		}
		if r.str("reason") == "undeclared_destination" {
			denied++
		}
	}
	if perGateway["replica-a"] != n || perGateway["replica-b"] != n || denied != 1 {
		t.Fatalf("records per gateway %v and %d denial, want %d each and 1\n%s", perGateway, denied, n, out)
	}
	// Either replica's admin API answers for both.
	if recs := records(t, b, url.Values{}); len(recs) != 2*n+1 {
		t.Errorf("replica b's /v1/audit has %d records, want %d", len(recs), 2*n+1)
	}
	// The store is shared, the spool is not: replay refuses a postgres store.
	if out, code := a.Run("audit", "replay", "--store", db); code == 0 || !strings.Contains(out, "has no spools") {
		t.Errorf("audit replay on postgres: exit %d\n%s", code, out)
	}
}
