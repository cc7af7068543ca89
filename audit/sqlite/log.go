package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/sqlplan"
)

// The transparency logs (audit/log.go) in this file: log_leaves and
// log_checkpoints (audit/sqlplan/log.go), the cut of retention in
// store_meta.

// prunedKey is the store_meta key of the latest retention cut.
const prunedKey = "log_pruned_before"

// backfill logs the completed records of gateways that have none logged
// (a store written before logs existed), in one transaction, when the
// writer opens the file.
func (s *store) backfill(ctx context.Context) (err error) {
	if _, err := s.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = s.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			s.logs.Abort()
		}
	}()
	rd := sqlplan.NewReader(dialect{}, s.lay.cols, nil, s.label())
	start := time.Now()
	n, err := rd.Backfill(ctx, sqlplan.DBQuerier(s.conn), &s.logs, func(leaves []audit.LogLeaf) error {
		return s.insertLeaves(ctx, leaves)
	})
	if err != nil {
		return fmt.Errorf("logging the records written before the log existed: %w", err)
	}
	if _, err := s.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	if n > 0 {
		s.opts.Logger.Info("audit: records written before transparency logs existed are now logged", "path", s.path,
			"records", n, "took", time.Since(start).Round(time.Millisecond).String())
	}
	return nil
}

// prepareLog makes the appender's tree of gateway the one the file holds.
func (s *store) prepareLog(ctx context.Context, gateway string) error {
	var size int64
	if err := s.logSize.QueryRowContext(ctx, gateway).Scan(&size); err != nil {
		return fmt.Errorf("log size: %w", err)
	}
	if s.logs.Size(gateway) == size {
		return nil
	}
	return s.logs.Prepare(gateway, audit.LogState{Size: size, Read: func(leaves []int64) (map[int64][]byte, error) {
		return leafRows(ctx, sqlplan.DBQuerier(s.conn), gateway, leaves)
	}})
}

// insertLeaves appends leaves to log_leaves.
func (s *store) insertLeaves(ctx context.Context, leaves []audit.LogLeaf) error {
	args := s.args[:0]
	for i := range leaves {
		l := &leaves[i]
		args = append(args, l.Gateway, l.Index, int64(l.Seq), l.ID, l.TimeStart.UnixMilli(), int64(l.Version), l.Hashes)
	}
	err := s.leafIns.exec(ctx, len(leaves), args)
	clear(args)
	s.args = args[:0]
	return err
}

// closeOpen closes the open calls among rids and returns those that were
// open.
func (s *store) closeOpen(ctx context.Context, rids []int64) (map[int64]bool, error) {
	if s.wasOpen == nil {
		s.wasOpen = map[int64]bool{}
	}
	clear(s.wasOpen)
	run := func(st *sql.Stmt, chunk []int64) error {
		args := make([]any, len(chunk))
		for i, rid := range chunk {
			args[i] = rid
		}
		rows, err := st.QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var rid int64
			if err := rows.Scan(&rid); err != nil {
				return err
			}
			s.wasOpen[rid] = true
		}
		return rows.Err()
	}
	i := 0
	for ; i+insertChunk <= len(rids); i += insertChunk {
		if err := run(s.openDel.many, rids[i:i+insertChunk]); err != nil {
			return nil, err
		}
	}
	for ; i < len(rids); i++ {
		if err := run(s.openDel.one, rids[i:i+1]); err != nil {
			return nil, err
		}
	}
	return s.wasOpen, nil
}

// leafRows reads the hashes of leaves of gateway's log.
func leafRows(ctx context.Context, q sqlplan.Querier, gateway string, leaves []int64) (map[int64][]byte, error) {
	out := make(map[int64][]byte, len(leaves))
	for len(leaves) > 0 {
		n := min(len(leaves), 500)
		args := []any{gateway}
		for _, l := range leaves[:n] {
			args = append(args, l)
		}
		rows, err := q(ctx, sqlplan.LeafRowsSQL(dialect{}, n), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var leaf int64
			var h []byte
			if err := rows.Scan(&leaf, &h); err != nil {
				rows.Close()
				return nil, err
			}
			out[leaf] = h
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		leaves = leaves[n:]
	}
	return out, nil
}

// AddCheckpoint implements audit.LogStore, on the writer's connection
// (the Auditor calls it between writes).
func (s *store) AddCheckpoint(ctx context.Context, gateway string, size int64, note []byte) error {
	if err := s.ensureOpen(ctx); err != nil {
		return err
	}
	if _, err := s.conn.ExecContext(ctx, `INSERT INTO log_checkpoints (gateway, size, time, note) VALUES (?, ?, ?, ?)
		ON CONFLICT (gateway, size) DO NOTHING`, gateway, size, audit.FormatTime(time.Now()), string(note)); err != nil {
		s.broken = true
		return fmt.Errorf("audit: %s: checkpoint: %w", s.path, err)
	}
	return s.verify()
}

// LogSnapshot implements audit.LogStore: one read transaction on a
// connection of the read pool.
func (s *store) LogSnapshot(ctx context.Context) (audit.LogReader, error) {
	r, err := s.reader()
	if err != nil {
		return nil, err
	}
	conn, err := r.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: %s: %w", s.path, err)
	}
	fail := func(err error) (audit.LogReader, error) {
		_ = conn.Close()
		return nil, fmt.Errorf("audit: %s: %w", s.path, err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return fail(err)
	}
	var n int
	// The first read starts the snapshot.
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'log_leaves'`).Scan(&n); err != nil {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return fail(err)
	}
	if n == 0 {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return fail(audit.ErrNoLog)
	}
	q := sqlplan.DBQuerier(conn)
	return &sqlplan.LogSnapshot{
		Reader: s.rd,
		Q:      q,
		Rows: func(ctx context.Context, gateway string, leaves []int64) (map[int64][]byte, error) {
			return leafRows(ctx, q, gateway, leaves)
		},
		Pruned: func(ctx context.Context) (time.Time, error) {
			var v string
			err := conn.QueryRowContext(ctx, `SELECT v FROM store_meta WHERE k = ?`, prunedKey).Scan(&v)
			if errors.Is(err, sql.ErrNoRows) {
				return time.Time{}, nil
			}
			if err != nil {
				return time.Time{}, err
			}
			return audit.ParseTime(v)
		},
		Done: func() error {
			_, err := conn.ExecContext(context.Background(), "ROLLBACK")
			return errors.Join(err, conn.Close())
		},
	}, nil
}
