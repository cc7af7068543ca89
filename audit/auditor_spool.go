package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sluicehq/sluice/audit/spool"
)

// openSpool sets up the spool when there is one: it checks the store
// against the spool's high-water mark, writes into the store what the
// previous run left in the spool, reports any damage, and brings the mark
// up to date.
func (a *Auditor) openSpool(ctx context.Context) error {
	if a.opts.NoSpool || a.opts.SpoolDir == "" {
		return nil
	}
	cs, ok := a.store.(SpoolStore)
	if !ok {
		return nil
	}
	cur, err := cs.SpoolCursor(ctx, a.opts.Gateway)
	if err != nil {
		return err
	}
	// One spool per gateway id: instances sharing a store file each
	// replay only their own.
	sp, err := spool.Open(filepath.Join(a.opts.SpoolDir, spool.Name(a.opts.Gateway)), cur,
		spool.Options{Logger: a.log, Decode: decodePayload, OpenFile: a.opts.openSpoolFile})
	if err != nil {
		return err
	}
	a.spool, a.iq = sp, newIngestQueue(a.now) // Open's failure path closes them

	hw, found, err := sp.ReadHighWater()
	switch {
	case errors.Is(err, spool.ErrHighWaterUnreadable):
		a.reportDamage(spool.DamageEvent{Kind: spool.DamageHighWater, File: sp.HighWaterPath(),
			Detail: "the high-water mark is unreadable, so this start cannot tell whether the store or the spool lost records; it is rewritten"})
		hw, found = spool.HighWater{}, false
	case err != nil:
		return err
	}
	last, err := a.store.LastSeq(ctx, a.opts.Gateway)
	if err != nil {
		return err
	}
	id := storeIDOf(a.store)
	if found {
		if err := a.checkBehind(sp, hw, last, id); err != nil {
			return err
		}
	}
	hw.StoreID = id // the file the mark describes from now on
	if err := sp.OpenHighWater(hw); err != nil {
		return err
	}
	exp := spool.Expect{SeqBefore: last}
	if found {
		exp.Durable, exp.MaxSeq = hw.Durable, hw.SpoolSeq
	}
	if err := a.replaySpool(ctx, cur, exp); err != nil {
		return err
	}
	if last, err = a.store.LastSeq(ctx, a.opts.Gateway); err != nil {
		return err
	}
	sp.SetMaxSeq(max(last, hw.SpoolSeq))
	// The replayed segments are gone: no durable end is expected until
	// the next write.
	return sp.SetHighWater(spool.HighWater{StoreID: storeIDOf(a.store), StoreSeq: last, SpoolSeq: sp.MaxSeq()})
}

// checkBehind refuses a store that lacks records this gateway committed
// to it: the high-water mark says the store reached seq hw.StoreSeq, the
// store says last.
func (a *Auditor) checkBehind(sp *spool.Spool, hw spool.HighWater, last uint64, id string) error {
	if hw.StoreSeq == 0 || last >= hw.StoreSeq {
		return nil
	}
	mark := sp.HighWaterPath()
	other := ""
	if hw.StoreID != "" && id != hw.StoreID {
		other = fmt.Sprintf(" It is not the file the gateway last wrote (store id %q, the mark says %q).", id, hw.StoreID)
	}
	return fmt.Errorf("%w: %s is behind this gateway's high-water mark (%s): it holds records of gateway %q up to seq %d, "+
		"but records up to seq %d were committed to the store, so records %d..%d are not in it: the file was truncated, "+
		"replaced, or restored from an older copy.%s The gateway refuses to start rather than silently go on without them; "+
		"no records were written to it. Put the right file back; or, to accept the loss and go on with this file, remove %s and start again",
		ErrStoreDamaged, a.storePath(), mark, a.opts.Gateway, last, hw.StoreSeq, last+1, hw.StoreSeq, other, mark)
}

// replaySpool writes into the store what the spool holds beyond the
// store's cursor (a crash, or a store that was down at the last Close),
// reports the damage replay found, then deletes the replayed segments
// (damaged ones are kept aside, renamed).
func (a *Auditor) replaySpool(ctx context.Context, from spool.Pos, exp spool.Expect) error {
	n := 0
	res, err := a.spool.Replay(from, a.opts.IngestBatch, exp, func(items []spool.Item) error {
		n += len(items)
		return a.writeIngest(ctx, items)
	})
	if err != nil {
		return fmt.Errorf("audit: replaying spool %s: %w", a.spool.Dir(), err)
	}
	for _, d := range res.Damage {
		a.reportDamage(d)
	}
	// Damaged segments are kept aside rather than deleted: what could
	// not be read stays there for a person to look at.
	for _, path := range a.spool.KeepDamaged(res.Damage, a.now()) {
		a.log.Warn("audit: damaged spool segment kept aside", "path", path)
	}
	a.spool.RemoveBefore(a.spool.NextSegment())
	if n > 0 {
		a.log.Warn("audit: wrote records the previous run left in the spool", "count", n, "spool", a.spool.Dir(),
			"damage_events", len(res.Damage))
	}
	return nil
}

// noteStored records in the high-water mark what the store committed (the
// ingester calls it under storeMu, after each successful write), and
// reports a store file replaced while the gateway ran.
func (a *Auditor) noteStored(seq uint64) {
	if a.spool == nil || !a.spool.HasHighWater() {
		return
	}
	id := storeIDOf(a.store)
	prevID, prevSeq := a.spool.NoteStored(id, seq)
	if prevID != "" && id != "" && id != prevID && prevSeq > 0 {
		a.reportDamage(spool.DamageEvent{Kind: DamageStoreReplaced, File: a.storePath(), SeqBefore: prevSeq,
			Detail: fmt.Sprintf("the store file was replaced or recreated while the gateway ran: this gateway's records up to seq %d were in the old file and are not in the new one", prevSeq)})
	}
}

// syncHighWater fdatasyncs the high-water mark every HighWaterSync until
// ctx ends; between syncs it is current in the page cache.
func (a *Auditor) syncHighWater(ctx context.Context) {
	t := time.NewTicker(a.opts.HighWaterSync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := a.spool.SyncHighWater(); err != nil {
			a.log.Warn("audit: high-water mark", "err", err)
		}
	}
}

// storePath names the store's file (or the store URL), for messages.
func (a *Auditor) storePath() string {
	if is, ok := a.store.(IdentifiedStore); ok {
		return is.Location()
	}
	return a.opts.Config.Store
}

// storeIDOf is the id of the store's file, or "" for stores without one.
func storeIDOf(s Store) string {
	if is, ok := s.(IdentifiedStore); ok {
		return is.StoreID()
	}
	return ""
}

// damagedStoreHint adds to the error of a damaged store what else to do
// when this gateway keeps a high-water mark: after the file is moved
// aside, the mark would refuse the new one as behind.
func damagedStoreHint(err error, spoolDir, gateway string) error {
	if !errors.Is(err, ErrStoreDamaged) || spoolDir == "" {
		return err
	}
	mark := filepath.Join(spoolDir, spool.Name(gateway), spool.HighWaterName)
	if _, serr := os.Stat(mark); serr != nil {
		return err
	}
	return fmt.Errorf("%w. Then also remove %s, which records what the damaged file held (else the new file is refused as behind it)", err, mark)
}
