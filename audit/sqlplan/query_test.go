package sqlplan

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
)

// question and dollar are the two ways of naming parameters.
type question struct{ testDialect }
type dollar struct{ testDialect }

func (question) Placeholder(int) string { return "?" }
func (dollar) Placeholder(n int) string { return "$" + strconv.Itoa(n) }

// testDialect is enough of a Dialect to build statements.
type testDialect struct{}

func (testDialect) Placeholder(int) string              { return "?" }
func (testDialect) Type(audit.Type) string              { return "T" }
func (testDialect) Zero(audit.Type) (string, bool)      { return "0", true }
func (testDialect) Arg(t audit.Type, p any) any         { return Value(t, p) }
func (testDialect) ScanDest(audit.Type) any             { return new(any) }
func (testDialect) Assign(t audit.Type, d, p any) error { return SetValue(t, p, *d.(*any)) }
func (testDialect) ColumnsSQL() string                  { return "" }

// Arguments are added in the order their placeholders appear, so "?"
// and "$n" statements bind the same values; a source is looked up in
// each of its columns by its own limited subquery.
func TestQuerySQL(t *testing.T) {
	since := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		f      audit.Filter
		dollar string
		args   []any
	}{
		{"all", audit.Filter{}, "SELECT s FROM records WHERE event <> 'audit_read' ORDER BY time_start DESC, rid DESC", nil},
		{"limit", audit.Filter{Limit: 5}, "SELECT s FROM records WHERE event <> 'audit_read' ORDER BY time_start DESC, rid DESC LIMIT $1", []any{int64(5)}},
		{"host and decision", audit.Filter{Host: "api.example.com", Decision: "deny", Since: since},
			"SELECT s FROM records WHERE time_start >= $1 AND host = $2 AND decision = 'deny' AND event <> 'audit_read' ORDER BY time_start DESC, rid DESC",
			[]any{since, "api.example.com"}},
		{"host as typed", audit.Filter{Host: "API.example.com."},
			"SELECT s FROM records WHERE host IN ($1, $2) AND event <> 'audit_read' ORDER BY time_start DESC, rid DESC",
			[]any{"api.example.com", "API.example.com."}},
		{"source", audit.Filter{Source: "checkout", Reason: "policy_denied", Limit: 3},
			"SELECT s FROM records WHERE rid IN (" +
				"SELECT rid FROM (SELECT rid FROM records WHERE source_identity = $1 AND reason = $2 AND event <> 'audit_read' ORDER BY time_start DESC, rid DESC LIMIT $3) AS s1 UNION " +
				"SELECT rid FROM (SELECT rid FROM records WHERE source_workload = $4 AND reason = $5 AND event <> 'audit_read' ORDER BY time_start DESC, rid DESC LIMIT $6) AS s2" +
				") ORDER BY time_start DESC, rid DESC LIMIT $7",
			[]any{"checkout", "policy_denied", int64(3), "checkout", "policy_denied", int64(3), int64(3)}},
		{"source ip", audit.Filter{Source: "10.0.0.1"},
			"SELECT s FROM records WHERE rid IN (SELECT rid FROM (SELECT rid FROM records WHERE source_ip = $1 AND event <> 'audit_read' ORDER BY time_start DESC, rid DESC) AS s1) ORDER BY time_start DESC, rid DESC",
			[]any{"10.0.0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, args := QuerySQL(dollar{}, "s", &tc.f)
			if q != tc.dollar || !equalArgs(args, tc.args) {
				t.Errorf("$n:\n got %s %v\nwant %s %v", q, args, tc.dollar, tc.args)
			}
			q2, args2 := QuerySQL(question{}, "s", &tc.f)
			if !equalArgs(args2, tc.args) || q2 != questions(tc.dollar) {
				t.Errorf("?:\n got %s %v", q2, args2)
			}
		})
	}
}

// questions is q with its $n placeholders written as ?.
func questions(q string) string {
	out := []byte{}
	for i := 0; i < len(q); i++ {
		if q[i] == '$' {
			out = append(out, '?')
			for i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9' {
				i++
			}
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}

func equalArgs(a, b []any) bool {
	return slices.EqualFunc(a, b, func(x, y any) bool {
		if tx, ok := x.(time.Time); ok {
			ty, ok := y.(time.Time)
			return ok && tx.Equal(ty)
		}
		return x == y
	})
}

// A column the view lacks (a store written before it, not migrated) is
// selected as its zero value.
func TestSelect(t *testing.T) {
	cols := audit.Schema()[:3]
	if got := Select(testDialect{}, cols, nil); got != "id, seq, gateway, rid" {
		t.Errorf("all there: %s", got)
	}
	if got := Select(testDialect{}, cols, map[string]bool{"id": true, "gateway": true}); got != "id, CAST(0 AS T) AS seq, gateway, rid" {
		t.Errorf("seq missing: %s", got)
	}
}
