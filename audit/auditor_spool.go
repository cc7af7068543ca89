package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// openSpool sets up the spool when there is one: it checks the store
// against the spool's high-water mark, writes into the store what the
// previous run left in the spool, reports any damage, and brings the mark
// up to date.
func (a *Auditor) openSpool(ctx context.Context) error {
	if a.opts.NoSpool || a.opts.SpoolDir == "" {
		return nil
	}
	cs, ok := a.store.(spoolCursorStore)
	if !ok {
		return nil
	}
	cur, err := cs.spoolCursor(ctx, a.opts.Gateway)
	if err != nil {
		return err
	}
	// One spool per gateway id: instances sharing a store file each
	// replay only their own.
	sp, err := openSpool(filepath.Join(a.opts.SpoolDir, spoolName(a.opts.Gateway)), cur, a.log)
	if err != nil {
		return err
	}
	sp.openFile = a.opts.openSpoolFile
	a.spool, a.iq = sp, newIngestQueue() // Open's failure path closes them

	hw, gen, found, err := readHighWater(sp.dir)
	switch {
	case errors.Is(err, errHighWaterUnreadable):
		a.reportDamage(DamageEvent{Kind: DamageHighWater, File: filepath.Join(sp.dir, hwmName),
			Detail: "the high-water mark is unreadable, so this start cannot tell whether the store or the spool lost records; it is rewritten"})
		hw, found = highWater{}, false
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
	if sp.hwm, err = openHighWater(sp.dir, hw, gen, a.log); err != nil {
		return err
	}
	exp := replayExpect{seqBefore: last}
	if found {
		exp.durable, exp.maxSeq = hw.Durable, hw.SpoolSeq
	}
	if err := a.replaySpool(ctx, cur, exp); err != nil {
		return err
	}
	if last, err = a.store.LastSeq(ctx, a.opts.Gateway); err != nil {
		return err
	}
	sp.maxSeq = max(last, hw.SpoolSeq)
	// The replayed segments are gone: no durable end is expected until
	// the next write.
	return sp.hwm.set(highWater{StoreID: storeIDOf(a.store), StoreSeq: last, SpoolSeq: sp.maxSeq})
}

// checkBehind refuses a store that lacks records this gateway committed
// to it: the high-water mark says the store reached seq hw.StoreSeq, the
// store says last.
func (a *Auditor) checkBehind(sp *spool, hw highWater, last uint64, id string) error {
	if hw.StoreSeq == 0 || last >= hw.StoreSeq {
		return nil
	}
	mark := filepath.Join(sp.dir, hwmName)
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
func (a *Auditor) replaySpool(ctx context.Context, from spoolPos, exp replayExpect) error {
	n := 0
	res, err := a.spool.replay(from, a.opts.IngestBatch, exp, func(items []spoolItem) error {
		n += len(items)
		return a.writeIngest(ctx, items)
	})
	if err != nil {
		return fmt.Errorf("audit: replaying spool %s: %w", a.spool.dir, err)
	}
	for _, d := range res.damage {
		a.reportDamage(d)
	}
	a.keepDamaged(res.damage)
	a.spool.removeBefore(a.spool.nextSeg)
	if n > 0 {
		a.log.Warn("audit: wrote records the previous run left in the spool", "count", n, "spool", a.spool.dir,
			"damage_events", len(res.damage))
	}
	return nil
}

// keepDamaged renames the damaged segments to <segment>.damaged-<time>
// instead of letting them be deleted: their intact entries are in the
// store, and what could not be read stays there for a person to look at.
func (a *Auditor) keepDamaged(events []DamageEvent) {
	done := map[string]bool{}
	for _, d := range events {
		if !strings.HasSuffix(d.File, ".spool") || done[d.File] {
			continue
		}
		done[d.File] = true
		to := d.File + ".damaged-" + a.now().UTC().Format("20060102T150405Z")
		if err := os.Rename(d.File, to); err == nil {
			a.log.Warn("audit: damaged spool segment kept aside", "path", to)
		}
	}
}

// noteStored records in the high-water mark what the store committed (the
// ingester calls it under storeMu, after each successful write), and
// reports a store file replaced while the gateway ran.
func (a *Auditor) noteStored(seq uint64) {
	if a.spool == nil || a.spool.hwm == nil {
		return
	}
	id := storeIDOf(a.store)
	prevID, prevSeq := a.spool.hwm.noteStore(id, seq)
	if prevID != "" && id != "" && id != prevID && prevSeq > 0 {
		a.reportDamage(DamageEvent{Kind: DamageStoreReplaced, File: a.storePath(), SeqBefore: prevSeq,
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
		if err := a.spool.hwm.sync(); err != nil {
			a.log.Warn("audit: high-water mark", "err", err)
		}
	}
}

// storePath is the store file's path (or the store URL), for messages.
func (a *Auditor) storePath() string {
	if p, ok := strings.CutPrefix(a.opts.Config.Store, "sqlite://"); ok {
		return p
	}
	return a.opts.Config.Store
}

// storeIDOf is the id of the store's file, or "" for stores without one.
func storeIDOf(s Store) string {
	if is, ok := s.(identifiedStore); ok {
		return is.storeID()
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
	mark := filepath.Join(spoolDir, spoolName(gateway), hwmName)
	if _, serr := os.Stat(mark); serr != nil {
		return err
	}
	return fmt.Errorf("%w. Then also remove %s, which records what the damaged file held (else the new file is refused as behind it)", err, mark)
}
