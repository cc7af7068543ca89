package sqlplan

import (
	"net/netip"
	"strings"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/vocab"
)

// The records query. Newest first is time_start, then rid (insertion
// order), both in every index, so no sort is needed. A source matches one
// of several columns; rather than an OR, which defeats the indexes and
// forces a sort, each column is its own indexed, limited subquery and the
// union is sorted. An IP is looked up in source_ip only, anything else in
// source_identity and source_workload. Both SQLite and PostgreSQL plan
// these as index range scans read backwards (TestQueryPlansUseIndexes in
// audit/sqlite).

// newestFirst orders the records view as every index does.
const newestFirst = " ORDER BY time_start DESC, rid DESC"

// where renders the conditions of f except Source, adding their
// arguments to args.
func where(f *audit.Filter, args *Args) []string { return whereOn(f, args, "time_start") }

// whereOn is where with ts the expression of time_start in the
// conditions ("+time_start" keeps SQLite off the time index).
func whereOn(f *audit.Filter, args *Args, ts string) []string {
	var conds []string
	if !f.Since.IsZero() {
		conds = append(conds, ts+" >= "+args.Time(f.Since))
	}
	if !f.Until.IsZero() {
		conds = append(conds, ts+" < "+args.Time(f.Until))
	}
	switch hosts := f.Hosts(); len(hosts) {
	case 1:
		conds = append(conds, "host = "+args.Add(hosts[0]))
	case 2:
		conds = append(conds, "host IN ("+args.Add(hosts[0])+", "+args.Add(hosts[1])+")")
	}
	switch f.Decision {
	case vocab.DecisionDeny, vocab.DecisionAllow:
		// A literal, so that the planner can use the partial index of
		// denials (a bound parameter cannot prove the index applies).
		conds = append(conds, "decision = '"+f.Decision+"'")
	}
	if f.Reason != "" {
		conds = append(conds, "reason = "+args.Add(f.Reason))
	}
	switch {
	case f.Event != "":
		conds = append(conds, "event = "+args.Add(f.Event))
	case f.ID == "":
		// The reads of the records are a trail of their own, asked for
		// by name (Filter.Event).
		conds = append(conds, "event <> '"+vocab.EventAuditRead+"'")
	}
	if f.ID != "" {
		conds = append(conds, "id = "+args.Add(f.ID))
	}
	if f.ServiceEntry != "" {
		conds = append(conds, "service_entry = "+args.Add(f.ServiceEntry))
	}
	if f.Status != 0 {
		conds = append(conds, "status = "+args.Add(int64(f.Status)))
	}
	if f.Path != "" {
		if pm, ok := args.d.(PrefixMatcher); ok {
			conds = append(conds, pm.PrefixCond("path", f.Path, args))
		} else {
			conds = append(conds, "substr(path, 1, "+args.Add(int64(len(f.Path)))+") = "+args.Add(f.Path))
		}
	}
	if f.After != "" {
		// The cursor: after the record After in newest-first order. The
		// first condition keeps the scan on the time index; the second
		// orders records of the same instant as the indexes do (rid).
		cur := func(col string) string {
			return "(SELECT " + col + " FROM records WHERE id = " + args.Add(f.After) + ")"
		}
		conds = append(conds, ts+" <= "+cur("time_start"))
		conds = append(conds, "("+ts+" < "+cur("time_start")+" OR rid < "+cur("rid")+")")
	}
	return conds
}

// limit is the LIMIT clause of f (none without a limit).
func limit(f *audit.Filter, args *Args) string {
	if f.Limit <= 0 {
		return ""
	}
	return " LIMIT " + args.Add(int64(f.Limit))
}

// sourceColumns are the columns a Source filter looks in.
func sourceColumns(source string) []string {
	if _, err := netip.ParseAddr(source); err == nil {
		return []string{"source_ip"}
	}
	return []string{"source_identity", "source_workload"}
}

// QuerySQL is the query of f on the records view, selecting sel (see
// Schema.Select), and its arguments. f must be valid.
func QuerySQL(d Dialect, sel string, f *audit.Filter) (string, []any) {
	args := NewArgs(d)
	if f.Source == "" {
		q := "SELECT " + sel + " FROM records"
		if conds := where(f, args); len(conds) > 0 {
			q += " WHERE " + strings.Join(conds, " AND ")
		}
		return q + newestFirst + limit(f, args), args.Values()
	}
	var parts []string
	for i, col := range sourceColumns(f.Source) {
		conds := append([]string{col + " = " + args.Add(f.Source)}, where(f, args)...)
		parts = append(parts, "SELECT rid FROM (SELECT rid FROM records WHERE "+strings.Join(conds, " AND ")+
			newestFirst+limit(f, args)+") AS s"+string(rune('1'+i)))
	}
	q := "SELECT " + sel + " FROM records WHERE rid IN (" + strings.Join(parts, " UNION ") + ")" + newestFirst
	return q + limit(f, args), args.Values()
}

// rangeListMax is the most rids RangeQuerySQL lists; beyond, the range
// is read whole.
const rangeListMax = 200

// RangeQuerySQL is the query of f (selecting sel) on the records whose
// rid is within [lo, hi] (and, when only lists at most rangeListMax rids,
// one of them), newest first, with f's limit: one block of a search
// summary (audit/sqlite's search_blocks). The rid range is the
// only index it asks for (+time_start keeps SQLite's planner off the time
// index, which would walk the whole time range); the block's rows are
// read in rid order and sorted.
func RangeQuerySQL(d Dialect, sel string, f *audit.Filter, lo, hi int64, only []int64) (string, []any) {
	args := NewArgs(d)
	conds := []string{"rid >= " + args.Add(lo), "rid <= " + args.Add(hi)}
	if len(only) > 0 && len(only) <= rangeListMax {
		in := make([]string, len(only))
		for i, rid := range only {
			in[i] = args.Add(rid)
		}
		conds = append(conds, "rid IN ("+strings.Join(in, ", ")+")")
	}
	if f.Source != "" {
		var or []string
		for _, col := range sourceColumns(f.Source) {
			or = append(or, col+" = "+args.Add(f.Source))
		}
		conds = append(conds, "("+strings.Join(or, " OR ")+")")
	}
	conds = append(conds, whereOn(f, args, "+time_start")...)
	return "SELECT " + sel + " FROM records WHERE " + strings.Join(conds, " AND ") + newestFirst + limit(f, args), args.Values()
}

// OpenRecordsSQL selects (with sel) the records of one gateway, its
// parameter, whose outcome never arrived, in insertion order.
func OpenRecordsSQL(d Dialect, sel string) string {
	return "SELECT " + sel + " FROM records WHERE rid IN (SELECT rid FROM open_calls WHERE gateway = " +
		d.Placeholder(1) + ") ORDER BY rid"
}
