package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sluicehq/sluice/audit/tlog"
)

// Each gateway's records form a transparency log (audit/tlog): every
// record, once complete, is a leaf (its canonical encoding, AppendLeaf)
// appended to its gateway's RFC 6962 tree, in seq order within each
// batch. The stores keep the tree beside the records, in the transaction
// that completes them: one row per leaf with the hashes its append
// computed (tlog.Tree.Append), so proofs and checkpoints read O(log n)
// hashes and nothing is recomputed from scratch. Signed checkpoints of the
// tree (checkpoint.go) make any later change to the records, or to the
// hashes, evident to `sluice audit verify` (verify.go). See README.md,
// "Tamper evidence".

// LogLeaf is one leaf of a gateway's log as a store keeps it.
type LogLeaf struct {
	Gateway string
	// Index is the leaf's position in the log, from 0.
	Index int64
	// Seq, ID and TimeStart are the record's when it was logged: they name
	// the record when it is gone or altered (they are not what the hashes
	// vouch for; the leaf is).
	Seq       uint64
	ID        string
	TimeStart time.Time
	// Version is the leaf encoding's version (LeafVersion).
	Version int
	// Hashes are the leaf's hash and the roots of the subtrees it
	// completed (tlog.Tree.Append).
	Hashes []byte
}

// Hash is the leaf's hash, as stored.
func (l *LogLeaf) Hash() tlog.Hash {
	var h tlog.Hash
	copy(h[:], l.Hashes)
	return h
}

// StoredCheckpoint is a signed checkpoint a store keeps.
type StoredCheckpoint struct {
	Gateway string
	Size    int64
	// Time is when it was stored.
	Time time.Time
	// Note is the signed note (tlog.Open reads it).
	Note []byte
}

// LogStore is a store that keeps its gateways' transparency logs (both
// SQL stores do). Write appends the leaves of the records each batch
// completes, with LogAppender, in the batch's transaction; Prune keeps the
// leaves of the records it deletes and records its cut (LogReader's
// PrunedBefore), so that a verification after a prune still holds.
type LogStore interface {
	Store
	// LogSnapshot opens a consistent view of the logs and records (one
	// read transaction), for verification and proofs. It works on a store
	// opened read-only.
	LogSnapshot(ctx context.Context) (LogReader, error)
	// AddCheckpoint keeps a signed checkpoint of gateway's log of size
	// leaves (one per size: a second one of the same size is ignored).
	AddCheckpoint(ctx context.Context, gateway string, size int64, note []byte) error
}

// LogReader reads the logs of a store as of one moment.
type LogReader interface {
	// Gateways lists the gateways with a log or with records, sorted.
	Gateways(ctx context.Context) ([]string, error)
	// Size is the number of leaves of gateway's log (its highest index + 1).
	Size(ctx context.Context, gateway string) (int64, error)
	// Leaves returns up to limit leaves of gateway's log from index from
	// on, in index order (a leaf that is gone is skipped: the indexes
	// show the gap); none past the end.
	Leaves(ctx context.Context, gateway string, from int64, limit int) ([]LogLeaf, error)
	// LeafRows reads the hashes of the leaves indexes of gateway's log
	// (for tlog.RowHashReader); a missing leaf is absent from the map.
	LeafRows(ctx context.Context, gateway string, indexes []int64) (map[int64][]byte, error)
	// LeafOf is the leaf of the record id; ok is false when there is none
	// (not complete, unknown, or pruned).
	LeafOf(ctx context.Context, id string) (leaf LogLeaf, ok bool, err error)
	// Records returns up to limit records of gateway, open ones included,
	// whose rid (Row().ID) is above after, in rid order: what verification
	// matches with the leaves, page by page.
	Records(ctx context.Context, gateway string, after int64, limit int) ([]Record, error)
	// Record is the record id, nil when the store has none.
	Record(ctx context.Context, id string) (*Record, error)
	// Checkpoints are the signed checkpoints kept of gateway's log, by size.
	Checkpoints(ctx context.Context, gateway string) ([]StoredCheckpoint, error)
	// PrunedBefore is the latest cut of retention (records that started
	// before it were pruned); zero if none.
	PrunedBefore(ctx context.Context) (time.Time, error)
	// Close ends the snapshot.
	Close() error
}

// RecordDigest is what verification needs of a record: where the store
// keeps it, what names it, whether it is open, and its leaf hash.
type RecordDigest struct {
	Rid       int64
	ID        string
	Seq       uint64
	TimeStart time.Time
	Open      bool
	LeafHash  tlog.Hash
}

// DigestReader is a LogReader that hashes records where they are, rather
// than reading them whole (audit/sqlite: a SQL function over the stored
// columns, with LeafHash). Verification uses it when there is one.
type DigestReader interface {
	// Digests is Records, digested.
	Digests(ctx context.Context, gateway string, after int64, limit int) ([]RecordDigest, error)
}

// digestsOf reads the digests of lr's records: with its DigestReader if
// it has one, else from Records.
func digestsOf(ctx context.Context, lr LogReader, gateway string, after int64, limit int, buf *[]byte) ([]RecordDigest, error) {
	if dr, ok := lr.(DigestReader); ok {
		return dr.Digests(ctx, gateway, after, limit)
	}
	recs, err := lr.Records(ctx, gateway, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]RecordDigest, len(recs))
	for i := range recs {
		r := &recs[i]
		out[i] = RecordDigest{Rid: r.Row().ID, ID: r.ID, Seq: r.Seq, TimeStart: r.TimeStart, Open: r.TimeEnd.IsZero()}
		out[i].LeafHash, *buf = LeafHash(r, *buf)
	}
	return out, nil
}

// HashReader is the tlog.HashReader of gateway's log in lr.
func HashReader(ctx context.Context, lr LogReader, gateway string) tlog.HashReader {
	return tlog.RowHashReader(func(leaves []int64) (map[int64][]byte, error) {
		return lr.LeafRows(ctx, gateway, leaves)
	})
}

// LogHead is the size and root of gateway's log in lr.
func LogHead(ctx context.Context, lr LogReader, gateway string) (int64, tlog.Hash, error) {
	size, err := lr.Size(ctx, gateway)
	if err != nil {
		return 0, tlog.Hash{}, err
	}
	root, err := tlog.TreeHash(size, HashReader(ctx, lr, gateway))
	if err != nil {
		return 0, tlog.Hash{}, fmt.Errorf("audit: log of %s: %w", gateway, err)
	}
	return size, root, nil
}

// LogAppender is the write side of a store's logs, used by the store's
// writer (one goroutine): it keeps each gateway's tree edge in memory and
// turns the records a batch completes into leaves. The store calls
// Prepare for each gateway of a batch inside its write transaction (to
// load or check the tree against what the store holds), Append with the
// completed records, inserts the leaves, and Commit once the transaction
// committed (Abort if not).
type LogAppender struct {
	trees   map[string]*tlog.Tree
	pending map[string]*tlog.Tree
	leaves  []LogLeaf
	recs    []*Record // recs[i] is the record of leaves[i]
	buf     []byte
	hashes  []byte
	order   []*Record
}

// LogState is how a store tells the appender about a gateway's log: its
// size as stored, and how to read hashes of it (for the edge).
type LogState struct {
	Size int64
	Read tlog.RowReader
}

// Prepare makes sure the appender's tree of gateway is the one the store
// holds (size as stored): it is loaded (O(log n) hashes) the first time
// and again whenever the store's size differs from the tree's (another
// process appended, a file was replaced, a transaction failed).
func (a *LogAppender) Prepare(gateway string, st LogState) error {
	if a.trees == nil {
		a.trees, a.pending = map[string]*tlog.Tree{}, map[string]*tlog.Tree{}
	}
	if t := a.trees[gateway]; t != nil && t.Size() == st.Size {
		return nil
	}
	t, err := tlog.ResumeTree(st.Size, tlog.RowHashReader(st.Read))
	if err != nil {
		return fmt.Errorf("loading the log of %s (%d leaves): %w", gateway, st.Size, err)
	}
	a.trees[gateway] = &t
	return nil
}

// Append turns recs, completed records, into leaves of their gateways'
// logs, in (gateway, seq) order; every gateway must have been prepared.
// The leaves (and their Hashes) are valid until the next Append.
func (a *LogAppender) Append(recs []*Record) ([]LogLeaf, error) {
	a.leaves, a.recs = a.leaves[:0], a.recs[:0]
	a.hashes = a.hashes[:0]
	clear(a.pending)
	a.order = append(a.order[:0], recs...)
	slices.SortFunc(a.order, func(x, y *Record) int {
		return cmp.Or(cmp.Compare(x.Gateway, y.Gateway), cmp.Compare(x.Seq, y.Seq))
	})
	for _, r := range a.order {
		t := a.pending[r.Gateway]
		if t == nil {
			cur := a.trees[r.Gateway]
			if cur == nil {
				return nil, fmt.Errorf("audit: log of gateway %q not prepared", r.Gateway)
			}
			c := cur.Clone()
			t = &c
			a.pending[r.Gateway] = t
		}
		var h tlog.Hash
		h, a.buf = LeafHash(r, a.buf)
		start := len(a.hashes)
		n := t.Size()
		a.hashes = t.Append(a.hashes, h)
		a.leaves = append(a.leaves, LogLeaf{Gateway: r.Gateway, Index: n, Seq: r.Seq, ID: r.ID,
			TimeStart: r.TimeStart, Version: LeafVersion, Hashes: a.hashes[start:len(a.hashes):len(a.hashes)]})
		a.recs = append(a.recs, r)
	}
	// a.hashes may have moved while growing: point the leaves at its
	// final array.
	off := 0
	for i := range a.leaves {
		n := len(a.leaves[i].Hashes)
		a.leaves[i].Hashes = a.hashes[off : off+n : off+n]
		off += n
	}
	return a.leaves, nil
}

// Records are the records of the leaves of the last Append, in the same
// order.
func (a *LogAppender) Records() []*Record { return a.recs }

// Commit keeps the trees of the last Append: its leaves are stored.
func (a *LogAppender) Commit() {
	for gw, t := range a.pending {
		a.trees[gw] = t
	}
	clear(a.pending)
}

// Abort forgets the last Append (its transaction failed) and every tree:
// each is loaded again from the store at the next Prepare.
func (a *LogAppender) Abort() {
	clear(a.pending)
	clear(a.trees)
}

// Size is the size of gateway's tree as the appender has it (-1 if it has
// none).
func (a *LogAppender) Size(gateway string) int64 {
	if t := a.trees[gateway]; t != nil {
		return t.Size()
	}
	return -1
}

// ErrNoLog means a store keeps no transparency logs: written by a Sluice
// from before them, and opened read-only (a writer adds them).
var ErrNoLog = errors.New("the store has no transparency log (written by an older Sluice; a gateway of this version adds it when it opens the store)")
