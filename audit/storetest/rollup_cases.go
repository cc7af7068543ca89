package storetest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/vocab"
)

// caseCostRollup: a cost report, which a store answers from its hourly
// rollup and the records of the partial hours at the ends of the range,
// equals the sum over the records themselves, for ranges of whole hours,
// split hours and open ends; and after a prune, for the hours kept.
func caseCostRollup(t *testing.T, s audit.Store, _ func() (audit.Store, error)) {
	ctx := context.Background()
	// 300 calls over 50 hours: begun and ended in separate batches, whole
	// records, denials (enforced, so free) and report-mode denials.
	var all, open []*audit.Record
	for i := range 300 {
		r := Numbered("gw1", i+1, time.Duration(i)*10*time.Minute+time.Duration(i%7)*time.Second)
		r.Host = fmt.Sprintf("api%d.example.com", i%3)
		r.SourceWorkload = fmt.Sprintf("svc%d", i%4)
		cost := float64(i%5) * 0.1
		switch i % 4 {
		case 0: // Begin, End later
			if err := s.Write(ctx, &audit.Batch{Inserts: []*audit.Record{r}}); err != nil {
				t.Fatal(err)
			}
			open = append(open, r)
		case 2: // enforced denial: not a cost
			r.Decision, r.Enforced, r.Reason = vocab.DecisionDeny, true, "policy_denied"
			fallthrough
		case 1, 3: // whole; 3 in report mode: went out, costs
			if i%4 == 3 {
				r.Decision, r.Enforced = vocab.DecisionDeny, false
			}
			Ended(r, 200).Cost = cost
			if err := s.Write(ctx, &audit.Batch{Inserts: []*audit.Record{r}}); err != nil {
				t.Fatal(err)
			}
		}
		all = append(all, r)
	}
	for i, r := range open {
		Ended(r, 200).Cost = float64(i%5) * 0.1
	}
	if err := s.Write(ctx, &audit.Batch{Outcomes: open}); err != nil {
		t.Fatal(err)
	}
	by := []string{"source", "destination", "meter"}
	check := func(label string, q audit.CostQuery) {
		t.Helper()
		got, err := s.Cost(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want := costOf(all, q)
		if len(got) != len(want) {
			t.Fatalf("%s: %d rows, want %d:\n got %+v\nwant %+v", label, len(got), len(want), got, want)
		}
		// The same rows (costs to 1e-9: sums in another order round
		// otherwise), in report order.
		byKey := map[audit.CostRow]audit.CostRow{}
		for _, w := range want {
			k := w
			k.Calls, k.Bytes, k.Cost = 0, 0, 0
			byKey[k] = w
		}
		for i, g := range got {
			k := g
			k.Calls, k.Bytes, k.Cost = 0, 0, 0
			w, ok := byKey[k]
			if !ok || g.Calls != w.Calls || g.Bytes != w.Bytes || math.Abs(g.Cost-w.Cost) > 1e-9 {
				t.Errorf("%s row %d: %+v, want %+v", label, i, g, w)
			}
		}
		sorted := slices.Clone(got)
		audit.SortCost(sorted)
		if !slices.Equal(sorted, got) {
			t.Errorf("%s: rows not in report order: %+v", label, got)
		}
	}
	for _, rng := range [][2]time.Time{
		{},
		{T0.Add(7*time.Hour + 17*time.Minute), {}},
		{T0.Add(3*time.Hour + 30*time.Minute), T0.Add(41 * time.Hour)},
		{T0.Add(5 * time.Hour), T0.Add(9 * time.Hour)},
		{T0.Add(10*time.Hour + time.Minute), T0.Add(10*time.Hour + 40*time.Minute)},
		{{}, T0.Add(20*time.Hour + 5*time.Minute)},
	} {
		check(fmt.Sprintf("before prune %v", rng), audit.CostQuery{Since: rng[0], Until: rng[1], By: by})
	}
	// Prune everything before 12:30: the rollup keeps hour 12 whole, so
	// ranges from hour 13 on still match the records kept.
	cut := T0.Add(12*time.Hour + 30*time.Minute)
	for {
		n, err := s.Prune(ctx, cut, 50)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	kept := all[:0:0]
	for _, r := range all {
		if !r.TimeStart.Before(cut) {
			kept = append(kept, r)
		}
	}
	all = kept
	check("after prune", audit.CostQuery{Since: T0.Add(13 * time.Hour), By: []string{"destination"}})
	check("after prune, the whole hour", audit.CostQuery{Since: T0.Add(13 * time.Hour), Until: T0.Add(20 * time.Hour), By: by})
}
