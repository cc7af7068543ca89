package dnsproxy

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/vocab"
)

// Limits of the refused-query records (see the README, "Records of
// refused queries"). A window is a fixed interval of wall-clock time,
// [k·w, (k+1)·w) for the fold window w, so that every gateway and every
// reader of the records agrees which window a query belongs to.
const (
	// foldPerSource is how many distinct refused (name, type) pairs of
	// one source get records of their own per window; the source's
	// further refused queries in the window are folded into one record
	// (per refusal reason) with host "*".
	foldPerSource = 8
	// foldWindowBudget bounds the records of a window across all sources
	// (UDP sources can be spoofed): each (source, name, type) with records
	// of its own takes one unit, and so does each per-source "*" record.
	// Once the budget is spent, refused queries that would need a unit go
	// to the window's one overflow record (per refusal reason), host "*"
	// and no source.
	foldWindowBudget = 1024
	// foldExamples is how many distinct names a "*" record quotes.
	foldExamples = 3
	// foldExampleLen truncates a quoted name.
	foldExampleLen = 64
	// maxFolds bounds the set that counts the distinct names and sources
	// of the "*" records; beyond it the counts are "at least".
	maxFolds = 65536
)

// denyReason is why a query was refused: the record's reason.
type denyReason uint8

const (
	reasonUndeclared denyReason = iota // undeclared_destination
	reasonBadName                      // bad_request: the question name is not a host name
	numReasons
)

var reasonCodes = [numReasons]vocab.Reason{vocab.UndeclaredDestination, vocab.BadRequest}

// String is the record's reason code.
func (r denyReason) String() string { return reasonCodes[r].String() }

// foldKey identifies identical refused queries.
type foldKey struct {
	src    netip.Addr
	name   string // canonical; the raw question name for reasonBadName
	qtype  uint16
	reason denyReason
}

// denial is one record the folder asks for.
type denial struct {
	src         netip.Addr // invalid for the window's overflow record (many sources)
	host        string     // "*" for a folded set of names
	qtype       uint16
	anyType     bool // the folded queries had several types: method "*"
	reason      denyReason
	first, last time.Time
	count       int
	why         error  // why the name was refused (reasonBadName)
	detail      string // what a "*" record folded
}

// keyFold is a (source, name, type) with records of its own.
type keyFold struct {
	extra       int       // repeats not yet recorded
	first, last time.Time // of those repeats
	active      bool      // queried in the current window: holds one of its source's units
	why         error
}

// sourceFold is one source's use of the current window.
type sourceFold struct {
	keys int                    // keys with records of their own
	over [numReasons]*overflows // its "*" records
}

// folder decides which refused queries get a record of their own and
// folds the rest into counted records, per source and per window, so
// that a flood of names cannot fill the audit store: per window at most
// foldWindowBudget units (≤ 2 records each: a key's first query at once,
// its repeats at the window's end) plus one overflow record per reason.
// Every refused query is counted in exactly one record. It does no I/O
// and reads no clock: callers pass the time, and the records due when a
// window ends come back from add or flush.
type folder struct {
	window time.Duration
	seed   maphash.Seed

	mu      sync.Mutex
	epoch   int64 // the current window: UnixNano / window
	budget  int   // units left in the current window
	keys    map[foldKey]*keyFold
	sources map[netip.Addr]*sourceFold
	global  [numReasons]overflows // the window's overflow records
	seen    map[uint64]struct{}   // hashes of the names and sources counted in "*" records
}

func newFolder(window time.Duration) *folder {
	return &folder{
		window: window, seed: maphash.MakeSeed(), budget: foldWindowBudget,
		keys: make(map[foldKey]*keyFold), sources: make(map[netip.Addr]*sourceFold), seen: make(map[uint64]struct{}),
	}
}

// add notes one refused query at now. first is its record when it gets
// one at once (ok); due are the records of a window that ended.
func (f *folder) add(k foldKey, why error, now time.Time) (first denial, ok bool, due []denial) {
	f.mu.Lock()
	defer f.mu.Unlock()
	due = f.advance(now)
	kf := f.keys[k]
	if kf != nil && kf.active {
		kf.repeat(now)
		return denial{}, false, due
	}
	sf, claimed := f.claim(k.src)
	switch {
	case claimed && kf != nil:
		// Queried in the last window: a steady repeat, recorded with a
		// count, never again as a first.
		kf.active = true
		kf.repeat(now)
	case claimed:
		f.keys[k] = &keyFold{active: true, why: why}
		return f.keyDenial(k, why, now, now, 1), true, due
	default:
		f.fold(k, sf, now)
	}
	return denial{}, false, due
}

// repeat counts one more query of an active key.
func (kf *keyFold) repeat(now time.Time) {
	if kf.extra == 0 {
		kf.first = now
	}
	kf.extra++
	kf.last = now
}

// flush returns the records due: those of the windows ended by now, or,
// when final, everything (the folder is then empty).
func (f *folder) flush(now time.Time, final bool) []denial {
	f.mu.Lock()
	defer f.mu.Unlock()
	if final {
		return f.rotate(false)
	}
	return f.advance(now)
}

// advance ends the current window when now is in a later one. A window
// without queries in between forgets every key.
func (f *folder) advance(now time.Time) []denial {
	e := now.UnixNano() / int64(f.window)
	if e <= f.epoch {
		return nil // the same window (or the clock went back)
	}
	next := e == f.epoch+1
	f.epoch = e
	return f.rotate(next)
}

// rotate returns the records of the window that ends and starts a new
// one. Keys queried in it are kept when keep (the next window follows at
// once), so their repeats stay folded; others are forgotten.
func (f *folder) rotate(keep bool) []denial {
	var out []denial
	for k, kf := range f.keys {
		if kf.extra > 0 {
			out = append(out, f.keyDenial(k, kf.why, kf.first, kf.last, kf.extra))
			kf.extra = 0
		}
		if keep && kf.active {
			kf.active = false
		} else {
			delete(f.keys, k)
		}
	}
	for src, sf := range f.sources {
		for r, o := range sf.over {
			if o != nil {
				out = append(out, o.denial(src, denyReason(r)))
			}
		}
	}
	for r := range f.global {
		if f.global[r].count > 0 {
			out = append(out, f.global[r].denial(netip.Addr{}, denyReason(r)))
		}
		f.global[r] = overflows{}
	}
	clear(f.sources)
	clear(f.seen)
	f.budget = foldWindowBudget
	return out
}

// claim takes one of src's units of the window, if any is left. sf is
// src's state in the window (nil when it has none: the budget was spent
// before its first query).
func (f *folder) claim(src netip.Addr) (sf *sourceFold, ok bool) {
	sf = f.sources[src]
	if f.budget == 0 {
		return sf, false
	}
	if sf == nil {
		sf = &sourceFold{}
		f.sources[src] = sf
	}
	if sf.keys >= foldPerSource {
		return sf, false
	}
	sf.keys++
	f.budget--
	return sf, true
}

// fold counts a query without a record of its own: in its source's "*"
// record when the source has one or a unit for it is left, else in the
// window's overflow record.
func (f *folder) fold(k foldKey, sf *sourceFold, now time.Time) {
	if sf != nil {
		o := sf.over[k.reason]
		if o == nil && f.budget > 0 {
			f.budget--
			o = &overflows{}
			sf.over[k.reason] = o
		}
		if o != nil {
			newName, full := f.mark(k)
			o.add(k, now, newName, full, false, false)
			return
		}
	}
	newName, namesFull := f.mark(foldKey{name: k.name, qtype: k.qtype, reason: k.reason})
	newSrc, sourcesFull := f.mark(foldKey{src: k.src, reason: k.reason})
	f.global[k.reason].add(k, now, newName, namesFull, newSrc, sourcesFull)
}

// mark adds k's hash to the window's set; isNew when it was not there,
// full when the set is at maxFolds (k was not added). The three kinds of
// keys marked never collide: a source's folded query (source and name),
// a name of the overflow record (no source), a source of the overflow
// record (no name; names are never empty).
func (f *folder) mark(k foldKey) (isNew, full bool) {
	h := maphash.Comparable(f.seed, k)
	if _, ok := f.seen[h]; ok {
		return false, false
	}
	if len(f.seen) >= maxFolds {
		return false, true
	}
	f.seen[h] = struct{}{}
	return true, false
}

func (f *folder) keyDenial(k foldKey, why error, first, last time.Time, count int) denial {
	return denial{src: k.src, host: k.name, qtype: k.qtype, reason: k.reason, first: first, last: last, count: count, why: why}
}
