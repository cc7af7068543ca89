package audit

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
// mark: refused, auditor_open.go), and outside the segments so that a
// spool that lost its end is noticed at replay (spool_replay.go).
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
	hwmName    = "hwm"
	hwmSlot    = 128
	hwmVersion = 1
	hwmIDMax   = 64
)

var hwmMagic = []byte("SLHW")

// errHighWaterUnreadable: the file exists but neither slot is intact.
var errHighWaterUnreadable = errors.New("high-water mark unreadable (both slots damaged)")

// highWater is what the mark records.
type highWater struct {
	// StoreID is the id of the store file (its store_meta row).
	StoreID string
	// StoreSeq is the highest seq of this gateway the store committed.
	StoreSeq uint64
	// SpoolSeq is the highest seq of this gateway durable in the spool,
	// Durable the end of the spool's last synced write (zero: none since
	// the last replay).
	SpoolSeq uint64
	Durable  spoolPos
}

func (h highWater) encode(gen uint64) []byte {
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
func decodeHighWater(b []byte) (h highWater, gen uint64, ok bool) {
	if len(b) < hwmSlot || !bytes.Equal(b[:4], hwmMagic) || b[4] != hwmVersion ||
		crc32.Checksum(b[:124], crcTable) != binary.LittleEndian.Uint32(b[124:]) {
		return h, 0, false
	}
	gen = binary.LittleEndian.Uint64(b[8:])
	h.StoreSeq = binary.LittleEndian.Uint64(b[16:])
	h.SpoolSeq = binary.LittleEndian.Uint64(b[24:])
	h.Durable = spoolPos{int64(binary.LittleEndian.Uint64(b[32:])), int64(binary.LittleEndian.Uint64(b[40:]))}
	n := int(b[48])
	if n > hwmIDMax {
		return h, 0, false
	}
	h.StoreID = string(b[49 : 49+n])
	return h, gen, true
}

// readHighWater reads the mark in dir: found is false when there is
// none (a new spool, or one written before marks existed).
func readHighWater(dir string) (h highWater, gen uint64, found bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, hwmName))
	if errors.Is(err, fs.ErrNotExist) {
		return h, 0, false, nil
	}
	if err != nil {
		return h, 0, false, fmt.Errorf("audit: %s: %w", filepath.Join(dir, hwmName), err)
	}
	best := -1
	for i := 0; i < 2 && (i+1)*hwmSlot <= len(b); i++ {
		if s, g, ok := decodeHighWater(b[i*hwmSlot:]); ok && (best < 0 || g > gen) {
			h, gen, best = s, g, i
		}
	}
	if best < 0 {
		return highWater{}, 0, true, errHighWaterUnreadable
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
	cur    highWater
	gen    uint64
	dirty  bool // written since the last sync
	failed bool // the last write failed (logged once)
}

// openHighWater opens (creating, durably) the mark in dir, holding hw,
// continuing from generation gen.
func openHighWater(dir string, hw highWater, gen uint64, log *slog.Logger) (*hwmFile, error) {
	path := filepath.Join(dir, hwmName)
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
		if err := syncDir(dir); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("audit: %s: %w", dir, err)
		}
	}
	return h, nil
}

// set replaces the whole mark and syncs it (at Open, after replay).
func (h *hwmFile) set(hw highWater) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cur = hw
	h.writeLocked()
	return h.syncLocked()
}

// noteSpool records a new durable end of the spool and its highest seq.
func (h *hwmFile) noteSpool(pos spoolPos, seq uint64) {
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

// current returns the mark as it stands.
func (h *hwmFile) current() highWater {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur
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
