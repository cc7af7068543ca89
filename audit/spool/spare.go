package spool

import (
	"os"
	"path/filepath"
)

// A busy spool writes into segments filled with zeros beforehand: an
// fdatasync that changes no file size or extent needs no filesystem
// journal commit, which halves its latency and kernel CPU here (measured:
// 145 µs against 233–318 µs per commit on ext4). Once the current segment
// holds spareAfter bytes, a goroutine prepares the next one as spareName;
// idle gateways never pay for it.
//
// A segment that was not a spare (the first after a start, or one begun
// while the spare was still being written) grows with every write, and
// every sync of it pays the journal commit. So once it holds
// spareAfterGrowing bytes a spare is prepared at once, and the next
// append after the spare is ready moves to it, however little the
// growing segment holds: a gateway under load pays the dearer syncs for
// a second or so after a start, not until 32 MiB have gone by (#18: at
// ~700 tunnels/s that was the whole of a bench run).
const (
	spareAfter        = spoolSegmentMax / 4
	spareAfterGrowing = 1 << 20
	spareName         = "spare.zero"
)

// prepareSpare writes the next segment's zeros in the background (once
// per segment).
func (s *Spool) prepareSpare() {
	done := make(chan struct{})
	s.spareDone = done
	go func() {
		defer close(done)
		if err := s.writeSpare(); err != nil {
			s.log.Debug("audit: spool: preparing a segment", "err", err)
		}
	}()
}

func (s *Spool) writeSpare() error {
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

// spareReady says whether a prepared spare waits to be taken.
func (s *Spool) spareReady() bool {
	if s.spareDone == nil || s.spareFailed {
		return false
	}
	select {
	case <-s.spareDone:
	default:
		return false
	}
	if _, err := os.Stat(filepath.Join(s.dir, spareName)); err != nil {
		// Its preparation failed (a full disk ...): the next segment
		// tries again, as after any failed preparation.
		s.spareFailed = true
		return false
	}
	return true
}

// takeSpare lets the next segment use a prepared spare and allows the
// one after to prepare another. A spare still being written is left to
// finish (this segment starts empty, the next gets it): the writer never
// waits for it.
func (s *Spool) takeSpare() {
	if s.spareDone == nil {
		return
	}
	select {
	case <-s.spareDone:
		s.spareDone = nil
	default:
	}
}
