package storetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
)

// caseConsoleFilters checks the filters the console adds (service_entry,
// status, path prefix) and cursor paging with After: walking the pages
// of any filter gives exactly its records, newest first, each once, also
// across records that share a time_start.
func caseConsoleFilters(t *testing.T, s audit.Store, _ func() (audit.Store, error)) {
	ctx := context.Background()
	var recs []*audit.Record
	for i := range 30 {
		r := Ended(Numbered("gwc", i+1, time.Duration(i/3)*time.Second), []int{200, 404, 502}[i%3]) // triples share time_start
		r.ServiceEntry = []string{"payments/stripe", "dev/github"}[i%2]
		r.Path = []string{"/v1/charges", "/v1/refunds/9", "/repos"}[i%3]
		recs = append(recs, r)
	}
	if err := s.Write(ctx, &audit.Batch{Inserts: recs}); err != nil {
		t.Fatal(err)
	}
	newest := slices.Clone(recs)
	slices.Reverse(newest)
	for _, f := range []audit.Filter{
		{},
		{ServiceEntry: "dev/github"},
		{Status: 502},
		{Path: "/v1/"},
		{Path: "/v1/refunds"},
		{ServiceEntry: "payments/stripe", Status: 200, Path: "/v1"},
	} {
		var want []string
		for _, r := range newest {
			if (f.ServiceEntry == "" || r.ServiceEntry == f.ServiceEntry) && (f.Status == 0 || r.Status == f.Status) &&
				strings.HasPrefix(r.Path, f.Path) {
				want = append(want, r.ID)
			}
		}
		for _, page := range []int{0, 1, 4, 7} {
			var got []string
			pf := f
			pf.Limit = page
			for range 100 {
				recs, err := audit.QueryAll(ctx, s, pf)
				if err != nil {
					t.Fatalf("%+v: %v", pf, err)
				}
				got = append(got, IDs(recs)...)
				if page == 0 || len(recs) < page {
					break
				}
				pf.After = recs[len(recs)-1].ID
			}
			if !slices.Equal(got, want) {
				t.Errorf("%+v in pages of %d:\n got %v\nwant %v", f, page, got, want)
			}
		}
	}
	// A cursor that names no record selects nothing.
	if recs, err := audit.QueryAll(ctx, s, audit.Filter{After: "nope"}); err != nil || len(recs) != 0 {
		t.Errorf("After an unknown id: %v, %v", IDs(recs), err)
	}
}
