package format

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
)

// focusMandatory are the columns FOCUS 1.0 makes mandatory, and whether a
// value may be null (empty) in them.
var focusMandatory = map[string]bool{
	"BilledCost": false, "BillingAccountId": false, "BillingAccountName": true, "BillingCurrency": false,
	"BillingPeriodEnd": false, "BillingPeriodStart": false, "ChargeCategory": false, "ChargeClass": true,
	"ChargeDescription": true, "ChargePeriodEnd": false, "ChargePeriodStart": false, "ContractedCost": false,
	"EffectiveCost": false, "InvoiceIssuerName": false, "ListCost": false, "PricingQuantity": true, "PricingUnit": true,
	"ProviderName": false, "PublisherName": false, "ServiceCategory": false, "ServiceName": false,
}

// The export has FOCUS's mandatory columns and keeps its value rules:
// decimals, ISO 4217 currencies, UTC date-times with the charge period
// inside the billing period, the allowed values of ChargeCategory,
// ChargeFrequency and ServiceCategory, Tags a JSON object of strings, no
// discounts (every cost column equal), custom columns prefixed x_.
func TestFOCUSExport(t *testing.T) {
	h := time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)
	periods := []CostPeriod{
		{Start: h, End: h.Add(time.Hour), Rows: []audit.CostRow{
			{Source: "checkout", Destination: "api.stripe.com", Meter: "charge", Calls: 3, Bytes: 300, Cost: 0.006, Currency: "USD"},
			{Source: "10.0.0.7", Destination: "api.github.com", Calls: 2, Bytes: 1 << 30, Cost: 0.09, Currency: "EUR"},
		}},
		{Start: h.Add(time.Hour), End: h.Add(2 * time.Hour), Rows: []audit.CostRow{
			{Source: "checkout", Destination: "api.stripe.com", Meter: "charge", Calls: 1, Cost: 0.002, Currency: "USD"},
			{Source: "idle", Destination: "x.example", Currency: "USD"}, // no calls: no row
		}},
	}
	var b bytes.Buffer
	if err := WriteFOCUS(&b, periods, FocusOptions{BillingAccountID: "acme-egress"}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := rows[0]
	for c := range focusMandatory {
		if !slices.Contains(head, c) {
			t.Errorf("mandatory column %s missing", c)
		}
	}
	for _, c := range head {
		if _, std := focusMandatory[c]; !std && !slices.Contains(FocusColumns, c) {
			t.Errorf("column %s unknown", c)
		}
		if c[0] == 'x' && c[:2] != "x_" {
			t.Errorf("custom column %s lacks the x_ prefix", c)
		}
	}
	if len(rows) != 4 {
		t.Fatalf("want 3 rows (the empty group left out), got %d:\n%s", len(rows)-1, b.String())
	}
	col := func(r []string, name string) string { return r[slices.Index(head, name)] }
	utc := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`)
	iso4217 := regexp.MustCompile(`^[A-Z]{3}$`)
	serviceCategories := []string{"AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases",
		"Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things", "Management and Governance", "Media",
		"Migration", "Mobile", "Networking", "Security", "Storage", "Web", "Other"}
	var total float64
	for _, r := range rows[1:] {
		for c, nullable := range focusMandatory {
			if !nullable && col(r, c) == "" {
				t.Errorf("%s is null: %v", c, r)
			}
		}
		billed, err := strconv.ParseFloat(col(r, "BilledCost"), 64)
		if err != nil {
			t.Errorf("BilledCost %q", col(r, "BilledCost"))
		}
		total += billed
		for _, c := range []string{"EffectiveCost", "ListCost", "ContractedCost"} {
			if col(r, c) != col(r, "BilledCost") {
				t.Errorf("%s %s differs from BilledCost %s (no discounts)", c, col(r, c), col(r, "BilledCost"))
			}
		}
		if !iso4217.MatchString(col(r, "BillingCurrency")) {
			t.Errorf("BillingCurrency %q", col(r, "BillingCurrency"))
		}
		times := map[string]time.Time{}
		for _, c := range []string{"BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"} {
			if !utc.MatchString(col(r, c)) {
				t.Errorf("%s %q is not an ISO 8601 UTC date-time", c, col(r, c))
			}
			times[c], _ = time.Parse(time.RFC3339, col(r, c))
		}
		if !times["ChargePeriodStart"].Before(times["ChargePeriodEnd"]) || times["ChargePeriodStart"].Before(times["BillingPeriodStart"]) ||
			times["ChargePeriodEnd"].After(times["BillingPeriodEnd"]) {
			t.Errorf("charge period outside the billing period: %v", times)
		}
		if col(r, "ChargeCategory") != "Usage" || col(r, "ChargeFrequency") != "Usage-Based" || col(r, "ChargeClass") != "" {
			t.Errorf("charge category/frequency/class: %v", r)
		}
		if !slices.Contains(serviceCategories, col(r, "ServiceCategory")) {
			t.Errorf("ServiceCategory %q", col(r, "ServiceCategory"))
		}
		var tags map[string]string
		if err := json.Unmarshal([]byte(col(r, "Tags")), &tags); err != nil || tags["sluice.workload"] != col(r, "SubAccountId") {
			t.Errorf("Tags %q: %v", col(r, "Tags"), err)
		}
		if q, err := strconv.ParseFloat(col(r, "ConsumedQuantity"), 64); err != nil || q <= 0 || col(r, "ConsumedUnit") == "" {
			t.Errorf("consumed quantity %q unit %q", col(r, "ConsumedQuantity"), col(r, "ConsumedUnit"))
		}
		if col(r, "BillingAccountId") != "acme-egress" || col(r, "BillingAccountName") != "acme-egress" {
			t.Errorf("billing account: %v", r)
		}
	}
	// The hour of 30 November is billed in November; the next in December.
	if col(rows[1], "BillingPeriodStart") != "2026-11-01T00:00:00Z" || col(rows[3], "BillingPeriodStart") != "2026-12-01T00:00:00Z" {
		t.Errorf("billing periods: %s, %s", col(rows[1], "BillingPeriodStart"), col(rows[3], "BillingPeriodStart"))
	}
	if total < 0.0979 || total > 0.0981 {
		t.Errorf("total billed %v, want 0.098", total)
	}
}
