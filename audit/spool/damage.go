package spool

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Damage kinds the spool finds.
const (
	// DamageSpool: unreadable bytes in a spool segment (between intact
	// entries, or where data known durable should be). Replay skipped
	// them and went on with the next intact entry.
	DamageSpool = "spool_damage"
	// DamageSpoolMissing: a spool segment known to hold durable data is
	// gone.
	DamageSpoolMissing = "spool_segment_missing"
	// DamageHighWater: the high-water mark file is unreadable, so this
	// start could not check the store and spool against it.
	DamageHighWater = "high_water_mark_unreadable"
)

// DamageEvent is damage to the records: what, where, and which records it
// may have cost. The spool reports what replay finds; the Auditor adds
// what it finds itself (a store file replaced) and lists them all. A crash never causes one (a
// write cut short by a crash was never acknowledged, and is only logged);
// damage is the disk, the filesystem or a person changing files.
type DamageEvent struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Gateway string    `json:"gateway"`
	// File and Offset are where the damage starts; Bytes how many bytes
	// were skipped (or are missing).
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Bytes  int64  `json:"bytes"`
	// SeqBefore is the seq of the last intact entry before the damage,
	// SeqAfter of the first after it (0: none).
	SeqBefore uint64 `json:"seq_before,omitempty"`
	SeqAfter  uint64 `json:"seq_after,omitempty"`
	// LostSeqFrom..LostSeqTo (inclusive) are the seqs of the records
	// whose entries were in the damaged bytes, inferred from the intact
	// entries on either side (seqs are assigned in about the order
	// entries are written). A record whose decision entry was lost is
	// still recovered when its outcome entry is intact (an outcome
	// carries the whole record); an outcome lost leaves its call closed
	// as gateway_restart. Both 0: no record's decision can have been
	// there, only outcomes.
	LostSeqFrom uint64 `json:"lost_seq_from,omitempty"`
	LostSeqTo   uint64 `json:"lost_seq_to,omitempty"`
	Detail      string `json:"detail"`

	// upTo bounds the lost seqs when no intact entry follows (the seq
	// the high-water mark or the next segment says was reached).
	upTo uint64
}

// settle fills LostSeqFrom and LostSeqTo from the seqs around the damage.
func (e *DamageEvent) settle() {
	to := e.upTo
	if e.SeqAfter > 0 {
		to = e.SeqAfter - 1
	}
	if to > e.SeqBefore {
		e.LostSeqFrom, e.LostSeqTo = e.SeqBefore+1, to
	}
}

// LostSeqs renders the lost seqs for a log line.
func (e *DamageEvent) LostSeqs() string {
	if e.LostSeqFrom == 0 {
		return "none (outcomes only, if anything)"
	}
	return fmt.Sprintf("%d..%d", e.LostSeqFrom, e.LostSeqTo)
}

// KeepDamaged renames the damaged segments events name to
// <segment>.damaged-<now> instead of letting them be deleted: their
// intact entries are in the store, and what could not be read stays there
// for a person to look at. It returns the new paths.
func (s *Spool) KeepDamaged(events []DamageEvent, now time.Time) []string {
	done := map[string]bool{}
	var kept []string
	for _, d := range events {
		if !strings.HasSuffix(d.File, ".spool") || done[d.File] {
			continue
		}
		done[d.File] = true
		to := d.File + ".damaged-" + now.UTC().Format("20060102T150405Z")
		if err := os.Rename(d.File, to); err == nil {
			kept = append(kept, to)
		}
	}
	return kept
}
