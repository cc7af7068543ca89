package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/sqlplan"
	"github.com/sluicehq/sluice/audit/storetest"
	"github.com/sluicehq/sluice/internal/vocab"
)

// searchValues are the values the random records and filters draw from;
// the filters also ask for values no record has.
var searchValues = struct {
	entries, paths, reasons, ips, events, hosts, identities, workloads []string
	statuses                                                           []int
}{
	// Hosts as recorded: canonical, and a DNS name recorded as sent.
	hosts:      []string{"api.stripe.com", "api.example.com", "10.20.0.1.", "2001:db8::7", "xn--bcher-kva.example"},
	identities: []string{"spiffe://cluster.local/ns/a/sa/checkout", "spiffe://cluster.local/ns/b/sa/billing", "", "checkout"},
	workloads:  []string{"checkout", "billing", "", "10.1.0.1"},
	entries:    []string{"payments/stripe", "ns/se1", "ns/se2", "ns/rare", ""},
	paths:      []string{"/v1/charges", "/v1/charges/ch_1", "/v1/customers/cus_42/sources", "/v2/x", "/", "", strings.Repeat("/long", 20) + "/a", strings.Repeat("/long", 20) + "/b"},
	reasons:    []string{"", "policy_denied", "upstream_timeout", "undeclared_destination"},
	ips:        []string{"10.1.0.1", "10.1.0.2", "10.9.9.9", "2001:db8::1"},
	events:     []string{vocab.EventOutboundCall, vocab.EventDNSQuery, vocab.EventAuditRead},
	statuses:   []int{200, 403, 502, 0},
}

// searchRecord is a random record numbered n, started at t.
func searchRecord(rng *rand.Rand, n int, t time.Time) *audit.Record {
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	r := storetest.Sample(n)
	r.ID = fmt.Sprintf("01SEARCH%018d", n)
	r.Seq = uint64(n + 1)
	r.Gateway = "g1"
	r.TimeStart = t
	r.ServiceEntry = pick(searchValues.entries)
	r.Path = pick(searchValues.paths)
	r.Event = pick(searchValues.events)
	r.SourceIP = pick(searchValues.ips)
	r.Host = pick(searchValues.hosts)
	r.SourceIdentity = pick(searchValues.identities)
	r.SourceWorkload = pick(searchValues.workloads)
	r.Decision = vocab.DecisionAllow
	if rng.IntN(4) == 0 {
		r.Decision = vocab.DecisionDeny
		r.Reason = pick(searchValues.reasons)
	}
	// Rare values, a few times in the store.
	if rng.IntN(500) == 0 {
		r.ServiceEntry, r.Path = "ns/needle", "/needle/"+fmt.Sprint(n)
	}
	if rng.IntN(700) == 0 {
		r.Host, r.SourceWorkload = "rare.example.com", "needle-workload"
	}
	return r
}

// randomFilter draws a filter on the fields the summary keys, with values
// that exist, that do not, and combinations.
func randomFilter(rng *rand.Rand, t0, t1 time.Time) audit.Filter {
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	f := audit.Filter{Limit: []int{1, 7, 50, 200}[rng.IntN(4)]}
	span := t1.Sub(t0)
	if rng.IntN(2) == 0 {
		f.Since = t0.Add(time.Duration(rng.Int64N(int64(span))))
	}
	if rng.IntN(3) == 0 {
		f.Until = t0.Add(time.Duration(rng.Int64N(int64(span)))).Add(time.Hour)
		if !f.Since.IsZero() && !f.Since.Before(f.Until) {
			f.Since = time.Time{}
		}
	}
	for range 1 + rng.IntN(3) {
		switch rng.IntN(11) {
		case 0:
			f.ServiceEntry = pick(append(searchValues.entries[:len(searchValues.entries)-1:len(searchValues.entries)-1], "ns/needle", "ns/none"))
		case 1:
			f.Status = searchValues.statuses[rng.IntN(3)]
		case 2:
			f.Reason = pick(append(searchValues.reasons[1:len(searchValues.reasons):len(searchValues.reasons)], "dns_failure"))
		case 3:
			f.Event = pick(searchValues.events)
		case 4:
			f.Decision = pick([]string{vocab.DecisionAllow, vocab.DecisionDeny})
		case 5:
			f.Source = pick(append(searchValues.ips[:len(searchValues.ips):len(searchValues.ips)], "10.7.7.7"))
		case 6:
			// As recorded, other spellings of them (Filter.Hosts), rare
			// and absent.
			f.Host = pick(append(searchValues.hosts[:len(searchValues.hosts):len(searchValues.hosts)],
				"API.Stripe.COM.", "10.20.0.1", "[2001:db8::7]", "bücher.example", "rare.example.com", "none.example"))
		case 7:
			f.Source = pick(append(searchValues.identities[:2:2], "spiffe://cluster.local/ns/z/sa/none"))
		case 8:
			f.Source = pick(append(searchValues.workloads[:2:2], "needle-workload", "nobody"))
		default:
			p := pick(append(searchValues.paths[:len(searchValues.paths)-3:len(searchValues.paths)-3],
				"/needle/1", "/needle", "/nowhere", strings.Repeat("/long", 20)+"/c"))
			if p != "" && rng.IntN(2) == 0 {
				p = p[:1+rng.IntN(len(p))] // a prefix
			}
			f.Path = p
		}
	}
	return f
}

// The summary changes how a search finds records, never which: over
// random filters (rare values, absent values, combinations, time
// ranges, pages by cursor), a store answers the same with the summary
// and without, after writes of open calls, of outcomes and of whole
// records out of time order, and after retention.
func TestSearchMatchesPlainQuery(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const n = 6000
	var open, opened []*audit.Record
	for i := 0; i < n; {
		var batch audit.Batch
		open, opened = append(open, opened...), opened[:0]
		for k := 0; k < 1+rng.IntN(700) && i < n; k, i = k+1, i+1 {
			// Mostly in time order, some far behind (a replayed spool).
			at := t0.Add(time.Duration(i) * 10 * time.Second)
			if rng.IntN(50) == 0 {
				at = t0.Add(time.Duration(rng.IntN(i+1)) * 10 * time.Second)
			}
			r := searchRecord(rng, i, at)
			if rng.IntN(3) == 0 {
				opened = append(opened, r) // Begin: an open call
			} else {
				storetest.Ended(r, searchValues.statuses[rng.IntN(3)])
			}
			batch.Inserts = append(batch.Inserts, r)
		}
		// Some earlier calls end, with a status and maybe a reason.
		for len(open) > 0 && rng.IntN(3) > 0 {
			r := open[0]
			open = open[1:]
			c := *r
			storetest.Ended(&c, searchValues.statuses[rng.IntN(3)])
			if rng.IntN(5) == 0 {
				c.Reason = "upstream_timeout"
			}
			batch.Outcomes = append(batch.Outcomes, &c)
		}
		if err := s.Write(ctx, &batch); err != nil {
			t.Fatal(err)
		}
	}
	t1 := t0.Add(n * 10 * time.Second)
	compare := func(t *testing.T, rounds int) (searched int) {
		for range rounds {
			f := randomFilter(rng, t0, t1)
			for page := 0; page < 3; page++ {
				s.noSearch = true
				want, err := audit.QueryAll(ctx, s, f)
				if err != nil {
					t.Fatal(err)
				}
				s.noSearch = false
				got, err := audit.QueryAll(ctx, s, f)
				if err != nil {
					t.Fatal(err)
				}
				if searchKeys(&f) != nil {
					searched++
				}
				if !slices.Equal(storetest.IDs(got), storetest.IDs(want)) {
					t.Fatalf("%+v: with the summary %d records %v…, without %d %v…", f, len(got), head(storetest.IDs(got)), len(want), head(storetest.IDs(want)))
				}
				for i := range got {
					if storetest.Public(got[i]).Status != storetest.Public(want[i]).Status {
						t.Fatalf("%+v: record %s differs", f, got[i].ID)
					}
				}
				if len(got) < f.Limit || len(got) == 0 {
					break
				}
				f.After = got[len(got)-1].ID
			}
		}
		return searched
	}
	if n := compare(t, 200); n < 150 {
		t.Errorf("only %d searches used the summary", n)
	}
	// Retention: the oldest third goes, the blocks of its records with it.
	var blocks int
	r, _ := s.reader()
	_ = r.QueryRowContext(ctx, "SELECT count(*) FROM search_blocks").Scan(&blocks)
	for {
		k, err := s.Prune(ctx, t0.Add(n*10*time.Second/3), 500)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			break
		}
	}
	var after int
	_ = r.QueryRowContext(ctx, "SELECT count(*) FROM search_blocks").Scan(&after)
	if after >= blocks {
		t.Errorf("retention left every search block (%d, %d before)", after, blocks)
	}
	compare(t, 100)

	// A store without the summary (written before it existed) gets it
	// when opened for writing, and answers the same.
	if _, err := s.conn.ExecContext(ctx, "DELETE FROM search_blocks"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.conn.ExecContext(ctx, "DELETE FROM store_meta WHERE k = ?", searchMetaKey); err != nil {
		t.Fatal(err)
	}
	if err := s.backfillSearch(ctx); err != nil {
		t.Fatal(err)
	}
	compare(t, 100)
}

// A summary of the first version's keys (no host, no sources), or one a
// version before 2 rebuilt after this one (a downgrade, then an upgrade),
// is not used, and is rebuilt with this version's keys when the store is
// opened for writing.
func TestSearchRebuildsEarlierVersion(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	rng := rand.New(rand.NewPCG(3, 4))
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var batch audit.Batch
	for i := range 3000 {
		batch.Inserts = append(batch.Inserts, storetest.Ended(searchRecord(rng, i, t0.Add(time.Duration(i)*time.Second)), 200))
	}
	if err := s.Write(ctx, &batch); err != nil {
		t.Fatal(err)
	}
	f := audit.Filter{Host: "api.stripe.com", Source: "checkout", Limit: 50}
	want, err := audit.QueryAll(ctx, s, f)
	if err != nil || len(want) == 0 {
		t.Fatal(len(want), err)
	}
	for _, meta := range []string{
		// The first version's summary: its marker alone.
		`DELETE FROM store_meta WHERE k = 'search_keys'; INSERT INTO store_meta (k, v) VALUES ('search_blocks', '1')`,
		// Rebuilt by a version before 2 after this one: both markers.
		`INSERT INTO store_meta (k, v) VALUES ('search_blocks', '1')`,
	} {
		// Blocks without this version's keys: a search of them would
		// find nothing.
		if _, err := s.conn.ExecContext(ctx, `UPDATE search_blocks SET bits = zeroblob(length(bits)), sigs = zeroblob(length(sigs)); `+meta); err != nil {
			t.Fatal(err)
		}
		if ok, err := searchMarked(ctx, s.conn); err != nil || ok {
			t.Fatalf("%s: summary taken as this version's: %v %v", meta, ok, err)
		}
		if got, err := audit.QueryAll(ctx, s, f); err != nil || !slices.Equal(storetest.IDs(got), storetest.IDs(want)) {
			t.Fatalf("%s: before the rebuild %d records, want %d: %v", meta, len(got), len(want), err)
		}
		if err := s.backfillSearch(ctx); err != nil {
			t.Fatal(err)
		}
		if ok, err := searchMarked(ctx, s.conn); err != nil || !ok {
			t.Fatalf("%s: not rebuilt: %v %v", meta, ok, err)
		}
		if got, err := audit.QueryAll(ctx, s, f); err != nil || !slices.Equal(storetest.IDs(got), storetest.IDs(want)) {
			t.Fatalf("%s: after the rebuild %d records, want %d: %v", meta, len(got), len(want), err)
		}
	}
}

func head(ids []string) []string { return ids[:min(len(ids), 5)] }

// Until the summary is there (a store not yet opened by this version,
// read-only), queries are the plain ones.
func TestSearchWithoutSummary(t *testing.T) {
	ctx := context.Background()
	s, path := openTestStore(t)
	r := storetest.Ended(storetest.Numbered("g1", 1, time.Minute), 502)
	r.ServiceEntry = "ns/x"
	if err := s.Write(ctx, &audit.Batch{Inserts: []*audit.Record{r}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.conn.ExecContext(ctx, "DELETE FROM store_meta WHERE k = ?", searchMetaKey); err != nil {
		t.Fatal(err)
	}
	if _, err := s.conn.ExecContext(ctx, "DROP TABLE search_blocks"); err != nil {
		t.Fatal(err)
	}
	ro, err := openSQLite(ctx, path, audit.StoreOptions{ReadOnly: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	got, err := audit.QueryAll(ctx, ro, audit.Filter{ServiceEntry: "ns/x", Status: 502, Limit: 10})
	if err != nil || len(got) != 1 {
		t.Fatalf("%v %v", storetest.IDs(got), err)
	}
}

// A block's rows are read by rid, not by walking the time index.
func TestSearchBlockPlan(t *testing.T) {
	s, _ := openTestStore(t)
	f := audit.Filter{ServiceEntry: "ns/x", Path: "/v1", Since: time.Now().Add(-time.Hour), Until: time.Now(), Limit: 50, After: "01X"}
	q, args := sqlplan.RangeQuerySQL(dialect{}, s.rd.Select, &f, 1024, 2047, nil)
	plan := queryPlan(t, s, q, args...)
	t.Logf("%s\n%s", q, plan)
	if !strings.Contains(plan, "INTEGER PRIMARY KEY (rowid>? AND rowid<?)") || strings.Contains(plan, "decisions_time") {
		t.Errorf("a block is not read by its rid range:\n%s", plan)
	}
}

// BenchmarkSearchAdd measures what the summary adds to a write per
// record, besides the rows: its keys hashed into its block's filter
// (addSearch); the block's row (one read and one write of 16 KiB per
// block a batch touches) is in the write benchmarks.
func BenchmarkSearchAdd(b *testing.B) {
	for _, path := range []string{"/v1/charges", "/v1/customers/cus_4QFJ7aBcDeFgHi/payment_methods?x"} {
		b.Run(fmt.Sprintf("path%d", len(path)), func(b *testing.B) {
			s := &store{}
			recs := make([]*audit.Record, 1024)
			for i := range recs {
				recs[i] = storetest.Sample(i)
				recs[i].Path = path
			}
			b.ResetTimer()
			for i := range b.N {
				s.addSearch(recs[i%len(recs)], int64(i), searchWhole)
				if i%1024 == 1023 {
					s.releaseSearch()
				}
			}
		})
	}
}

// The store the first schema's code wrote (no search summary) gets one
// when it is opened for writing, and its searches answer as before;
// read-only and not upgraded, it answers with the plain query.
func TestSearchUpgradesOldStore(t *testing.T) {
	ctx := context.Background()
	ro, _ := openFixture(t, nil, true)
	r, _ := ro.reader()
	if ok, err := searchMarked(ctx, r); err != nil || ok {
		t.Fatalf("the v1 fixture already has a summary: %v %v", ok, err)
	}
	s, _ := openFixture(t, nil, false)
	r, _ = s.reader()
	if ok, err := searchMarked(ctx, r); err != nil || !ok {
		t.Fatalf("opened for writing, no summary: %v %v", ok, err)
	}
	var blocks int
	if err := r.QueryRowContext(ctx, "SELECT count(*) FROM search_blocks").Scan(&blocks); err != nil || blocks == 0 {
		t.Fatalf("search blocks: %d %v", blocks, err)
	}
	// The indexes the summary replaced (#18) are gone.
	var idx int
	if err := r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN
		('decisions_host_time', 'decisions_identity_time', 'decisions_workload_time')`).Scan(&idx); err != nil || idx != 0 {
		t.Fatalf("indexes replaced by the summary left: %d %v", idx, err)
	}
	all, err := audit.QueryAll(ctx, s, audit.Filter{})
	if err != nil || len(all) == 0 {
		t.Fatal(len(all), err)
	}
	for _, rec := range all {
		for _, f := range []audit.Filter{
			{ServiceEntry: rec.ServiceEntry, Limit: 10},
			{Path: rec.Path, Status: rec.Status, Limit: 10},
			{Reason: rec.Reason, Decision: rec.Decision, Event: rec.Event, Limit: 10},
			{Source: rec.SourceIP, Limit: 10},
			{Host: rec.Host, Limit: 10},
			{Source: rec.SourceWorkload, Decision: rec.Decision, Limit: 10},
			{Source: rec.SourceIdentity, Host: rec.Host, Limit: 10},
		} {
			if searchKeys(&f) == nil {
				continue
			}
			for _, st := range []*store{s, ro} {
				got, err := audit.QueryAll(ctx, st, f)
				if err != nil || !slices.Contains(storetest.IDs(got), rec.ID) {
					t.Errorf("%+v does not find %s: %v %v", f, rec.ID, storetest.IDs(got), err)
				}
			}
		}
	}
}
