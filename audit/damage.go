package audit

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Damage kinds.
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
	// DamageStoreReplaced: the store file was replaced or recreated while
	// the gateway ran; records it held are not in the new file.
	DamageStoreReplaced = "store_replaced"
)

// DamageEvent is damage to the records found by the Auditor: what,
// where, and which records it may have cost. A crash never causes one (a
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

// seqRange renders the lost seqs for a log line.
func (e *DamageEvent) seqRange() string {
	if e.LostSeqFrom == 0 {
		return "none (outcomes only, if anything)"
	}
	return fmt.Sprintf("%d..%d", e.LostSeqFrom, e.LostSeqTo)
}

// damageKeep is how many damage events the Auditor keeps for its status;
// older ones are only counted.
const damageKeep = 100

// damageLog is the Auditor's record of the damage it found, for the
// admin API.
type damageLog struct {
	mu     sync.Mutex
	events []DamageEvent
	total  int
}

func (l *damageLog) add(e DamageEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	if len(l.events) == damageKeep {
		l.events = append(l.events[:0], l.events[1:]...)
	}
	l.events = append(l.events, e)
}

func (l *damageLog) list() []DamageEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]DamageEvent{}, l.events...)
}

// reportDamage makes e loud: an error log naming file, offset and the
// seqs lost, the damage metrics, and the Auditor's status (/v1/audit).
func (a *Auditor) reportDamage(e DamageEvent) {
	if e.Time.IsZero() {
		e.Time = a.now().UTC()
	}
	if e.Gateway == "" {
		e.Gateway = a.opts.Gateway
	}
	a.log.Error("audit: DAMAGE: records may be lost: "+e.Detail,
		"kind", e.Kind, "file", e.File, "offset", e.Offset, "bytes", e.Bytes,
		"seq_before", e.SeqBefore, "seq_after", e.SeqAfter, "lost_seqs", e.seqRange(), "gateway", e.Gateway)
	ctx := context.Background()
	switch e.Kind {
	case DamageStoreReplaced:
		a.ins.storeDamage.Add(ctx, 1)
	default:
		a.ins.spoolDamage.Add(ctx, 1)
		a.ins.spoolDamagedBytes.Add(ctx, e.Bytes)
	}
	a.damage.add(e)
}

// Damage returns the damage events this Auditor found (at most the last
// 100), oldest first. They stay until the process ends: the admin API
// shows them in GET /v1/audit.
func (a *Auditor) Damage() []DamageEvent { return a.damage.list() }
