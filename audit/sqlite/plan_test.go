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
		{"decision", audit.Filter{Decision: "deny", Since: since, Limit: 100}, "decisions_denied_time"},
		{"since", audit.Filter{Since: since, Limit: 100}, "decisions_time"},
		{"id", audit.Filter{ID: "01J0000000000000000000000"}, "decisions_id"},
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

// Host, identity and workload have no index (#18): a page of them is
// searched in the summary (search.go), whatever else the filter has.
func TestIndexlessFiltersAreSearched(t *testing.T) {
	since := time.Now().Add(-24 * time.Hour)
	for _, f := range []audit.Filter{
		{Host: "api.stripe.com", Since: since, Limit: 100},
		{Host: "API.Stripe.com.", Limit: 100},
		{Source: "spiffe://x", Since: since, Limit: 100},
		{Source: "checkout", Decision: "deny", Limit: 50, After: "01J0000000000000000000000"},
		{Host: "api.stripe.com", Source: "10.1.0.1", Status: 200, Limit: 1},
	} {
		if searchKeys(&f) == nil {
			t.Errorf("%+v is not searched in the summary", f)
		}
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
