package sqlite

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/sqlplan"
)

// queryPlan returns SQLite's plan for q, one step per line.
func queryPlan(t *testing.T, s *store, q string, args ...any) string {
	t.Helper()
	r, _ := s.reader()
	rows, err := r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "\n")
	}
	return b.String()
}

// Typical queries must use an index and need no sort.
func TestQueryPlansUseIndexes(t *testing.T) {
	s, _ := openTestStore(t)
	since := time.Now().Add(-24 * time.Hour)
	for _, tc := range []struct {
		name  string
		f     audit.Filter
		index string
	}{
		{"host", audit.Filter{Host: "api.stripe.com", Since: since, Limit: 100}, "decisions_host_time"},
		{"decision", audit.Filter{Decision: "deny", Since: since, Limit: 100}, "decisions_denied_time"},
		{"since", audit.Filter{Since: since, Limit: 100}, "decisions_time"},
		{"identity", audit.Filter{Source: "spiffe://x", Since: since, Limit: 100}, "decisions_identity_time"},
		{"workload", audit.Filter{Source: "checkout", Since: since, Limit: 100}, "decisions_workload_time"},
		{"id", audit.Filter{ID: "01J0000000000000000000000"}, "decisions_id"},
		// A host as typed and its canonical form: both looked up.
		{"host two spellings", audit.Filter{Host: "API.Stripe.com.", Since: since, Limit: 100}, "decisions_host_time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, args := sqlplan.QuerySQL(dialect{}, s.rd.Select, &tc.f)
			plan := queryPlan(t, s, q, args...)
			t.Logf("%s\n%s", q, plan)
			if !strings.Contains(plan, tc.index) {
				t.Errorf("plan does not use %s:\n%s", tc.index, plan)
			}
			if tc.f.Source == "" && len(tc.f.Hosts()) < 2 && strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("plan sorts:\n%s", plan)
			}
		})
	}
}

// simpleList reads what FormatList writes as encoding/json would, and
// leaves anything with an escape to it.
func TestSimpleList(t *testing.T) {
	for _, l := range [][]string{nil, {"a"}, {"allow_payments", "x"}, {"ünïcödé", "a,b", "[x]"}, {""}, {"", ""}, {`q"uote`}, {`back\slash`}, {"<&>"}} {
		s := audit.FormatList(l)
		got, ok := simpleList(s)
		var want []string
		if s != "[]" {
			if err := json.Unmarshal([]byte(s), &want); err != nil {
				t.Fatal(err)
			}
		}
		if ok && !slices.Equal(got, want) {
			t.Errorf("simpleList(%s) = %q, want %q", s, got, want)
		}
		if !ok && !strings.Contains(s, `\`) {
			t.Errorf("simpleList(%s) left to encoding/json", s)
		}
	}
}
