package audit

import (
	"context"
	"sync"

	"github.com/sluicehq/sluice/audit/spool"
)

// DamageStoreReplaced is the kind of damage the Auditor finds itself: the
// store file was replaced or recreated while the gateway ran; records it
// held are not in the new file.
const DamageStoreReplaced = "store_replaced"

// damageKeep is how many damage events the Auditor keeps for its status;
// older ones are only counted.
const damageKeep = 100

// damageLog is the Auditor's record of the damage it found, for the
// admin API.
type damageLog struct {
	mu     sync.Mutex
	events []spool.DamageEvent
	total  int
}

func (l *damageLog) add(e spool.DamageEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	if len(l.events) == damageKeep {
		l.events = append(l.events[:0], l.events[1:]...)
	}
	l.events = append(l.events, e)
}

func (l *damageLog) list() []spool.DamageEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]spool.DamageEvent{}, l.events...)
}

// reportDamage makes e loud: an error log naming file, offset and the
// seqs lost, the damage metrics, and the Auditor's status (/v1/audit).
func (a *Auditor) reportDamage(e spool.DamageEvent) {
	if e.Time.IsZero() {
		e.Time = a.now().UTC()
	}
	if e.Gateway == "" {
		e.Gateway = a.opts.Gateway
	}
	a.log.Error("audit: DAMAGE: records may be lost: "+e.Detail,
		"kind", e.Kind, "file", e.File, "offset", e.Offset, "bytes", e.Bytes,
		"seq_before", e.SeqBefore, "seq_after", e.SeqAfter, "lost_seqs", e.LostSeqs(), "gateway", e.Gateway)
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
func (a *Auditor) Damage() []spool.DamageEvent { return a.damage.list() }
