package sqlplan

import (
	"time"

	"github.com/sluicehq/sluice/audit"
)

// costPart is one aggregation of a cost report: the cost_hourly hours in
// [since, until) (rollup), or the records that started in [since, until).
// A zero bound is open.
type costPart struct {
	since, until time.Time
	rollup       bool
}

// costParts plans a cost report the same way for every store: whole hours
// come from the hourly rollup and only the partial hours at the ends of
// the range are read record by record, so a month's report costs about
// the same as an hour's; a range within one hour is read record by
// record.
func costParts(q audit.CostQuery) []costPart {
	from := q.Since // the first hour boundary at or after Since
	if !from.IsZero() && !from.Equal(from.Truncate(time.Hour)) {
		from = from.Truncate(time.Hour).Add(time.Hour)
	}
	to := q.Until // the last hour boundary at or before Until
	if !to.IsZero() {
		to = to.Truncate(time.Hour)
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return []costPart{{since: q.Since, until: q.Until}}
	}
	parts := []costPart{{since: from, until: to, rollup: true}}
	if !q.Since.IsZero() && q.Since.Before(from) {
		parts = append(parts, costPart{since: q.Since, until: from})
	}
	if !q.Until.IsZero() && to.Before(q.Until) {
		parts = append(parts, costPart{since: to, until: q.Until})
	}
	return parts
}

// costSums adds up the rows of a report's parts by keys and currency.
type costSums map[audit.CostRow]*audit.CostRow

func (a costSums) add(row audit.CostRow) {
	k := row
	k.Calls, k.Bytes, k.Cost = 0, 0, 0
	if s := a[k]; s != nil {
		s.Calls, s.Bytes, s.Cost = s.Calls+row.Calls, s.Bytes+row.Bytes, s.Cost+row.Cost
	} else {
		a[k] = &row
	}
}

// rows is the report, in sortCost order.
func (a costSums) rows() []audit.CostRow {
	out := make([]audit.CostRow, 0, len(a))
	for _, row := range a {
		out = append(out, *row)
	}
	audit.SortCost(out)
	return out
}

// costKeyDests are the scan destinations of the by keys of a cost row, in
// the order the aggregation queries select them.
func costKeyDests(by []string, row *audit.CostRow) []any {
	dest := make([]any, 0, len(by)+4)
	for _, k := range by {
		switch k {
		case "source":
			dest = append(dest, &row.Source)
		case "destination":
			dest = append(dest, &row.Destination)
		case "meter":
			dest = append(dest, &row.Meter)
		}
	}
	return dest
}
