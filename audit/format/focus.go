package format

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/audit"
)

// FOCUS is the format of `sluice cost export --format focus`: FinOps
// FOCUS 1.0 (and later 1.x, whose required columns are a superset of
// these or the same) cost and usage rows, as CSV.
const FOCUS = "focus"

// CostPeriod is the cost report of one charge period (an hour or a day).
type CostPeriod struct {
	Start, End time.Time
	// Rows are grouped by source, destination and meter.
	Rows []audit.CostRow
}

// FocusOptions name the account the rows are billed to.
type FocusOptions struct {
	// BillingAccountID and BillingAccountName name the billing account
	// (`--account`, default "sluice").
	BillingAccountID, BillingAccountName string
}

// FocusColumns are the columns of the export, in order: FOCUS 1.0's
// mandatory columns, the conditional ones Sluice can fill, and one custom
// column (x_ prefix, as FOCUS asks).
var FocusColumns = []string{
	"BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart",
	"ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
	"ConsumedQuantity", "ConsumedUnit", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost",
	"PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "ResourceId", "ResourceName", "ResourceType",
	"ServiceCategory", "ServiceName", "SkuId", "SubAccountId", "SubAccountName", "Tags", "x_Bytes",
}

// focusTime is FOCUS's date-time form: ISO 8601 in UTC with a Z.
const focusTime = "2006-01-02T15:04:05Z"

// WriteFOCUS writes periods as FOCUS CSV, one row per period × workload ×
// destination × meter × currency. Sluice prices calls from its own meters
// (cost.meters, cost.per_gib): there are no discounts or commitments, so
// ListCost = ContractedCost = EffectiveCost = BilledCost; the destination
// is the provider, publisher, invoice issuer, service and resource; the
// workload is the sub-account; the unit is the request. Empty cells are
// FOCUS nulls. A row with no calls is not written.
func WriteFOCUS(w io.Writer, periods []CostPeriod, opts FocusOptions) error {
	if opts.BillingAccountID == "" {
		opts.BillingAccountID = "sluice"
	}
	if opts.BillingAccountName == "" {
		opts.BillingAccountName = opts.BillingAccountID
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(FocusColumns); err != nil {
		return err
	}
	for _, p := range periods {
		bStart := time.Date(p.Start.Year(), p.Start.Month(), 1, 0, 0, 0, 0, time.UTC)
		bEnd := bStart.AddDate(0, 1, 0)
		for _, r := range p.Rows {
			if r.Calls == 0 && r.Cost == 0 {
				continue
			}
			cost := strconv.FormatFloat(r.Cost, 'f', -1, 64)
			calls := strconv.FormatInt(r.Calls, 10)
			tags := map[string]string{"sluice.workload": r.Source, "sluice.destination": r.Destination}
			if r.Meter != "" {
				tags["sluice.meter"] = r.Meter
			}
			tj, err := json.Marshal(tags)
			if err != nil {
				return err
			}
			desc := fmt.Sprintf("%d calls from %s to %s", r.Calls, orNone(r.Source), orNone(r.Destination))
			if r.Meter != "" {
				desc += " (meter " + r.Meter + ")"
			}
			row := map[string]string{
				"BilledCost": cost, "BillingAccountId": opts.BillingAccountID, "BillingAccountName": opts.BillingAccountName,
				"BillingCurrency": r.Currency, "BillingPeriodEnd": bEnd.Format(focusTime), "BillingPeriodStart": bStart.Format(focusTime),
				"ChargeCategory": "Usage", "ChargeClass": "", "ChargeDescription": desc, "ChargeFrequency": "Usage-Based",
				"ChargePeriodEnd": p.End.UTC().Format(focusTime), "ChargePeriodStart": p.Start.UTC().Format(focusTime),
				"ConsumedQuantity": calls, "ConsumedUnit": "Requests", "ContractedCost": cost, "EffectiveCost": cost,
				"InvoiceIssuerName": orNone(r.Destination), "ListCost": cost, "PricingQuantity": calls, "PricingUnit": "Requests",
				"ProviderName": orNone(r.Destination), "PublisherName": orNone(r.Destination), "ResourceId": r.Destination,
				"ResourceName": r.Destination, "ResourceType": "External API", "ServiceCategory": "Other",
				"ServiceName": orNone(r.Destination), "SkuId": r.Meter, "SubAccountId": r.Source, "SubAccountName": r.Source,
				"Tags": string(tj), "x_Bytes": strconv.FormatInt(r.Bytes, 10),
			}
			cells := make([]string, len(FocusColumns))
			for i, c := range FocusColumns {
				cells[i] = row[c]
			}
			if err := cw.Write(cells); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
