// Package spool is the audit store's write-ahead journal (docs/contract.md
// §8): an append-only, checksummed, fdatasynced log of entries in segment
// files, replayed after a crash, that skips only damaged bytes and says
// what they cost. It knows nothing of what an entry carries: the caller
// gives each entry's payload (Payload) and seq, and a Decoder to read
// payloads back. See README.md.
package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// The spool is the audit store's write-ahead journal: Begin returns once
// the record is in the spool (one write and one fdatasync for every
// record queued meanwhile), and an ingester copies the spool into the
// SQLite file in large transactions in the background. Durability is the
// spool's; the SQLite file is the queryable index of it.
//
// Why: committing straight to SQLite costs ~60 µs of CPU per call at the
// batch sizes a gateway sees (every commit rewrites the index pages it
// touched, twice: WAL and checkpoint) and makes each call wait for that
// work. Appending ~300 bytes to a file costs ~2 µs, and the ingester's
// batches of thousands of rows (a call's decision and outcome usually
// merged into one row) cost a fraction of what small commits did.
//
// Layout: <store>.spool/<gateway>/<segment>.spool, segments numbered in
// hex and written in order, entries framed as frame.go says (a sync
// marker and a checksum per entry, so replay skips only damaged bytes),
// each segment starting with a segment-start entry; beside them the
// high-water mark (hwm.go) and the lock.
//
// The store keeps, in the same transaction as the rows, the position just
// after the last entry ingested (its spool cursor), so a restart replays
// exactly the entries that did not reach it (replay.go). Segments before
// the cursor's are deleted.

// spoolSegmentMax is the size after which the next append starts a new
// segment (so ingested data can be deleted).
const spoolSegmentMax = 32 << 20

// Spool appends entries; one goroutine (the Auditor's writer) calls
// Append, Check and Close.
type Spool struct {
	dir      string
	log      *slog.Logger
	decode   Decoder
	openFile OpenFileFunc
	f        File
	ident    os.FileInfo
	seg      int64 // current segment, 0 before the first append
	nextSeg  int64
	off      int64 // end of the current segment's data (durable unless lazy)
	lazy     bool  // AppendLazy wrote past the last sync
	buf      []byte
	lock     *os.File // holds an exclusive flock on <dir>/lock

	// segStart is what the current segment's first entry says about the
	// segment before it; maxSeq is the highest seq made durable.
	segStart segStart
	maxSeq   uint64
	// hwm records the durable end after every write (nil: none kept);
	// hwmGen is the generation of the mark read at Open.
	hwm    *hwmFile
	hwmGen uint64

	// spareDone is set while a spare is being prepared or waits to be
	// taken, and closed when its preparation ends (writer only). zeroed
	// says the current segment was a spare: one that grows instead pays a
	// journal commit per sync, so it is left as soon as a spare is ready
	// (spare.go).
	spareDone   chan struct{}
	zeroed      bool
	spareFailed bool          // the spare prepared for this segment is not there
	stop        chan struct{} // closed by close: stop preparing
}

// Name turns a gateway id into the name of its spool directory: the id
// itself when it is plain, else its hex.
func Name(gateway string) string {
	plain := gateway != "" && gateway != "." && gateway != ".."
	for _, c := range gateway {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			plain = false
			break
		}
	}
	if plain {
		return gateway
	}
	return fmt.Sprintf("x%x", gateway)
}

// Open opens (creating) the spool directory and locks it for this process
// (flock: one writer per spool). New segments are numbered after every
// existing one and after the store's cursor.
func Open(dir string, cursor Pos, opts Options) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("audit: spool %s: %w", dir, err)
	}
	s := Peek(dir, opts)
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("audit: spool %s: %w", dir, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("audit: spool %s is in use by another process with the same gateway id (give each instance its own SLUICE_GATEWAY_ID): %w", dir, err)
	}
	s.lock = lock
	segs, err := s.Segments()
	if err != nil {
		s.Unlock()
		return nil, err
	}
	s.nextSeg = cursor.Seg + 1
	if n := len(segs); n > 0 && segs[n-1] >= s.nextSeg {
		s.nextSeg = segs[n-1] + 1
	}
	return s, nil
}

// Peek is the spool in dir for reading only (Replay, Segments, the
// high-water mark): it takes no lock, so a running gateway may be writing
// it, and nothing is changed.
func Peek(dir string, opts Options) *Spool {
	opts.defaults()
	return &Spool{dir: dir, log: opts.Logger, decode: opts.Decode, openFile: opts.OpenFile, stop: make(chan struct{})}
}

// Dir is the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// MaxSeq is the highest seq made durable (or set with SetMaxSeq).
func (s *Spool) MaxSeq() uint64 { return s.maxSeq }

// SetMaxSeq sets the highest seq known durable (after a replay: what the
// store and the mark say).
func (s *Spool) SetMaxSeq(seq uint64) { s.maxSeq = seq }

// NextSegment is the number the next segment will have: every segment
// below it was written before this process's first Append.
func (s *Spool) NextSegment() int64 { return s.nextSeg }

// SegPath is the path of segment seg.
func (s *Spool) SegPath(seg int64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016x.spool", seg))
}

// Segments lists the segment numbers in the directory, ascending.
func (s *Spool) Segments() ([]int64, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("audit: spool %s: %w", s.dir, err)
	}
	var segs []int64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".spool")
		if !ok || e.IsDir() {
			continue
		}
		n, err := strconv.ParseInt(name, 16, 64)
		if err != nil {
			continue
		}
		segs = append(segs, n)
	}
	slices.Sort(segs)
	return segs, nil
}

// start opens a new segment after every existing one and makes its name
// durable.
func (s *Spool) start() error {
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return err
	}
	seg := s.nextSeg
	path := s.SegPath(seg)
	var f File
	s.takeSpare()
	zeroed := false
	if err := os.Rename(filepath.Join(s.dir, spareName), path); err == nil {
		f, err = s.openFile(path, os.O_WRONLY, 0o640)
		if err != nil {
			return err
		}
		zeroed = true
	} else {
		f, err = s.openFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if err != nil {
			return err
		}
	}
	fail := func(err error) error {
		_ = f.Close()
		_ = os.Remove(path)
		return err
	}
	if err := SyncDir(s.dir); err != nil {
		return fail(err)
	}
	ident, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	// The previous segment of this process (none yet: 0) and where its
	// durable data ends, for the new segment's first entry.
	s.segStart = segStart{PrevSeg: s.seg, PrevEnd: s.off, MaxSeq: s.maxSeq}
	s.f, s.ident, s.seg, s.off, s.zeroed, s.spareFailed = f, ident, seg, 0, zeroed, false
	s.nextSeg = seg + 1
	return nil
}

// Append writes the entries of items in one write, fdatasyncs, and sets
// each item's Pos. An error means none of them is known durable; the
// segment is abandoned and the next Append starts a new one.
func (s *Spool) Append(items []Item) error { return s.append(items, true) }

// AppendLazy writes items without waiting for the disk: they survive the
// process's death (kill -9) at once, and a power loss once Sync (or any
// Append, whose fdatasync covers them) has run. The high-water mark
// counts them only then. For what nobody waits on (a call's outcome): the
// decision records stay durable before the dial.
func (s *Spool) AppendLazy(items []Item) error { return s.append(items, false) }

// Sync makes what AppendLazy wrote durable.
func (s *Spool) Sync() error {
	if !s.lazy || s.f == nil {
		return nil
	}
	return s.sync()
}

func (s *Spool) append(items []Item, durable bool) error {
	if s.f != nil && (s.off >= spoolSegmentMax || !s.zeroed && s.spareReady()) {
		if err := s.Sync(); err != nil {
			return err
		}
		s.abandon()
	}
	if s.f == nil {
		if err := s.start(); err != nil {
			return fmt.Errorf("audit: spool %s: %w", s.dir, err)
		}
	}
	buf := s.begin(s.buf[:0])
	var maxSeq uint64
	for i := range items {
		buf = appendEntry(buf, s.seg, s.off+int64(len(buf)), items[i].Kind, items[i].Payload)
		items[i].Pos = Pos{s.seg, s.off + int64(len(buf))}
		maxSeq = max(maxSeq, items[i].Seq)
	}
	s.buf = buf
	return s.write(buf, maxSeq, durable)
}

// begin starts a write: a segment's first write begins with its
// segment-start entry.
func (s *Spool) begin(buf []byte) []byte {
	if s.off == 0 {
		buf = appendSegStart(buf, s.seg, s.segStart)
	}
	return buf
}

// write appends buf to the segment and, when durable, syncs it (sync).
func (s *Spool) write(buf []byte, maxSeq uint64, durable bool) error {
	n, err := s.f.Write(buf)
	if err != nil {
		s.abandon()
		return fmt.Errorf("audit: spool %s: %w", s.dir, err)
	}
	s.off += int64(n)
	s.maxSeq = max(s.maxSeq, maxSeq)
	if !durable {
		s.lazy = true
		return nil
	}
	return s.sync()
}

// sync makes the segment durable and checks that it is still the file at
// its path (one removed is not durable). Then the high-water mark records
// the new durable end and seq.
func (s *Spool) sync() error {
	fail := func(err error) error {
		s.abandon()
		return fmt.Errorf("audit: spool %s: %w", s.dir, err)
	}
	if err := s.f.Datasync(); err != nil {
		return fail(err)
	}
	fi, err := os.Stat(s.f.Name())
	if err != nil {
		return fail(err)
	}
	if !os.SameFile(fi, s.ident) {
		return fail(errors.New("segment file was replaced"))
	}
	s.lazy = false
	if s.hwm != nil {
		s.hwm.noteSpool(Pos{s.seg, s.off}, s.maxSeq)
	}
	if s.spareDone == nil && (s.off >= spareAfter || !s.zeroed && s.off >= spareAfterGrowing) {
		s.prepareSpare()
	}
	return nil
}

// Check proves the spool can commit: a probe entry written and synced.
func (s *Spool) Check() error {
	if s.f == nil {
		if err := s.start(); err != nil {
			return fmt.Errorf("audit: spool %s: %w", s.dir, err)
		}
	}
	buf := s.begin(s.buf[:0])
	buf = appendEntry(buf, s.seg, s.off+int64(len(buf)), kindProbe, nil)
	s.buf = buf
	return s.write(buf, 0, true)
}

// abandon closes the current segment; the next append starts another.
func (s *Spool) abandon() {
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
}

// RemoveBefore deletes the segments numbered below seg: everything in
// them is in the store.
func (s *Spool) RemoveBefore(seg int64) {
	segs, err := s.Segments()
	if err != nil {
		s.log.Warn("audit: spool cleanup", "err", err)
		return
	}
	for _, n := range segs {
		if n >= seg {
			break
		}
		if err := os.Remove(s.SegPath(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("audit: spool cleanup", "err", err)
		}
	}
}

// Close closes the current segment and the high-water mark, and stops
// preparing a spare.
func (s *Spool) Close() {
	if err := s.Sync(); err != nil {
		s.log.Warn("audit: spool sync at close", "err", err)
	}
	s.abandon()
	if s.hwm != nil {
		if err := s.hwm.close(); err != nil {
			s.log.Warn("audit: high-water mark", "err", err)
		}
	}
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	if s.spareDone != nil {
		<-s.spareDone
	}
}

// Unlock releases the spool directory for another process.
func (s *Spool) Unlock() {
	if s.lock != nil {
		_ = s.lock.Close() // drops the flock
		s.lock = nil
	}
}
