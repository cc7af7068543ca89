package audit

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/sluicehq/sluice/audit/tlog"
	"golang.org/x/mod/sumdb/note"
)

// Verification (`sluice audit verify`): each gateway's log is read back
// from the store in one pass, leaf by leaf, with the record each leaf
// names. Two things are checked:
//
//   - each record against its leaf: the record's canonical encoding must
//     hash to the leaf hash stored for it; a record that does not is
//     altered (or reordered, when its seq moved), a leaf whose record is
//     gone and that retention did not prune names a deleted record, and a
//     completed record that no leaf names is inserted;
//   - the stored leaf hashes against the signed checkpoints: the tree they
//     make must have, at each checkpoint's size, the root the checkpoint
//     signs. One tree, so the checkpoints are consistent with each other
//     too; a checkpoint whose root the tree does not have means the leaf
//     hashes were rewritten after it (the changed leaves lie between the
//     last checkpoint that matches and this one). Every row's other hashes
//     must be those the tree computes (proofs are made of them).
//
// The second makes the first trustworthy: whoever changes a record and
// its leaf hash to match cannot sign a checkpoint over them without the
// key. Checkpoints come from the store (the gateway keeps each one it
// takes) and from outside it (audit.checkpoint_file, a copy kept out of
// the gateway's reach): a checkpoint that is not signed by a given key is
// forged.

// Kinds of findings.
const (
	FindAltered      = "altered"      // the record no longer hashes to its leaf
	FindReordered    = "reordered"    // the record's seq is not the one it was logged with
	FindDeleted      = "deleted"      // a leaf's record is gone, and retention did not prune it
	FindInserted     = "inserted"     // a completed record that no leaf names
	FindLeafMissing  = "leaf_missing" // rows of the log are gone
	FindLogDamaged   = "log_damaged"  // hashes kept with a leaf that its leaves do not give
	FindMismatch     = "checkpoint_mismatch"
	FindForged       = "checkpoint_forged" // not signed by the key
	FindFork         = "checkpoint_fork"   // two signed roots for one size
	FindTruncated    = "truncated"         // a signed checkpoint covers leaves the log lacks
	FindNotLogged    = "not_logged"        // records and no log at all
	FindLeafVersion  = "leaf_version"      // a leaf this Sluice cannot encode
	FindNoCheckpoint = "no_checkpoint"     // a gateway with leaves and no signed checkpoint (a note, not a failure)
)

// Finding is one thing verification found wrong.
type Finding struct {
	Kind    string `json:"kind"`
	Gateway string `json:"gateway"`
	// Leaf is the leaf concerned, -1 for none.
	Leaf int64 `json:"leaf"`
	// Seq and ID name the record concerned, when there is one.
	Seq    uint64 `json:"seq,omitempty"`
	ID     string `json:"id,omitempty"`
	Detail string `json:"detail"`
}

// Fails reports whether the finding means the log is not intact.
func (f Finding) Fails() bool { return f.Kind != FindNoCheckpoint }

// ExternalCheckpoint is a signed checkpoint from outside the store.
type ExternalCheckpoint struct {
	// Source names where it came from, for messages ("file:3").
	Source string
	Note   []byte
}

// VerifyOptions tune VerifyLogs.
type VerifyOptions struct {
	// Verifiers check the checkpoints' signatures. Nil: none can be
	// checked, so only records against the stored leaf hashes are (which
	// whoever changed a record could have rewritten too).
	Verifiers note.Verifiers
	// Checkpoints are checkpoints from outside the store (each is checked
	// against the log its origin names).
	Checkpoints []ExternalCheckpoint
	// Gateways limits verification to these gateways' logs; empty: all.
	Gateways []string
}

// LogVerification is what verification found of one gateway's log.
type LogVerification struct {
	Gateway string
	// Size is the number of leaves, Root the root of the tree they make.
	Size int64
	Root tlog.Hash
	// Checked is the number of records checked against their leaves;
	// Pruned the number of leaves whose record retention deleted.
	Checked, Pruned int64
	// Checkpoints is the number of distinct signed checkpoints checked
	// (stored and external); Latest the largest that matched, if any.
	Checkpoints int
	Latest      *tlog.Checkpoint
	// Findings lists what is wrong, in leaf order.
	Findings []Finding
}

// Intact reports whether nothing wrong was found.
func (v *LogVerification) Intact() bool {
	for _, f := range v.Findings {
		if f.Fails() {
			return false
		}
	}
	return true
}

// VerifyLogs verifies the logs of ls (see the top of this file).
func VerifyLogs(ctx context.Context, ls LogStore, opts VerifyOptions) ([]LogVerification, error) {
	lr, err := ls.LogSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer lr.Close()
	gws := opts.Gateways
	if len(gws) == 0 {
		if gws, err = lr.Gateways(ctx); err != nil {
			return nil, err
		}
	}
	external := map[string][]signedCheckpoint{}
	var stray []Finding
	for _, ec := range opts.Checkpoints {
		sc, f := openCheckpoint(ec.Note, ec.Source, opts.Verifiers)
		if f != nil {
			stray = append(stray, *f)
			continue
		}
		if sc != nil {
			external[sc.Origin] = append(external[sc.Origin], *sc)
		}
	}
	var out []LogVerification
	for _, gw := range gws {
		v, err := verifyLog(ctx, lr, gw, opts, external[gw])
		if err != nil {
			return nil, err
		}
		delete(external, gw)
		out = append(out, v)
	}
	// Forged or malformed external checkpoints are findings of the log
	// they name, if verified, else of a log of their own.
	for _, f := range stray {
		if len(opts.Gateways) > 0 && f.Gateway != "" && !slices.Contains(opts.Gateways, f.Gateway) {
			continue
		}
		attached := false
		for i := range out {
			if out[i].Gateway == f.Gateway {
				out[i].Findings = append(out[i].Findings, f)
				attached = true
			}
		}
		if !attached {
			out = append(out, LogVerification{Gateway: f.Gateway, Findings: []Finding{f}})
		}
	}
	// Signed checkpoints of a log the store does not have at all.
	origins := make([]string, 0, len(external))
	for o := range external {
		origins = append(origins, o)
	}
	slices.Sort(origins)
	for _, o := range origins {
		if len(opts.Gateways) > 0 && !slices.Contains(opts.Gateways, o) {
			continue
		}
		cps := external[o]
		largest := slices.MaxFunc(cps, func(a, b signedCheckpoint) int { return cmp.Compare(a.Size, b.Size) })
		out = append(out, LogVerification{Gateway: o, Findings: []Finding{{Kind: FindTruncated, Gateway: o, Leaf: -1,
			Detail: fmt.Sprintf("a checkpoint signed for log %q (%s, %d records) names a log the store does not have", o, largest.source, largest.Size)}}})
	}
	return out, nil
}

// signedCheckpoint is a checkpoint whose signature verified.
type signedCheckpoint struct {
	tlog.Checkpoint
	source string
}

// openCheckpoint checks a signed checkpoint: nil and no finding when
// there are no verifiers to check it with.
func openCheckpoint(msg []byte, source string, vs note.Verifiers) (*signedCheckpoint, *Finding) {
	if vs == nil {
		return nil, nil
	}
	c, _, err := tlog.Open(msg, vs)
	if err != nil {
		origin := ""
		if uc, perr := tlog.ParseCheckpoint(textOf(msg)); perr == nil {
			origin = uc.Origin
		}
		return nil, &Finding{Kind: FindForged, Gateway: origin, Leaf: -1,
			Detail: fmt.Sprintf("the checkpoint %s is not valid: %v", source, err)}
	}
	return &signedCheckpoint{Checkpoint: c, source: source}, nil
}

// textOf is the text of a note (before its signatures), "" if none.
func textOf(msg []byte) string {
	for i := 0; i+1 < len(msg); i++ {
		if msg[i] == '\n' && msg[i+1] == '\n' {
			return string(msg[:i+1])
		}
	}
	return ""
}

// pageSize is how many leaves, or records, verification reads at a time.
const pageSize = 4096

// verifyLog verifies gateway's log: its leaves in index order (the tree,
// against the checkpoints) and its records in the store's order, matched
// by id as both are read, page by page; a leaf or a record waits for its
// match only as long as the two orders differ (a call that took long is
// logged after the calls that began after it).
func verifyLog(ctx context.Context, lr LogReader, gateway string, opts VerifyOptions, external []signedCheckpoint) (LogVerification, error) {
	v := LogVerification{Gateway: gateway}
	find := func(kind string, leaf int64, seq uint64, id, format string, args ...any) {
		v.Findings = append(v.Findings, Finding{Kind: kind, Gateway: gateway, Leaf: leaf, Seq: seq, ID: id, Detail: fmt.Sprintf(format, args...)})
	}
	// The signed checkpoints, by size.
	stored, err := lr.Checkpoints(ctx, gateway)
	if err != nil {
		return v, err
	}
	cps := slices.Clone(external)
	for _, sc := range stored {
		src := fmt.Sprintf("stored at %s (size %d)", sc.Time.UTC().Format(time.RFC3339), sc.Size)
		c, f := openCheckpoint(sc.Note, src, opts.Verifiers)
		switch {
		case f != nil:
			f.Gateway = gateway
			v.Findings = append(v.Findings, *f)
		case c != nil && c.Origin != gateway:
			find(FindForged, -1, 0, "", "the checkpoint %s is signed for log %q, not %q", src, c.Origin, gateway)
		case c != nil:
			cps = append(cps, *c)
		}
	}
	slices.SortStableFunc(cps, func(a, b signedCheckpoint) int { return cmp.Compare(a.Size, b.Size) })
	// One per size; two roots for one size is a fork.
	cps = slices.CompactFunc(cps, func(a, b signedCheckpoint) bool {
		if a.Size != b.Size {
			return false
		}
		if a.Root != b.Root {
			find(FindFork, a.Size-1, 0, "", "two checkpoints of %d records sign different roots (%s, %s): the log was rewritten and signed again", a.Size, a.source, b.source)
		}
		return true
	})
	v.Checkpoints = len(cps)
	pruned, err := lr.PrunedBefore(ctx)
	if err != nil {
		return v, err
	}
	pruned = pruned.Truncate(time.Millisecond)

	var (
		tr           tlog.Tree
		row, buf     []byte // scratch
		next         int64  // the index the next leaf should have
		broken       = int64(-1)
		lastSeq      uint64
		ci           int   // next checkpoint to reach
		lastGood     int64 // size of the last checkpoint that matched
		mismatchSeen bool
		damaged      bool // a log_damaged finding was made
	)
	checkAt := func(size int64) {
		for ci < len(cps) && cps[ci].Size <= size {
			c := cps[ci]
			ci++
			if c.Size != size || broken >= 0 {
				continue // the tree never had this size (a gap before it)
			}
			if root := tr.Root(); root != c.Root {
				if !mismatchSeen {
					find(FindMismatch, -1, 0, "", "the log's first %d leaves do not hash to the root the checkpoint %s signs: "+
						"leaf hashes between leaf %d and leaf %d were rewritten after it was signed", c.Size, c.source, lastGood, c.Size-1)
				}
				mismatchSeen = true
				continue
			}
			lastGood = c.Size
			cp := c.Checkpoint
			v.Latest = &cp
		}
	}
	// The tree of the stored leaf hashes, against the checkpoints.
	tree := func(l *LogLeaf) {
		if l.Index != next {
			if broken < 0 {
				broken = next
			}
			find(FindLeafMissing, next, 0, "", "the log's leaves %d to %d are gone (records after seq %d, before seq %d): "+
				"the log cannot be checked against checkpoints beyond leaf %d", next, l.Index-1, lastSeq, l.Seq, next)
			next = l.Index
		}
		next++
		lastSeq = l.Seq
		if len(l.Hashes) < tlog.HashSize {
			find(FindLogDamaged, l.Index, l.Seq, l.ID, "the leaf's row holds no hash")
			if broken < 0 {
				broken = l.Index
			}
			return
		}
		if broken >= 0 {
			return
		}
		row = tr.Append(row[:0], l.Hash())
		if string(row) != string(l.Hashes) && !damaged {
			// The first subtree whose stored root differs holds a leaf
			// hash that was rewritten after this row was written (later
			// rows only repeat it).
			damaged = true
			level := 1
			for level*tlog.HashSize < len(row) && level*tlog.HashSize < len(l.Hashes) &&
				string(row[level*tlog.HashSize:(level+1)*tlog.HashSize]) == string(l.Hashes[level*tlog.HashSize:min((level+1)*tlog.HashSize, len(l.Hashes))]) {
				level++
			}
			first := l.Index + 1 - int64(1)<<level
			find(FindLogDamaged, first, 0, "", "the hashes kept with leaf %d are not those leaves %d to %d give: a leaf hash among them was rewritten "+
				"after they were logged (to hide a change to its record: the signed checkpoints show it)", l.Index, first, l.Index)
		}
		checkAt(tr.Size())
	}
	// Each record against its leaf.
	check := func(l *pendingLeaf, r *RecordDigest) {
		if l.version != LeafVersion {
			find(FindLeafVersion, l.index, l.seq, l.id, "leaf version %d is not one this Sluice knows (%d): upgrade Sluice to verify it", l.version, LeafVersion)
			return
		}
		v.Checked++
		switch {
		case r.LeafHash == l.hash:
		case r.Seq != l.seq:
			find(FindReordered, l.index, r.Seq, l.id, "record %s is now seq %d; it was logged as seq %d (leaf %d)", l.id, r.Seq, l.seq, l.index)
		default:
			find(FindAltered, l.index, l.seq, l.id, "record %s (seq %d) does not match what was logged (leaf %d): a field was changed", l.id, l.seq, l.index)
		}
	}
	leaves := map[string]*pendingLeaf{}   // read, their record not yet
	records := map[string]*RecordDigest{} // read, their leaf not yet
	var (
		recAfter         int64
		recDone          bool
		pulled, leafSeen int
	)
	pull := func(until int) error {
		for !recDone && pulled < until {
			page, err := digestsOf(ctx, lr, gateway, recAfter, pageSize, &buf)
			if err != nil {
				return err
			}
			if len(page) == 0 {
				recDone = true
				break
			}
			for i := range page {
				r := &page[i]
				recAfter = r.Rid
				pulled++
				if l, ok := leaves[r.ID]; ok {
					delete(leaves, r.ID)
					check(l, r)
				} else {
					records[r.ID] = r
				}
			}
		}
		return nil
	}
	for from := int64(0); ; {
		page, err := lr.Leaves(ctx, gateway, from, pageSize)
		if err != nil {
			return v, err
		}
		if len(page) == 0 {
			break
		}
		for i := range page {
			l := &page[i]
			tree(l)
			pl := &pendingLeaf{index: l.Index, seq: l.Seq, id: l.ID, start: l.TimeStart, version: l.Version, hash: l.Hash()}
			if r, ok := records[l.ID]; ok {
				delete(records, l.ID)
				check(pl, r)
			} else {
				leaves[l.ID] = pl
			}
			leafSeen++
		}
		from = page[len(page)-1].Index + 1
		if err := pull(leafSeen + pageSize); err != nil {
			return v, err
		}
	}
	if err := pull(math.MaxInt); err != nil {
		return v, err
	}
	v.Size, v.Root = next, tr.Root()
	if broken >= 0 {
		v.Root = tlog.Hash{}
	}
	// Leaves whose record is gone: pruned, or deleted.
	for _, l := range leaves {
		if !pruned.IsZero() && l.start.Before(pruned) {
			v.Pruned++
			continue
		}
		find(FindDeleted, l.index, l.seq, l.id, "record %s (seq %d, started %s) is gone: it was logged (leaf %d) and retention did not prune it",
			l.id, l.seq, FormatTime(l.start), l.index)
	}
	// Checkpoints beyond the log: it lost its end.
	for ; ci < len(cps); ci++ {
		if c := cps[ci]; c.Size > next {
			find(FindTruncated, next, 0, "", "the checkpoint %s covers %d leaves; the log has %d: the records after seq %d (leaves %d to %d) are gone",
				c.source, c.Size, next, lastSeq, next, c.Size-1)
			break
		}
	}
	// Completed records no leaf names (open ones are not logged yet).
	unlogged := 0
	for _, r := range records {
		if r.Open {
			continue
		}
		unlogged++
		if next > 0 {
			find(FindInserted, -1, r.Seq, r.ID, "record %s (seq %d, started %s) is in the store and in no leaf of the log: it was added",
				r.ID, r.Seq, FormatTime(r.TimeStart))
		}
	}
	if next == 0 && unlogged > 0 {
		find(FindNotLogged, -1, 0, "", "%d completed records and no log: they were written by a Sluice without transparency logs "+
			"(a gateway of this version logs them when it opens the store), or the log was removed", unlogged)
	}
	if opts.Verifiers != nil && len(cps) == 0 && next > 0 {
		find(FindNoCheckpoint, -1, 0, "", "no signed checkpoint of this log: records are checked against the stored hashes only")
	}
	slices.SortStableFunc(v.Findings, func(a, b Finding) int {
		ka, kb := a.Leaf, b.Leaf
		if ka < 0 {
			ka = 1 << 62
		}
		if kb < 0 {
			kb = 1 << 62
		}
		return cmp.Or(cmp.Compare(ka, kb), cmp.Compare(a.Seq, b.Seq))
	})
	return v, nil
}

// pendingLeaf is a leaf read whose record is not yet.
type pendingLeaf struct {
	index   int64
	seq     uint64
	id      string
	start   time.Time
	version int
	hash    tlog.Hash
}
