package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/sqlplan"
)

// Write implements audit.Store.
func (s *store) Write(ctx context.Context, b *audit.Batch) error {
	if err := s.ensureOpen(ctx); err != nil {
		return err
	}
	if err := s.write(ctx, b); err != nil {
		// A fresh connection next time: after an I/O error SQLite's
		// connection state is not worth trusting, and it may be a
		// removed file.
		s.broken = true
		if verr := s.verify(); verr != nil {
			return verr
		}
		return fmt.Errorf("audit: %s: %w", s.path, err)
	}
	return s.verify()
}

func (s *store) write(ctx context.Context, b *audit.Batch) (err error) {
	if _, err := s.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = s.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			s.logs.Abort()
			s.releaseSearch()
		}
	}()
	// rids continue from the highest in the file, read under the write
	// lock: another process writing the same file cannot collide.
	if err := s.maxRid.QueryRowContext(ctx).Scan(&s.nextRid); err != nil {
		return fmt.Errorf("max rid: %w", err)
	}
	s.nextRid++
	firstRid := s.nextRid // the rows this write inserts are from here
	gateways := sqlplan.GatewaySeqs(b)
	for _, gs := range gateways {
		if s.noLog {
			break
		}
		if err := s.prepareLog(ctx, gs.Gateway); err != nil {
			return fmt.Errorf("log of %s: %w", gs.Gateway, err)
		}
	}
	s.decs, s.decRids, s.outs, s.outRids = s.decs[:0], s.decRids[:0], s.outs[:0], s.outRids[:0]
	s.opens, s.closes, s.closing, s.completed = s.opens[:0], s.closes[:0], s.closing[:0], s.completed[:0]
	newDecision := func(r *audit.Record) int64 {
		rid := s.nextRid
		s.nextRid++
		s.decs, s.decRids = append(s.decs, r), append(s.decRids, rid)
		return rid
	}
	for _, r := range b.Inserts {
		rid := newDecision(r)
		if r.TimeEnd.IsZero() {
			// Begin: open until its outcome arrives.
			s.opens = append(s.opens, openCall{rid, r.Gateway})
		} else {
			// Complete: the whole record at once.
			s.outs, s.outRids = append(s.outs, r), append(s.outRids, rid)
			s.completed = append(s.completed, r)
		}
	}
	for _, r := range b.Outcomes {
		rid := r.Row().ID
		if rid == 0 || r.Row().Gen != s.gen {
			// The row's place is unknown: the store was reopened since
			// Begin, or Begin failed. Find it by id; if it is not in this
			// file, write the whole record rather than lose it.
			var err error
			if rid, err = s.ridOf(ctx, r.ID); err != nil {
				return fmt.Errorf("find %s: %w", r.ID, err)
			}
		}
		if rid == 0 {
			rid = newDecision(r)
			s.outs, s.outRids = append(s.outs, r), append(s.outRids, rid)
			s.completed = append(s.completed, r)
		} else {
			s.closes, s.closing = append(s.closes, rid), append(s.closing, r)
		}
	}

	args := s.args[:0]
	for _, r := range s.decs {
		args = appendColumnArgs(args, s.lay.dec, r)
	}
	if err := s.decisions.insertAppended(ctx, len(s.decs), args, firstRid); err != nil {
		return fmt.Errorf("insert decisions: %w", err)
	}
	args = args[:0]
	for _, o := range s.opens {
		args = append(args, o.rid, o.gateway)
	}
	if err := s.openIns.exec(ctx, len(s.opens), args); err != nil {
		return fmt.Errorf("insert open calls: %w", err)
	}
	if len(s.closes) > 0 {
		// Only the outcome of an open call completes it: a record already
		// complete is in its log and stays as it is (the first outcome
		// stands).
		open, err := s.closeOpen(ctx, s.closes)
		if err != nil {
			return fmt.Errorf("delete open calls: %w", err)
		}
		for i, rid := range s.closes {
			r := s.closing[i]
			if !open[rid] {
				s.opts.Logger.Warn("audit: an outcome for a record already complete is ignored; the first outcome stands", "id", r.ID)
				continue
			}
			delete(open, rid)
			s.outs, s.outRids = append(s.outs, r), append(s.outRids, rid)
			s.completed = append(s.completed, r)
		}
	}
	// The completed records join their gateways' logs; each outcome row
	// says where its record's leaf is.
	var leaves []audit.LogLeaf
	if s.leafKey == nil {
		s.leafKey = map[*audit.Record]int64{}
	}
	clear(s.leafKey)
	if !s.noLog {
		if leaves, err = s.logs.Append(s.completed); err != nil {
			return err
		}
		for i, r := range s.logs.Records() {
			log, err := s.logNumber(ctx, r.Gateway)
			if err != nil {
				return err
			}
			lo, _ := keyRange(log)
			s.leafKey[r] = lo + leaves[i].Index
		}
	}
	args = args[:0]
	for i, r := range s.outs {
		var leaf any
		if k, ok := s.leafKey[r]; ok {
			leaf = k
		}
		args = appendRowArgs(args, s.outRids[i], s.lay.out, r, leaf)
	}
	if err := s.outcomes.exec(ctx, len(s.outs), args); err != nil {
		return fmt.Errorf("insert outcomes: %w", err)
	}
	// The search summary: the keys of every row inserted (an open call's
	// as it reads until its outcome), and of every call completed by an
	// outcome (search.go).
	for i, r := range s.decs {
		part := searchWhole
		if r.TimeEnd.IsZero() {
			part = searchOpen
		}
		s.addSearch(r, s.decRids[i], part)
	}
	for i, r := range s.outs {
		if s.outRids[i] < firstRid {
			s.addSearch(r, s.outRids[i], searchOutcome)
		}
	}
	if err := s.writeSearch(ctx); err != nil {
		return err
	}
	costs := sqlplan.CostGroups(&audit.Batch{Inserts: s.completed})
	args = args[:0]
	for _, g := range costs {
		args = append(args, audit.FormatTime(g.Hour), g.Source, g.Destination, g.Meter, g.Currency, g.Calls, g.Bytes, g.Cost)
	}
	if err := s.costUps.exec(ctx, len(costs), args); err != nil {
		return fmt.Errorf("cost rollup: %w", err)
	}
	s.args = args[:0]
	if err := s.insertLeaves(ctx, leaves); err != nil {
		return fmt.Errorf("insert log leaves: %w", err)
	}
	for _, gs := range gateways {
		if _, err := s.seq.ExecContext(ctx, gs.Gateway, int64(gs.Seq)); err != nil {
			return fmt.Errorf("seq: %w", err)
		}
	}
	if c := b.Cursor; c != nil {
		if _, err := s.cursor.ExecContext(ctx, c.Gateway, c.Pos.Seg, c.Pos.Off); err != nil {
			return fmt.Errorf("spool cursor: %w", err)
		}
	}
	if _, err := s.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.logs.Commit()
	clear(s.completed)
	clear(s.closing)
	clear(s.leafKey)
	// Committed: Begin's records now know their row.
	for i, r := range b.Inserts {
		r.SetRow(audit.RowRef{ID: s.decRids[i], Gen: s.gen})
	}
	return nil
}

// ridOf returns the rid of the decision row with id, or 0.
func (s *store) ridOf(ctx context.Context, id string) (int64, error) {
	if id == "" {
		return 0, nil
	}
	var rid int64
	err := s.ridByID.QueryRowContext(ctx, id).Scan(&rid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return rid, err
}

// openCall is a row of open_calls.
type openCall struct {
	rid     int64
	gateway string
}

// chunkedStmt executes a multi-row statement insertChunk rows at a time
// and the rest one row at a time.
type chunkedStmt struct {
	one, many *sql.Stmt
	width     int // arguments per row
}

// insertAppended runs an INSERT without rids for n rows whose arguments
// are args, and checks that SQLite gave them the rids first, first+1, …
// (what it does when the table's rids end at first-1: the caller read
// the largest under the write lock). Otherwise it fails, and the batch
// with it, rather than let rows carry rids the write did not expect.
func (c *chunkedStmt) insertAppended(ctx context.Context, n int, args []any, first int64) error {
	i := 0
	check := func(res sql.Result, rows int) error {
		last, err := res.LastInsertId()
		if err != nil {
			return err
		}
		if want := first + int64(i+rows) - 1; last != want {
			return fmt.Errorf("rows got rids up to %d, want %d", last, want)
		}
		return nil
	}
	for ; i+insertChunk <= n; i += insertChunk {
		res, err := c.many.ExecContext(ctx, args[i*c.width:(i+insertChunk)*c.width]...)
		if err == nil {
			err = check(res, insertChunk)
		}
		if err != nil {
			return err
		}
	}
	for ; i < n; i++ {
		res, err := c.one.ExecContext(ctx, args[i*c.width:(i+1)*c.width]...)
		if err == nil {
			err = check(res, 1)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// exec runs the statement for n rows whose arguments are args.
func (c *chunkedStmt) exec(ctx context.Context, n int, args []any) error {
	i := 0
	for ; i+insertChunk <= n; i += insertChunk {
		if _, err := c.many.ExecContext(ctx, args[i*c.width:(i+insertChunk)*c.width]...); err != nil {
			return err
		}
	}
	for ; i < n; i++ {
		if _, err := c.one.ExecContext(ctx, args[i*c.width:(i+1)*c.width]...); err != nil {
			return err
		}
	}
	return nil
}
