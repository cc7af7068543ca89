package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
// records the batch completes join their gateways' logs, in the same
// round trip: every outcome is taken to complete its record (the rows
// tell afterwards; one that did not, the outcome of a record already
// complete, is left out and the batch written again).
func (s *store) Write(ctx context.Context, b *audit.Batch) error {
	if _, err := s.writer(); err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	var skip map[string]bool
	var last error
	for range 3 {
		again, err := s.write(ctx, b, skip)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "log_leaves_pkey" {
			// Another instance appended to this log since this one read
			// it (a restart's overlap, replay): read it again.
			last = err
			continue
		}
		if err != nil || len(again) == 0 {
			return err
		}
		last = fmt.Errorf("audit: postgres: outcomes of records already complete: %v", again)
		for _, r := range again {
			s.opts.Logger.Warn("audit: an outcome for a record already complete is ignored; the first outcome stands", "id", r)
		}
		if skip == nil {
			skip = map[string]bool{}
		}
		for _, id := range again {
			skip[id] = true
		}
	}
	return last
}

// write is one attempt of Write, the outcomes of skip left out. It
// returns (and rolls back) when outcomes turn out to be of records
// already complete: their ids, for the next attempt.
func (s *store) write(ctx context.Context, b *audit.Batch, skip map[string]bool) (again []string, err error) {
	tx, err := s.w.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: postgres: begin: %w", err)
	}
	defer func() {
		if err != nil || len(again) > 0 {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			s.logs.Abort()
		}
	}()
	// The logs of the batch's gateways, the first time (then kept).
	gateways := sqlplan.GatewaySeqs(b)
	for _, g := range gateways {
		if s.logs.Size(g.Gateway) >= 0 {
			continue
		}
		size, err := leaves.Size(ctx, s.query(tx), g.Gateway)
		if err != nil {
			return nil, fmt.Errorf("audit: postgres: log size: %w", err)
		}
		if err := s.logs.Prepare(g.Gateway, audit.LogState{Size: size, Read: func(ls []int64) (map[int64][]byte, error) {
			return leaves.Rows(ctx, s.query(tx), g.Gateway, ls)
		}}); err != nil {
			return nil, fmt.Errorf("audit: postgres: %w", err)
		}
	}
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
	var byRid, byID, outcomes []*audit.Record
	seen := make(map[string]bool, len(b.Outcomes))
	for _, r := range b.Outcomes {
		if skip[r.ID] || seen[r.ID] {
			continue // already complete, or given twice: the first stands
		}
		seen[r.ID] = true
		outcomes = append(outcomes, r)
		completed = append(completed, r)
		if known(r) {
			byRid = append(byRid, r)
		} else {
			byID = append(byID, r)
		}
	}
	logged, err := s.logs.Append(completed)
	if err != nil {
		return nil, fmt.Errorf("audit: postgres: %w", err)
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
	batch.Queue(seqSQL, seqArgs(gateways)...)
	costs := sqlplan.CostGroups(&audit.Batch{Inserts: completed})
	if len(costs) > 0 {
		batch.Queue(costUpsertSQL, costArgs(costs)...)
	}
	if len(logged) > 0 {
		batch.Queue(insertLeavesSQL, leavesArgs(logged)...)
	}

	found := make(map[string]bool, len(outcomes))
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
			return nil, err
		}
	}
	if len(byID) > 0 {
		rows, err := br.Query()
		if err := readIDs(rows, err, "update outcomes by id"); err != nil {
			_ = br.Close()
			return nil, err
		}
	}
	if len(ins) > 0 {
		if err := readRids(br, rids); err != nil {
			_ = br.Close()
			return nil, fmt.Errorf("audit: postgres: insert decisions: %w", err)
		}
	}
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return nil, fmt.Errorf("audit: postgres: seq: %w", err)
	}
	if len(costs) > 0 {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, fmt.Errorf("audit: postgres: cost rollup: %w", err)
		}
	}
	if len(logged) > 0 {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, fmt.Errorf("audit: postgres: log: %w", err)
		}
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("audit: postgres: batch: %w", err)
	}

	// Outcomes whose open row was not found (rare: Begin failed, or the
	// row was pruned or its rid is stale, or the record is already
	// complete): try by id those looked up by rid, then insert the rest
	// whole so that nothing is lost; what is neither was complete already.
	var missing, missingByRid []*audit.Record
	for _, r := range outcomes {
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
				return nil, err
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
				return nil, fmt.Errorf("audit: postgres: insert records of outcomes: %w", err)
			}
			for _, r := range rest {
				if _, ok := inserted[r.ID]; !ok {
					again = append(again, r.ID)
				}
			}
			if len(again) > 0 {
				return again, nil
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("audit: postgres: commit: %w", err)
	}
	s.logs.Commit()
	// Committed: Begin's records now know their row.
	for _, r := range b.Inserts {
		r.SetRow(audit.RowRef{ID: rids[r.ID], Gen: gen})
	}
	return nil, nil
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
