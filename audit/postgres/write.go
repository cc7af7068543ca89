package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/sqlplan"
)

// gen is the generation of every PostgreSQL store's RowRefs: a rid stays
// valid as long as the database does, and Write checks the id with the
// rid anyway, so a rid from elsewhere cannot misplace an outcome.
const gen = 1

// known reports whether r's row is known by its rid.
func known(r *audit.Record) bool { return r.Row().ID != 0 && r.Row().Gen == gen }

// Write implements audit.Store: one transaction. Begin's rows are inserted
// (and listed in open_calls); outcomes update their row, found by the rid
// Begin's insert returned (checked against the id) or else by id; an
// outcome whose row is not there is inserted as a whole record. The
// records the batch completes join their gateways' logs.
func (s *store) Write(ctx context.Context, b *audit.Batch) (err error) {
	w, err := s.writer()
	if err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	tx, err := w.Begin(ctx)
	if err != nil {
		return fmt.Errorf("audit: postgres: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			s.logs.Abort()
		}
	}()
	// Inserts with no TimeEnd are open calls: their outcome columns hold
	// nothing yet, as in the SQLite view.
	ins := make([]*audit.Record, len(b.Inserts))
	var completed []*audit.Record
	for i, r := range b.Inserts {
		ins[i] = r
		if r.TimeEnd.IsZero() {
			c := *r
			audit.ClearOutcome(&c)
			ins[i] = &c
		} else {
			completed = append(completed, r)
		}
	}
	var byRid, byID []*audit.Record
	for _, r := range b.Outcomes {
		if known(r) {
			byRid = append(byRid, r)
		} else {
			byID = append(byID, r)
		}
	}

	batch := &pgx.Batch{}
	if len(byRid) > 0 {
		batch.Queue(s.lay.updateByRid, s.lay.updateArgs(byRid)...)
	}
	if len(byID) > 0 {
		batch.Queue(s.lay.updateByID, s.lay.updateArgs(byID)...)
	}
	if len(ins) > 0 {
		batch.Queue(s.lay.insertOpen, s.lay.insertArgs(ins)...)
	}
	gateways := sqlplan.GatewaySeqs(b)
	batch.Queue(seqSQL, seqArgs(gateways)...)
	for _, g := range gateways {
		batch.Queue(sqlplan.LogSizeSQL(dialect{}), g.Gateway)
	}

	found := make(map[string]bool, len(b.Outcomes))
	rids := make(map[string]int64, len(ins))
	br := tx.SendBatch(ctx, batch)
	readIDs := func(rows pgx.Rows, err error, what string) error {
		if err != nil {
			return fmt.Errorf("audit: postgres: %s: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return fmt.Errorf("audit: postgres: %s: %w", what, err)
			}
			found[id] = true
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("audit: postgres: %s: %w", what, err)
		}
		return nil
	}
	if len(byRid) > 0 {
		rows, err := br.Query()
		if err := readIDs(rows, err, "update outcomes"); err != nil {
			_ = br.Close()
			return err
		}
	}
	if len(byID) > 0 {
		rows, err := br.Query()
		if err := readIDs(rows, err, "update outcomes by id"); err != nil {
			_ = br.Close()
			return err
		}
	}
	if len(ins) > 0 {
		if err := readRids(br, rids); err != nil {
			_ = br.Close()
			return fmt.Errorf("audit: postgres: insert decisions: %w", err)
		}
	}
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return fmt.Errorf("audit: postgres: seq: %w", err)
	}
	sizes := make([]int64, len(gateways))
	for i := range gateways {
		if err := br.QueryRow().Scan(&sizes[i]); err != nil {
			_ = br.Close()
			return fmt.Errorf("audit: postgres: log size: %w", err)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("audit: postgres: batch: %w", err)
	}
	for i, g := range gateways {
		if s.logs.Size(g.Gateway) == sizes[i] {
			continue
		}
		if err := s.logs.Prepare(g.Gateway, audit.LogState{Size: sizes[i], Read: func(ls []int64) (map[int64][]byte, error) {
			return leaves.Rows(ctx, s.query(tx), g.Gateway, ls)
		}}); err != nil {
			return fmt.Errorf("audit: postgres: %w", err)
		}
	}

	// Outcomes whose open row was not found (rare: Begin failed, or the
	// row was pruned or its rid is stale, or the record is already
	// complete): try by id those looked up by rid, then insert the rest
	// whole so that nothing is lost (a record already there is left as
	// it is).
	var missing, missingByRid []*audit.Record
	for _, r := range b.Outcomes {
		if !found[r.ID] {
			missing = append(missing, r)
			if known(r) {
				missingByRid = append(missingByRid, r)
			}
		}
	}
	if len(missing) > 0 {
		if len(missingByRid) > 0 {
			rows, err := tx.Query(ctx, s.lay.updateByID, s.lay.updateArgs(missingByRid)...)
			if err := readIDs(rows, err, "update outcomes by id"); err != nil {
				return err
			}
		}
		var rest []*audit.Record
		for _, r := range missing {
			if !found[r.ID] {
				rest = append(rest, r)
			}
		}
		if len(rest) > 0 {
			inserted := map[string]int64{}
			rows, err := tx.Query(ctx, s.lay.insertMissing, s.lay.insertArgs(rest)...)
			if err == nil {
				err = scanRids(rows, inserted)
			}
			if err != nil {
				return fmt.Errorf("audit: postgres: insert records of outcomes: %w", err)
			}
			for _, r := range rest {
				if _, ok := inserted[r.ID]; ok {
					found[r.ID] = true
				} else {
					s.opts.Logger.Warn("audit: an outcome for a record already complete is ignored; the first outcome stands", "id", r.ID)
				}
			}
		}
	}
	for _, r := range b.Outcomes {
		if found[r.ID] {
			completed = append(completed, r)
			delete(found, r.ID) // an outcome given twice completes once
		}
	}

	// The completed records: their cost, and their leaves.
	logged, err := s.logs.Append(completed)
	if err != nil {
		return fmt.Errorf("audit: postgres: %w", err)
	}
	after := &pgx.Batch{}
	costs := sqlplan.CostGroups(&audit.Batch{Inserts: completed})
	if len(costs) > 0 {
		after.Queue(costUpsertSQL, costArgs(costs)...)
	}
	if len(logged) > 0 {
		after.Queue(insertLeavesSQL, leavesArgs(logged)...)
	}
	if after.Len() > 0 {
		if err := tx.SendBatch(ctx, after).Close(); err != nil {
			return fmt.Errorf("audit: postgres: cost rollup and log: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("audit: postgres: commit: %w", err)
	}
	s.logs.Commit()
	// Committed: Begin's records now know their row.
	for _, r := range b.Inserts {
		r.SetRow(audit.RowRef{ID: rids[r.ID], Gen: gen})
	}
	return nil
}

// readRids reads the (rid, id) rows of an insert into rids.
func readRids(br pgx.BatchResults, rids map[string]int64) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	return scanRids(rows, rids)
}

// scanRids reads (rid, id) rows into rids.
func scanRids(rows pgx.Rows, rids map[string]int64) error {
	defer rows.Close()
	for rows.Next() {
		var rid int64
		var id string
		if err := rows.Scan(&rid, &id); err != nil {
			return err
		}
		rids[id] = rid
	}
	return rows.Err()
}

// seqSQL keeps the highest seq of each gateway.
const seqSQL = `INSERT INTO gateways (gateway, seq) SELECT * FROM unnest($1::text[], $2::bigint[])
	ON CONFLICT (gateway) DO UPDATE SET seq = GREATEST(gateways.seq, excluded.seq)`

func seqArgs(seqs []sqlplan.GatewaySeq) []any {
	gws, max := make([]string, len(seqs)), make([]int64, len(seqs))
	for i, g := range seqs {
		gws[i], max[i] = g.Gateway, int64(g.Seq)
	}
	return []any{gws, max}
}

// costUpsertSQL adds groups to cost_hourly. Groups come in key order
// (sqlplan.CostGroups), so replicas adding to the same hours lock them in
// the same order.
const costUpsertSQL = `INSERT INTO cost_hourly (hour, source, destination, meter, currency, calls, bytes, cost)
	SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::double precision[])
	ON CONFLICT (hour, source, destination, meter, currency) DO UPDATE SET
	calls = cost_hourly.calls + excluded.calls, bytes = cost_hourly.bytes + excluded.bytes, cost = cost_hourly.cost + excluded.cost`

// costArgs are costUpsertSQL's arrays for gs.
func costArgs(gs []sqlplan.CostGroup) []any {
	n := len(gs)
	hours, srcs, dsts, meters, curs := make([]time.Time, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	calls, bytes, costs := make([]int64, n), make([]int64, n), make([]float64, n)
	for i, g := range gs {
		hours[i], srcs[i], dsts[i], meters[i], curs[i] = g.Hour, g.Source, g.Destination, g.Meter, g.Currency
		calls[i], bytes[i], costs[i] = g.Calls, g.Bytes, g.Cost
	}
	return []any{hours, srcs, dsts, meters, curs, calls, bytes, costs}
}
