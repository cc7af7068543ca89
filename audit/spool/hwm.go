package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// The high-water mark is a small file in the spool directory,
// <spool>/<gateway>/hwm, that says how far this gateway's records got:
// the store file it writes (its id) and the highest seq the store has
// committed, and the spool's durable end and highest seq. It lives
// outside the database so that a truncated, replaced or restored
// audit.db is noticed when the gateway opens it (the store is behind the
// mark: refused, audit's auditor_spool.go), and outside the segments so
// that a spool that lost its end is noticed at replay (replay.go).
//
// It must never claim more than is durable, so it is written after the
// spool's fdatasync and the store's commit, never before. It is cheap to
// keep current: every spool commit rewrites it in place (one pwrite, no
// sync, a microsecond), so it is exact after kill -9 (the page cache
// survives the process); a goroutine fdatasyncs it every second
// (HighWaterSync), so after a power cut it lags by at most that. Two
// 128-byte slots, written alternately, each with a generation and a
// CRC-32C: a write torn by a power cut leaves the other slot intact.
//
// Slot layout (little endian): [4] "SLHW", [1] version 1, [3] zero,
// [8] generation, [8] store seq, [8] spool seq, [8] durable segment,
// [8] durable offset, [1] store id length, [≤64] store id, zeros,
// [4] CRC-32C of bytes 0..124 at 124.
const (
	// HighWaterName is the mark's file name in the spool directory.
	HighWaterName = "hwm"

	hwmSlot    = 128
	hwmVersion = 1
	hwmIDMax   = 64
)

var hwmMagic = []byte("SLHW")

// ErrHighWaterUnreadable means the mark's file exists but neither slot is
// intact.
var ErrHighWaterUnreadable = errors.New("high-water mark unreadable (both slots damaged)")

// HighWater is what the mark records.
type HighWater struct {
	// StoreID is the id of the store file (its store_meta row).
	StoreID string
	// StoreSeq is the highest seq of this gateway the store committed.
	StoreSeq uint64
	// SpoolSeq is the highest seq of this gateway durable in the spool,
	// Durable the end of the spool's last synced write (zero: none since
	// the last replay).
	SpoolSeq uint64
	Durable  Pos
}

func (h HighWater) encode(gen uint64) []byte {
	b := make([]byte, hwmSlot)
	copy(b, hwmMagic)
	b[4] = hwmVersion
	binary.LittleEndian.PutUint64(b[8:], gen)
	binary.LittleEndian.PutUint64(b[16:], h.StoreSeq)
	binary.LittleEndian.PutUint64(b[24:], h.SpoolSeq)
	binary.LittleEndian.PutUint64(b[32:], uint64(h.Durable.Seg))
	binary.LittleEndian.PutUint64(b[40:], uint64(h.Durable.Off))
	id := h.StoreID
	if len(id) > hwmIDMax {
		id = id[:hwmIDMax]
	}
	b[48] = byte(len(id))
	copy(b[49:], id)
	binary.LittleEndian.PutUint32(b[124:], crc32.Checksum(b[:124], crcTable))
	return b
}

// decodeHighWater reads one slot; ok is false unless it is intact.
func decodeHighWater(b []byte) (h HighWater, gen uint64, ok bool) {
	if len(b) < hwmSlot || !bytes.Equal(b[:4], hwmMagic) || b[4] != hwmVersion ||
		crc32.Checksum(b[:124], crcTable) != binary.LittleEndian.Uint32(b[124:]) {
		return h, 0, false
	}
	gen = binary.LittleEndian.Uint64(b[8:])
	h.StoreSeq = binary.LittleEndian.Uint64(b[16:])
	h.SpoolSeq = binary.LittleEndian.Uint64(b[24:])
	h.Durable = Pos{int64(binary.LittleEndian.Uint64(b[32:])), int64(binary.LittleEndian.Uint64(b[40:]))}
	n := int(b[48])
	if n > hwmIDMax {
		return h, 0, false
	}
	h.StoreID = string(b[49 : 49+n])
	return h, gen, true
}

// ReadHighWater reads the mark in dir without changing anything: found is
// false when there is none (a new spool, or one written before marks
// existed); ErrHighWaterUnreadable when neither slot is intact.
func ReadHighWater(dir string) (h HighWater, found bool, err error) {
	h, _, found, err = readHighWater(dir)
	return h, found, err
}

func readHighWater(dir string) (h HighWater, gen uint64, found bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, HighWaterName))
	if errors.Is(err, fs.ErrNotExist) {
		return h, 0, false, nil
	}
	if err != nil {
		return h, 0, false, fmt.Errorf("audit: %s: %w", filepath.Join(dir, HighWaterName), err)
	}
	best := -1
	for i := 0; i < 2 && (i+1)*hwmSlot <= len(b); i++ {
		if s, g, ok := decodeHighWater(b[i*hwmSlot:]); ok && (best < 0 || g > gen) {
			h, gen, best = s, g, i
		}
	}
	if best < 0 {
		return HighWater{}, 0, true, ErrHighWaterUnreadable
	}
	return h, gen, true, nil
}

// hwmFile keeps the mark current. The spool's writer and the ingester
// update it; a goroutine syncs it.
type hwmFile struct {
	path string
	log  *slog.Logger

	mu     sync.Mutex
	f      *os.File
	cur    HighWater
	gen    uint64
	dirty  bool // written since the last sync
	failed bool // the last write failed (logged once)
}

// openHighWater opens (creating, durably) the mark in dir, holding hw,
// continuing from generation gen.
func openHighWater(dir string, hw HighWater, gen uint64, log *slog.Logger) (*hwmFile, error) {
	path := filepath.Join(dir, HighWaterName)
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("audit: %s: %w", path, err)
	}
	h := &hwmFile{path: path, log: log, f: f, cur: hw, gen: gen}
	if errors.Is(statErr, fs.ErrNotExist) {
		// Both slots exist from the start, so a later fdatasync changes
		// no file size (no journal commit); the name is made durable.
		if err := f.Truncate(2 * hwmSlot); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("audit: %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("audit: %s: %w", path, err)
		}
		if err := SyncDir(dir); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("audit: %s: %w", dir, err)
		}
	}
	return h, nil
}

// set replaces the whole mark and syncs it (at Open, after replay).
func (h *hwmFile) set(hw HighWater) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cur = hw
	h.writeLocked()
	return h.syncLocked()
}

// noteSpool records a new durable end of the spool and its highest seq.
func (h *hwmFile) noteSpool(pos Pos, seq uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cur.Durable, h.cur.SpoolSeq = pos, max(h.cur.SpoolSeq, seq)
	h.writeLocked()
}

// noteStore records what the store has committed; it returns the store
// id the mark held before (to notice a store replaced while running).
func (h *hwmFile) noteStore(id string, seq uint64) (prevID string, prevSeq uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	prevID, prevSeq = h.cur.StoreID, h.cur.StoreSeq
	if id != "" && id != prevID {
		h.cur.StoreID, h.cur.StoreSeq = id, seq // a new file starts over
	} else {
		h.cur.StoreSeq = max(h.cur.StoreSeq, seq)
	}
	h.writeLocked()
	return prevID, prevSeq
}

// writeLocked writes the next slot in place, without syncing. A failure
// is logged once: the mark is a detector, the records do not depend on
// it.
func (h *hwmFile) writeLocked() {
	if h.f == nil {
		return
	}
	h.gen++
	_, err := h.f.WriteAt(h.cur.encode(h.gen), int64(h.gen%2)*hwmSlot)
	switch {
	case err != nil && !h.failed:
		h.failed = true
		h.log.Warn("audit: cannot update the high-water mark", "path", h.path, "err", err)
	case err == nil:
		h.failed, h.dirty = false, true
	}
}

// sync makes the mark's last write durable.
func (h *hwmFile) sync() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.syncLocked()
}

func (h *hwmFile) syncLocked() error {
	if h.f == nil || !h.dirty {
		return nil
	}
	if err := h.f.Sync(); err != nil {
		return fmt.Errorf("audit: %s: %w", h.path, err)
	}
	h.dirty = false
	return nil
}

// close syncs and closes the mark.
func (h *hwmFile) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.f == nil {
		return nil
	}
	err := h.syncLocked()
	err = errors.Join(err, h.f.Close())
	h.f = nil
	return err
}

// ReadHighWater reads this spool's mark (see the package function) and
// remembers its generation, which OpenHighWater continues.
func (s *Spool) ReadHighWater() (HighWater, bool, error) {
	h, gen, found, err := readHighWater(s.dir)
	s.hwmGen = gen
	return h, found, err
}

// OpenHighWater starts keeping the mark (created durably if missing) with
// hw in it: from now on every Append records the spool's durable end in
// it, unsynced, and SyncHighWater makes it durable.
func (s *Spool) OpenHighWater(hw HighWater) error {
	h, err := openHighWater(s.dir, hw, s.hwmGen, s.log)
	if err != nil {
		return err
	}
	s.hwm = h
	return nil
}

// HasHighWater reports whether the spool keeps its mark.
func (s *Spool) HasHighWater() bool { return s.hwm != nil }

// HighWaterPath is the mark's path.
func (s *Spool) HighWaterPath() string { return filepath.Join(s.dir, HighWaterName) }

// SetHighWater replaces the whole mark and syncs it (at Open, after
// replay).
func (s *Spool) SetHighWater(hw HighWater) error { return s.hwm.set(hw) }

// NoteStored records in the mark that the store (file id, "" for none)
// has committed this gateway's records up to seq, and returns the store
// id and seq the mark held before (a different id: the store file was
// replaced). Safe to call from another goroutine than the writer's.
func (s *Spool) NoteStored(id string, seq uint64) (prevID string, prevSeq uint64) {
	return s.hwm.noteStore(id, seq)
}

// SyncHighWater fdatasyncs the mark's last write.
func (s *Spool) SyncHighWater() error { return s.hwm.sync() }
