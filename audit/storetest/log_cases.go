package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/tlog"
	"github.com/sluicehq/sluice/internal/vocab"
)

// caseLog holds a store that keeps transparency logs (audit.LogStore) to
// what the Auditor and `sluice audit verify` count on: every record a
// write completes, and only those, becomes a leaf of its gateway's log in
// seq order; a record read back encodes to the leaf that was logged; an
// outcome for a record already complete changes nothing; the leaves of
// pruned records stay; the log continues in another instance of the
// store; checkpoints are kept once per size; and all of it reads from a
// read-only instance too.
func caseLog(t *testing.T, sub Subject) {
	ctx := context.Background()
	s, url := sub.Open(t)
	ls, ok := s.(audit.LogStore)
	if !ok {
		t.Skip("the store keeps no transparency log")
	}
	// Records with every kind of value the leaf encodes.
	odd := func(r *audit.Record) *audit.Record {
		r.PolicyRules = []string{"allow \"quoted\"", "ünïcödé", "bad\xffutf8"}
		r.Count = 7
		r.DurationMS = 0.1 + 0.2
		r.Cost = 1e-9
		r.TimeStart = r.TimeStart.Add(123456 * time.Nanosecond) // below the stores' precision
		r.TimeEnd = r.TimeEnd.Add(999999 * time.Nanosecond)
		r.Path = "/a b/\t/\u00e9"
		return r
	}
	a := Numbered("gw1", 1, 0)                                   // open, then its outcome by rid
	b := Numbered("gw1", 2, time.Millisecond)                    // open, then its outcome by id
	c := odd(Ended(Numbered("gw1", 3, 2*time.Millisecond), 201)) // whole
	d := Numbered("gw2", 1, 3*time.Millisecond)                  // another gateway, stays open
	e := Ended(Numbered("gw2", 2, 4*time.Millisecond), 200)      // whole
	f := Ended(Numbered("gw1", 5, 5*time.Millisecond), 204)      // an outcome never inserted
	g := Ended(Numbered("gw1", 4, 6*time.Millisecond), 403)      // whole, lower seq than f
	g.Event, g.Decision, g.Enforced = vocab.EventDNSQuery, vocab.DecisionDeny, true
	if err := ls.Write(ctx, &audit.Batch{Inserts: []*audit.Record{a, b, c, d, e}}); err != nil {
		t.Fatal(err)
	}
	ao := Ended(new(*a), 200)
	// Only the outcome part changes: the decision part stays as Begin
	// wrote it.
	bo := Ended(new(*b), 502)
	bo.DurationMS, bo.Cost, bo.Error = 0.1+0.2, 1e-9, "ünïcödé\t"
	bo.TimeEnd = bo.TimeEnd.Add(999999 * time.Nanosecond)
	bo.SetRow(audit.RowRef{})
	if err := ls.Write(ctx, &audit.Batch{Inserts: []*audit.Record{g}, Outcomes: []*audit.Record{f, bo, ao}}); err != nil {
		t.Fatal(err)
	}
	// The outcome of a record already complete (End twice, replayed)
	// changes nothing and adds no leaf.
	again := Ended(new(*a), 599)
	if err := ls.Write(ctx, &audit.Batch{Outcomes: []*audit.Record{again}}); err != nil {
		t.Fatal(err)
	}
	want := map[string][]*audit.Record{
		"gw1": {c, ao, bo, g, f}, // the first batch's, then the second's in seq order
		"gw2": {e},
	}
	checkLog(t, ls, want, nil)

	// Retention: the records go, their leaves stay.
	cut := T0.Add(3 * time.Millisecond)
	if _, err := ls.Prune(ctx, cut, 100); err != nil {
		t.Fatal(err)
	}
	pruned := map[string]bool{a.ID: true, b.ID: true, c.ID: true}
	checkLog(t, ls, want, pruned)

	// Another instance of the store (a restart) continues the logs.
	s2, err := sub.Driver.Open(ctx, url, audit.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ls2 := s2.(audit.LogStore)
	h := Ended(Numbered("gw1", 6, time.Hour), 200)
	do := Ended(new(*d), 200)
	if err := ls2.Write(ctx, &audit.Batch{Inserts: []*audit.Record{h}, Outcomes: []*audit.Record{do}}); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	// And the first instance sees that it did (the size it holds is
	// stale): its next leaf goes after them.
	k := Ended(Numbered("gw1", 7, time.Hour+time.Second), 200)
	if err := ls.Write(ctx, &audit.Batch{Inserts: []*audit.Record{k}}); err != nil {
		t.Fatal(err)
	}
	want["gw1"] = append(want["gw1"], h, k)
	want["gw2"] = append(want["gw2"], do)
	roots := checkLog(t, ls, want, pruned)

	// Checkpoints: one per size.
	for _, n := range []int64{3, 7, 7} {
		if err := ls.AddCheckpoint(ctx, "gw1", n, fmt.Appendf(nil, "note %d\n", n)); err != nil {
			t.Fatal(err)
		}
	}
	ro, err := sub.Driver.Open(ctx, url, audit.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	lr, err := ro.(audit.LogStore).LogSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	cps, err := lr.Checkpoints(ctx, "gw1")
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != 2 || cps[0].Size != 3 || cps[1].Size != 7 || string(cps[1].Note) != "note 7\n" || cps[0].Time.IsZero() {
		t.Errorf("checkpoints: %+v", cps)
	}
	if gws, err := lr.Gateways(ctx); err != nil || !slices.Equal(gws, []string{"gw1", "gw2"}) {
		t.Errorf("gateways: %v, %v", gws, err)
	}
	for gw, root := range roots {
		size, got, err := audit.LogHead(ctx, lr, gw)
		if err != nil || got != root || size != int64(len(want[gw])) {
			t.Errorf("read-only head of %s: %d %v %v", gw, size, got, err)
		}
	}
	if l, ok, err := lr.LeafOf(ctx, g.ID); err != nil || !ok || l.Gateway != "gw1" || l.Index != 3 || l.Seq != 4 {
		t.Errorf("LeafOf(%s) = %+v, %v, %v", g.ID, l, ok, err)
	}
	if _, ok, err := lr.LeafOf(ctx, "no-such-id"); err != nil || ok {
		t.Errorf("LeafOf(no such id) = %v, %v", ok, err)
	}
}

// checkLog checks each gateway's log against want (its records in leaf
// order) and returns the roots; the records of pruned must be gone with
// their leaves kept.
func checkLog(t *testing.T, ls audit.LogStore, want map[string][]*audit.Record, pruned map[string]bool) map[string]tlog.Hash {
	t.Helper()
	ctx := context.Background()
	lr, err := ls.LogSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	roots := map[string]tlog.Hash{}
	for gw, recs := range want {
		var tr tlog.Tree
		var buf []byte
		var got []audit.LogLeaf
		// Read in small pages: paging must not skip or repeat a leaf.
		for from := int64(0); ; {
			page, err := lr.Leaves(ctx, gw, from, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			from = page[len(page)-1].Index + 1
		}
		if len(got) != len(recs) {
			t.Errorf("%s: %d leaves, want %d", gw, len(got), len(recs))
		}
		for i, l := range got[:min(len(got), len(recs))] {
			r := recs[i]
			var h tlog.Hash
			h, buf = audit.LeafHash(r, buf)
			row := tr.Append(nil, h)
			switch {
			case l.Index != int64(i) || l.ID != r.ID || l.Seq != r.Seq || l.Gateway != gw || l.Version != audit.LeafVersion:
				t.Errorf("%s: leaf %d is %d %s seq %d, want %s seq %d", gw, i, l.Index, l.ID, l.Seq, r.ID, r.Seq)
			case !l.TimeStart.Equal(r.TimeStart.Truncate(time.Millisecond)):
				t.Errorf("%s: leaf %d time_start %v, want %v", gw, i, l.TimeStart, r.TimeStart)
			case string(l.Hashes) != string(row):
				t.Errorf("%s: leaf %d (%s): stored hashes differ from the tree's", gw, i, r.ID)
			}
			rec, err := lr.Record(ctx, r.ID)
			switch {
			case err != nil:
				t.Fatal(err)
			case pruned[r.ID] && rec != nil:
				t.Errorf("%s: leaf %d: record %s not pruned", gw, i, r.ID)
			case !pruned[r.ID] && rec == nil:
				t.Errorf("%s: leaf %d: record %s missing", gw, i, r.ID)
			case rec != nil:
				if got, _ := audit.LeafHash(rec, nil); got != h {
					t.Errorf("%s: record %s read back does not encode to its leaf:\n got %x\nwant %x",
						gw, r.ID, audit.AppendLeaf(nil, rec), audit.AppendLeaf(nil, r))
				}
				leaf, ok, err := lr.LeafOf(ctx, r.ID)
				if err != nil || !ok || leaf.Index != int64(i) || leaf.Gateway != gw || string(leaf.Hashes) != string(row) {
					t.Errorf("%s: LeafOf(%s) = %+v, %v, %v; want leaf %d", gw, r.ID, leaf, ok, err, i)
				}
			}
		}
		size, root, err := audit.LogHead(ctx, lr, gw)
		if err != nil || size != tr.Size() || root != tr.Root() {
			t.Errorf("%s: head %d %v %v, want %d %v", gw, size, root, err, tr.Size(), tr.Root())
		}
		roots[gw] = root
		// Every record of the gateway, in pages: those completed are
		// exactly the logged ones not pruned.
		logged := map[string]bool{}
		for _, r := range recs {
			logged[r.ID] = !pruned[r.ID]
		}
		var after int64
		for {
			page, err := lr.Records(ctx, gw, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, r := range page {
				if r.Row().ID <= after || r.Gateway != gw {
					t.Errorf("%s: Records out of order or of another gateway: %s rid %d after %d", gw, r.ID, r.Row().ID, after)
				}
				after = r.Row().ID
				if !r.TimeEnd.IsZero() && !logged[r.ID] {
					t.Errorf("%s: record %s completed and not logged", gw, r.ID)
				}
				delete(logged, r.ID)
			}
		}
		for id, want := range logged {
			if want {
				t.Errorf("%s: Records lacks %s", gw, id)
			}
		}
		// A store that hashes records itself gives the hashes of the
		// records it reads back.
		if dr, ok := lr.(audit.DigestReader); ok {
			recs, err := lr.Records(ctx, gw, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			dgs, err := dr.Digests(ctx, gw, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(dgs) != len(recs) {
				t.Fatalf("%s: %d digests of %d records", gw, len(dgs), len(recs))
			}
			for i := range recs {
				r, d := &recs[i], dgs[i]
				h, _ := audit.LeafHash(r, nil)
				if d.Rid != r.Row().ID || d.ID != r.ID || d.Seq != r.Seq || !d.TimeStart.Equal(r.TimeStart) || d.Open != r.TimeEnd.IsZero() || d.LeafHash != h {
					t.Errorf("%s: digest %+v of record %s (rid %d, hash %x)", gw, d, r.ID, r.Row().ID, h)
				}
			}
		}
	}
	if len(pruned) > 0 {
		if pb, err := lr.PrunedBefore(ctx); err != nil || pb.IsZero() {
			t.Errorf("PrunedBefore after a prune: %v, %v", pb, err)
		}
	}
	return roots
}
