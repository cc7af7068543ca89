package dnsproxy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// foldWindow is the window of the folder tests; t0 starts a window.
const foldWindow = 10 * time.Second

var t0 = time.Unix(1_800_000_000, 0)

// refusal is one refused query fed to a folder.
type refusal struct {
	src    string
	name   string
	qtype  uint16
	reason denyReason
	at     time.Duration // since t0
}

// runFolder feeds qs to a new folder, then flushes at end (since t0;
// final when end is 0) and returns every record asked for, in order.
func runFolder(qs []refusal, end time.Duration) []denial {
	f := newFolder(foldWindow)
	var out []denial
	for _, q := range qs {
		first, ok, due := f.add(foldKey{netip.MustParseAddr(q.src), q.name, q.qtype, q.reason}, nil, t0.Add(q.at))
		out = append(out, due...)
		if ok {
			out = append(out, first)
		}
	}
	return append(out, f.flush(t0.Add(end), end == 0)...)
}

// names is n queries from src for distinct names, in the first second.
func names(src string, n int, reason denyReason) []refusal {
	qs := make([]refusal, n)
	for i := range qs {
		qs[i] = refusal{src, fmt.Sprintf("n%d.flood.test", i), dns.TypeA, reason, time.Duration(i) * time.Millisecond / 2}
	}
	return qs
}

// counted sums the queries the records account for.
func counted(ds []denial) int {
	n := 0
	for _, d := range ds {
		n += d.count
	}
	return n
}

// wantRec is an expected record of a folder.
type wantRec struct {
	host  string // "*": a folded set
	src   string // "": the window's overflow record
	count int
}

func TestFolderRecords(t *testing.T) {
	type want = wantRec
	repeat := func(n int, q refusal) []refusal {
		qs := make([]refusal, n)
		for i := range qs {
			qs[i] = q
			qs[i].at += time.Duration(i) * time.Millisecond
		}
		return qs
	}
	evil := refusal{"10.0.0.1", "evil.test", dns.TypeA, reasonUndeclared, 0}
	cases := []struct {
		name string
		qs   []refusal
		end  time.Duration
		want []want
	}{
		{"identical queries: the first at once, the repeats counted at the window's end",
			repeat(5, evil), foldWindow, []want{{"evil.test", "10.0.0.1", 1}, {"evil.test", "10.0.0.1", 4}}},
		{"no repeats: one record",
			repeat(1, evil), 0, []want{{"evil.test", "10.0.0.1", 1}}},
		{"2,000 names from one source: 8 records of their own and one \"*\" record",
			names("10.0.0.1", 2000, reasonUndeclared), 0, append(firsts("10.0.0.1", 8), want{"*", "10.0.0.1", 1992})},
		{"each refusal reason has its own \"*\" record",
			append(names("10.0.0.1", 10, reasonUndeclared), names("10.0.0.1", 3, reasonBadName)...), 0,
			append(firsts("10.0.0.1", 8), want{"*", "10.0.0.1", 2}, want{"*", "10.0.0.1", 3})},
		{"a source's limit is per window",
			append(names("10.0.0.1", 9, reasonUndeclared), shift(rename(names("10.0.0.1", 9, reasonUndeclared), "w2."), foldWindow)...), 0,
			append(append(firsts("10.0.0.1", 8), want{"*", "10.0.0.1", 1}), append(renameWant(firsts("10.0.0.1", 8), "w2."), want{"*", "10.0.0.1", 1})...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := runFolder(c.qs, c.end)
			if counted(got) != len(c.qs) {
				t.Errorf("records count %d queries, %d were sent", counted(got), len(c.qs))
			}
			if len(got) != len(c.want) {
				t.Fatalf("%d records, want %d: %+v", len(got), len(c.want), got)
			}
			for i, w := range c.want {
				g := got[i]
				if g.host != w.host || g.count != w.count || (w.src == "") == g.src.IsValid() || (w.src != "" && g.src.String() != w.src) {
					t.Errorf("record %d: host %q src %v count %d, want %+v", i, g.host, g.src, g.count, w)
				}
			}
		})
	}
}

// firsts are the records of their own of the first n names of names().
func firsts(src string, n int) []wantRec {
	out := make([]wantRec, n)
	for i := range out {
		out[i].host, out[i].src, out[i].count = fmt.Sprintf("n%d.flood.test", i), src, 1
	}
	return out
}

// rename puts prefix before every name.
func rename(qs []refusal, prefix string) []refusal {
	for i := range qs {
		qs[i].name = prefix + qs[i].name
	}
	return qs
}

func renameWant(ws []wantRec, prefix string) []wantRec {
	for i := range ws {
		ws[i].host = prefix + ws[i].host
	}
	return ws
}

func shift(qs []refusal, d time.Duration) []refusal {
	for i := range qs {
		qs[i].at += d
	}
	return qs
}

// The "*" record says how many queries and distinct names it folded and
// quotes the first few.
func TestFolderOverflowDetail(t *testing.T) {
	qs := names("10.0.0.1", 2000, reasonUndeclared)
	qs = append(qs, qs[1500], qs[1999]) // repeats of folded names: counted, not new names
	got := runFolder(qs, 0)
	star := got[len(got)-1]
	if star.host != "*" || star.count != 1994 || star.src.String() != "10.0.0.1" || star.anyType {
		t.Fatalf("\"*\" record %+v", star)
	}
	for _, s := range []string{"folded 1994 queries for 1992 distinct names beyond the 8", `"n8.flood.test A"`, `"n10.flood.test A"`} {
		if !strings.Contains(star.detail, s) {
			t.Errorf("detail %q does not say %q", star.detail, s)
		}
	}
	if strings.Contains(star.detail, "n11.flood") {
		t.Errorf("detail %q quotes more than %d names", star.detail, foldExamples)
	}
}

// Spoofed sources: beyond the window's budget, one overflow record with
// no source counts the rest.
func TestFolderWindowBudget(t *testing.T) {
	const n = 100_000
	qs := make([]refusal, n)
	for i := range qs {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		qs[i] = refusal{ip.String(), fmt.Sprintf("s%d.flood.test", i%7), dns.TypeAAAA, reasonUndeclared, 0}
	}
	got := runFolder(qs, 0)
	if counted(got) != n {
		t.Fatalf("records count %d of %d queries", counted(got), n)
	}
	if len(got) != foldWindowBudget+1 {
		t.Fatalf("%d records, want %d", len(got), foldWindowBudget+1)
	}
	over := got[len(got)-1]
	if over.host != "*" || over.src.IsValid() || over.count != n-foldWindowBudget {
		t.Fatalf("overflow record %+v", over)
	}
	// 7 names and (at least) 32k sources: the set of maxFolds hashes
	// holds names and sources, so the sources are a lower bound.
	for _, want := range []string{fmt.Sprintf("folded %d queries from at least ", n-foldWindowBudget),
		fmt.Sprintf(" sources for 7 distinct names beyond the window's budget of %d records", foldWindowBudget)} {
		if !strings.Contains(over.detail, want) {
			t.Errorf("detail %q does not say %q", over.detail, want)
		}
	}
}

// A steady repeat keeps its key across windows (one counted record per
// window, never a new first record); a key idle for a whole window is
// forgotten.
func TestFolderSteadyRepeats(t *testing.T) {
	f := newFolder(foldWindow)
	k := foldKey{netip.MustParseAddr("10.0.0.1"), "evil.test", dns.TypeA, reasonUndeclared}
	steps := []struct {
		at       time.Duration
		first    bool
		due      int // records of the ended window, with their count
		dueCount int
	}{
		{at: 0, first: true},
		{at: time.Second},
		{at: foldWindow + time.Second, due: 1, dueCount: 1}, // the next window: a repeat, not a first
		{at: 2*foldWindow + time.Second, due: 1, dueCount: 1},
		{at: 4*foldWindow + time.Second, first: true, due: 1, dueCount: 1}, // window 3 was idle: forgotten
	}
	for i, s := range steps {
		first, ok, due := f.add(k, nil, t0.Add(s.at))
		if ok != s.first || (ok && first.count != 1) {
			t.Fatalf("step %d: first record %v %+v, want %v", i, ok, first, s.first)
		}
		if len(due) != s.due || counted(due) != s.dueCount {
			t.Fatalf("step %d: due %+v, want %d records counting %d", i, due, s.due, s.dueCount)
		}
	}
	if rest := f.flush(t0.Add(4*foldWindow+2*time.Second), true); len(rest) != 0 {
		t.Fatalf("final flush: %+v", rest)
	}
}

// Whatever the mix of sources, names, types, reasons and times: every
// query is counted once, and no source and no window gets more records
// than the limits allow.
func TestFolderBounds(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, seed))
		nSrc, nNames := 1+rng.IntN(3000), 1+rng.IntN(5000)
		qs := make([]refusal, 5000+rng.IntN(20000))
		at := time.Duration(0)
		for i := range qs {
			at += time.Duration(rng.IntN(3000)) * time.Microsecond
			qs[i] = refusal{
				src:    netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(nSrc) >> 8), byte(rng.IntN(nSrc))}).String(),
				name:   fmt.Sprintf("n%d.test", rng.IntN(nNames)),
				qtype:  []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX}[rng.IntN(3)],
				reason: denyReason(rng.IntN(int(numReasons))),
				at:     at,
			}
		}
		got := runFolder(qs, 0)
		if counted(got) != len(qs) {
			t.Fatalf("seed %d: records count %d of %d queries", seed, counted(got), len(qs))
		}
		perWindow := map[int64]int{}
		perSource := map[string]int{}
		for _, d := range got {
			w := d.first.UnixNano() / int64(foldWindow)
			perWindow[w]++
			perSource[fmt.Sprint(w, d.src)]++
			if d.first.UnixNano()/int64(foldWindow) != d.last.UnixNano()/int64(foldWindow) {
				t.Fatalf("seed %d: a record spans windows: %+v", seed, d)
			}
		}
		for w, n := range perWindow {
			if n > 2*foldWindowBudget+int(numReasons) {
				t.Fatalf("seed %d: %d records in window %d", seed, n, w)
			}
		}
		for k, n := range perSource {
			if !strings.HasSuffix(k, "invalid IP") && n > 2*foldPerSource+int(numReasons) {
				t.Fatalf("seed %d: %d records for %s", seed, n, k)
			}
		}
	}
}

// The set counting distinct names is bounded: past maxFolds the "*"
// record says "at least".
func TestFolderDistinctSetBounded(t *testing.T) {
	qs := names("10.0.0.1", maxFolds+foldPerSource+10, reasonUndeclared)
	f := newFolder(foldWindow)
	for _, q := range qs {
		f.add(foldKey{netip.MustParseAddr(q.src), q.name, q.qtype, q.reason}, nil, t0)
	}
	if len(f.seen) != maxFolds || len(f.keys) != foldPerSource {
		t.Fatalf("%d hashes, %d keys; want %d and %d", len(f.seen), len(f.keys), maxFolds, foldPerSource)
	}
	got := f.flush(t0, true)
	star := got[len(got)-1]
	if !strings.Contains(star.detail, fmt.Sprintf("for at least %d distinct names", maxFolds)) || star.count != len(qs)-foldPerSource {
		t.Fatalf("\"*\" record %d: %s", star.count, star.detail)
	}
}
