// Package storetest is the conformance suite of audit stores: every store
// registered in cmd/sluice/stores.go runs Run in its own tests, against a
// real instance (SQLite in a temp dir, PostgreSQL on a server the tests
// start), so that the Auditor can rely on the same behaviour from each
// (docs/contract.md §8). It also has the sample records the audit tests
// share.
package storetest

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/audit"
)

// Subject is a store under test.
type Subject struct {
	// Open opens a fresh, empty store for one case and returns its URL.
	Open func(t *testing.T) (audit.Store, string)
	// Driver opens the store at a URL again (read-only).
	Driver audit.Driver
	// KeepsNothing: the store discards everything (discard://); only
	// that it accepts every write and answers every query with nothing
	// is checked.
	KeepsNothing bool
}

// cases are run against every store that keeps records.
var cases = []struct {
	name string
	run  func(t *testing.T, s audit.Store, reopen func() (audit.Store, error))
}{
	{"WriteOpenOutcomesWhole", caseWrite},
	{"RowRefs", caseRowRefs},
	{"QueryFilters", caseQuery},
	{"ConsoleFiltersAndCursor", caseConsoleFilters},
	{"CostCountsWhatWentOut", caseCostCountsWhatWentOut},
	{"Prune", casePrune},
	{"Cost", caseCost},
	{"CostRollup", caseCostRollup},
	{"ReadOnly", caseReadOnly},
	// and "Log" (log_cases.go), for stores that keep transparency logs.
}

// Run runs the conformance cases against sub, each on a fresh store.
func Run(t *testing.T, sub Subject) {
	if sub.KeepsNothing {
		t.Run("KeepsNothing", func(t *testing.T) {
			s, _ := sub.Open(t)
			caseKeepsNothing(t, s)
		})
		return
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, url := sub.Open(t)
			reopen := func() (audit.Store, error) {
				return sub.Driver.Open(context.Background(), url, audit.StoreOptions{ReadOnly: true})
			}
			c.run(t, s, reopen)
		})
	}
	t.Run("Log", func(t *testing.T) { caseLog(t, sub) })
}

// costOf is the reference semantics of a cost report over recs: the calls
// that went out and ended, started in q's range, grouped by q.By and
// currency, in report order.
func costOf(recs []*audit.Record, q audit.CostQuery) []audit.CostRow {
	sums := map[audit.CostRow]*audit.CostRow{}
	var keys []audit.CostRow
	for _, r := range recs {
		if r.TimeEnd.IsZero() || !r.WentOut() ||
			(!q.Since.IsZero() && r.TimeStart.Before(q.Since)) || (!q.Until.IsZero() && !r.TimeStart.Before(q.Until)) {
			continue
		}
		k := audit.CostRow{Currency: r.Currency}
		for _, b := range q.By {
			switch b {
			case "source":
				k.Source = r.Source()
			case "destination":
				k.Destination = r.Host
			case "meter":
				k.Meter = r.Meter
			}
		}
		row := sums[k]
		if row == nil {
			row = new(k)
			sums[k], keys = row, append(keys, k)
		}
		row.Calls += int64(r.Calls())
		row.Bytes += r.BytesSent + r.BytesReceived
		row.Cost += r.Cost
	}
	out := make([]audit.CostRow, 0, len(keys))
	for _, k := range keys {
		out = append(out, *sums[k])
	}
	audit.SortCost(out)
	return out
}
