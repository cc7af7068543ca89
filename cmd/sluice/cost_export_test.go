package main

import (
	"encoding/csv"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/audit/format"
)

// cost export --format focus writes one FOCUS row per day × workload ×
// destination × meter that had calls, adding up to the cost report.
func TestCostExportFOCUS(t *testing.T) {
	url, _ := auditStore(t)
	out, _, err := run(t, newCostCmd(), "export", "--format", "focus", "--store", url, "--since", "7d", "--account", "acme")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !slices.Equal(rows[0], format.FocusColumns) || len(rows) != 3 {
		t.Fatalf("export:\n%s", out)
	}
	col := func(r []string, name string) string { return r[slices.Index(rows[0], name)] }
	var sum []string
	for _, r := range rows[1:] {
		sum = append(sum, col(r, "SubAccountId")+" "+col(r, "ServiceName")+" "+col(r, "BilledCost")+" "+col(r, "BillingAccountId"))
	}
	slices.Sort(sum)
	if strings.Join(sum, "; ") != "10.0.0.7 api.github.com 0 acme; checkout api.stripe.com 0.5 acme" {
		t.Errorf("rows: %v", sum)
	}
	if _, _, err := run(t, newCostCmd(), "export", "--format", "csv", "--store", url); err == nil {
		t.Error("--format csv accepted")
	}
	if _, _, err := run(t, newCostCmd(), "export", "--format", "focus", "--store", url, "--period", "week"); err == nil {
		t.Error("--period week accepted")
	}
}
