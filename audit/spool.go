package audit

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
// hex and written in order, entries framed as spool_frame.go says (a
// sync marker and a checksum per entry, so replay skips only damaged
// bytes), each segment starting with an entrySegStart entry; beside them
// the high-water mark (spool_hwm.go) and the lock.
//
// The store keeps, in the same transaction as the rows, the position just
// after the last entry ingested (spool_cursor), so a restart replays
// exactly the entries that did not reach it (spool_replay.go). Segments
// before the cursor's are deleted.

// spoolSegmentMax is the size after which the next append starts a new
// segment (so ingested data can be deleted).
const spoolSegmentMax = 32 << 20

// A busy spool writes into segments filled with zeros beforehand: an
// fdatasync that changes no file size or extent needs no filesystem
// journal commit, which halves its latency and kernel CPU here (measured:
// 145 µs against 233–318 µs per commit on ext4). Once the current segment
// holds spareAfter bytes, a goroutine prepares the next one as spareName;
// idle gateways never pay for it.
const (
	spareAfter = spoolSegmentMax / 4
	spareName  = "spare.zero"
)

// entryProbe is a health-check entry; replay skips it.
const entryProbe byte = 3

// spoolPos is a position in the spool: a segment and the offset just
// after an entry.
type spoolPos struct {
	Seg, Off int64
}

func (p spoolPos) before(q spoolPos) bool {
	return p.Seg < q.Seg || (p.Seg == q.Seg && p.Off < q.Off)
}

// spoolItem is one entry: a record (kind entryRecord) or an outcome
// (entryOutcome), and where its entry ends.
type spoolItem struct {
	kind byte
	rec  *Record
	pos  spoolPos
}

// spool appends entries; only the Auditor's writer goroutine calls
// append, check and close.
type spool struct {
	dir      string
	log      *slog.Logger
	openFile openSpoolFileFunc
	f        spoolFile
	ident    os.FileInfo
	seg      int64 // current segment, 0 before the first append
	nextSeg  int64
	off      int64 // end of the current segment's durable data
	buf      []byte
	lock     *os.File // holds an exclusive flock on <dir>/lock

	// segStart is what the current segment's first entry says about the
	// segment before it; maxSeq is the highest seq made durable.
	segStart segStart
	maxSeq   uint64
	// hwm records the durable end after every write (nil: none kept).
	hwm *hwmFile

	// spareDone is set while a spare is being prepared or waits to be
	// taken, and closed when its preparation ends (writer only).
	spareDone chan struct{}
	stop      chan struct{} // closed by close: stop preparing
}

// spoolName turns a gateway id into a directory name: the id itself when
// it is plain, else its hex.
func spoolName(gateway string) string {
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

// openSpool opens (creating) the spool directory. New segments are
// numbered after every existing one and after the store's cursor.
func openSpool(dir string, cursor spoolPos, log *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("audit: spool %s: %w", dir, err)
	}
	s := &spool{dir: dir, log: log, openFile: openOSSpoolFile, stop: make(chan struct{})}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("audit: spool %s: %w", dir, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("audit: spool %s is in use by another process with the same gateway id (give each instance its own SLUICE_GATEWAY_ID): %w", dir, err)
	}
	s.lock = lock
	segs, err := s.segments()
	if err != nil {
		s.unlock()
		return nil, err
	}
	s.nextSeg = cursor.Seg + 1
	if n := len(segs); n > 0 && segs[n-1] >= s.nextSeg {
		s.nextSeg = segs[n-1] + 1
	}
	return s, nil
}

func (s *spool) segPath(seg int64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016x.spool", seg))
}

// segments lists the segment numbers in the directory, ascending.
func (s *spool) segments() ([]int64, error) {
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
func (s *spool) start() error {
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return err
	}
	seg := s.nextSeg
	path := s.segPath(seg)
	var f spoolFile
	s.takeSpare()
	if err := os.Rename(filepath.Join(s.dir, spareName), path); err == nil {
		f, err = s.openFile(path, os.O_WRONLY, 0o640)
		if err != nil {
			return err
		}
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
	if err := syncDir(s.dir); err != nil {
		return fail(err)
	}
	ident, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	// The previous segment of this process (none yet: 0) and where its
	// durable data ends, for the new segment's first entry.
	s.segStart = segStart{PrevSeg: s.seg, PrevEnd: s.off, MaxSeq: s.maxSeq}
	s.f, s.ident, s.seg, s.off = f, ident, seg, 0
	s.nextSeg = seg + 1
	return nil
}

// append writes the entries of items in one write, fdatasyncs, and sets
// each item's position. An error means none of them is known durable;
// the segment is abandoned and the next append starts a new one.
func (s *spool) append(items []spoolItem) error {
	if s.f != nil && s.off >= spoolSegmentMax {
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
		buf = appendEntry(buf, s.seg, s.off+int64(len(buf)), items[i].kind, items[i].rec)
		items[i].pos = spoolPos{s.seg, s.off + int64(len(buf))}
		maxSeq = max(maxSeq, items[i].rec.Seq)
	}
	s.buf = buf
	return s.write(buf, maxSeq)
}

// begin starts a write: a segment's first write begins with its
// entrySegStart entry.
func (s *spool) begin(buf []byte) []byte {
	if s.off == 0 {
		buf = appendSegStart(buf, s.seg, s.segStart)
	}
	return buf
}

// write appends buf to the segment durably and checks that the segment
// is still the file at its path (one removed is not durable). Then the
// high-water mark records the new durable end and seq.
func (s *spool) write(buf []byte, maxSeq uint64) error {
	fail := func(err error) error {
		s.abandon()
		return fmt.Errorf("audit: spool %s: %w", s.dir, err)
	}
	n, err := s.f.Write(buf)
	if err != nil {
		return fail(err)
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
	s.off += int64(n)
	s.maxSeq = max(s.maxSeq, maxSeq)
	if s.hwm != nil {
		s.hwm.noteSpool(spoolPos{s.seg, s.off}, s.maxSeq)
	}
	if s.off >= spareAfter && s.spareDone == nil {
		s.prepareSpare()
	}
	return nil
}

// prepareSpare writes the next segment's zeros in the background (once
// per segment).
func (s *spool) prepareSpare() {
	done := make(chan struct{})
	s.spareDone = done
	go func() {
		defer close(done)
		if err := s.writeSpare(); err != nil {
			s.log.Debug("audit: spool: preparing a segment", "err", err)
		}
	}()
}

func (s *spool) writeSpare() error {
	final := filepath.Join(s.dir, spareName)
	if _, err := os.Stat(final); err == nil {
		return nil
	}
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	zeros := make([]byte, 1<<20)
	for n := 0; n < spoolSegmentMax; n += len(zeros) {
		select {
		case <-s.stop:
			_ = f.Close()
			return os.Remove(tmp)
		default:
		}
		if _, err := f.Write(zeros); err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
			return err
		}
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, final)
}

// takeSpare lets the next segment use a prepared spare and allows the
// one after to prepare another. A spare still being written is left to
// finish (this segment starts empty, the next gets it): the writer never
// waits for it.
func (s *spool) takeSpare() {
	if s.spareDone == nil {
		return
	}
	select {
	case <-s.spareDone:
		s.spareDone = nil
	default:
	}
}

// check proves the spool can commit: a probe entry written and synced.
func (s *spool) check() error {
	if s.f == nil {
		if err := s.start(); err != nil {
			return fmt.Errorf("audit: spool %s: %w", s.dir, err)
		}
	}
	buf := s.begin(s.buf[:0])
	buf = appendEntry(buf, s.seg, s.off+int64(len(buf)), entryProbe, nil)
	s.buf = buf
	return s.write(buf, 0)
}

// abandon closes the current segment; the next append starts another.
func (s *spool) abandon() {
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
}

// removeBefore deletes the segments numbered below seg: everything in
// them is in the store.
func (s *spool) removeBefore(seg int64) {
	segs, err := s.segments()
	if err != nil {
		s.log.Warn("audit: spool cleanup", "err", err)
		return
	}
	for _, n := range segs {
		if n >= seg {
			break
		}
		if err := os.Remove(s.segPath(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("audit: spool cleanup", "err", err)
		}
	}
}

// close closes the current segment and the high-water mark, and stops
// preparing a spare.
func (s *spool) close() {
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

// unlock releases the spool directory for another process.
func (s *spool) unlock() {
	if s.lock != nil {
		_ = s.lock.Close() // drops the flock
		s.lock = nil
	}
}
