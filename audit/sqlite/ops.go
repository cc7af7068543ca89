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

// Check implements audit.Store: reopen if needed, then a probe commit.
func (s *store) Check(ctx context.Context) error {
	if err := s.ensureOpen(ctx); err != nil {
		return err
	}
	if err := s.verify(); err != nil {
		return err
	}
	_, err := s.conn.ExecContext(ctx, `INSERT INTO probe (k, t) VALUES (1, ?)
		ON CONFLICT (k) DO UPDATE SET t = excluded.t`, audit.FormatTime(time.Now()))
	if err != nil {
		s.broken = true
		return fmt.Errorf("audit: %s: probe write: %w", s.path, err)
	}
	return s.verify()
}

// LastSeq implements audit.Store.
func (s *store) LastSeq(ctx context.Context, gateway string) (uint64, error) {
	if err := s.ensureOpen(ctx); err != nil {
		return 0, err
	}
	var seq int64
	err := s.conn.QueryRowContext(ctx, "SELECT seq FROM gateways WHERE gateway = ?", gateway).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("audit: %s: %w", s.path, err)
	}
	return uint64(seq), nil
}

// OpenRecords implements audit.Store.
func (s *store) OpenRecords(ctx context.Context, gateway string) ([]audit.Record, error) {
	if err := s.ensureOpen(ctx); err != nil {
		return nil, err
	}
	return s.rd.OpenRecords(ctx, sqlplan.DBQuerier(s.conn), gateway, s.gen)
}

// reader returns the current read pool.
func (s *store) reader() (*sql.DB, error) {
	r := s.r.Load()
	if r == nil {
		return nil, fmt.Errorf("audit: %s: store closed", s.path)
	}
	return r, nil
}

// Query implements audit.Reader, from the read pool.
func (s *store) Query(ctx context.Context, f audit.Filter, fn func(*audit.Record) error) error {
	r, err := s.reader()
	if err != nil {
		return err
	}
	if keys := searchKeys(&f); keys != nil && !s.noSearch {
		if done, err := s.search(ctx, r, f, keys, fn); done {
			return err
		}
	}
	return s.rd.Query(ctx, sqlplan.DBQuerier(r), f, fn)
}

// Cost implements audit.Reader, from the read pool.
func (s *store) Cost(ctx context.Context, q audit.CostQuery) ([]audit.CostRow, error) {
	r, err := s.reader()
	if err != nil {
		return nil, err
	}
	return s.rd.Cost(ctx, sqlplan.DBQuerier(r), q)
}

// Prune implements audit.Store: one short transaction of at most limit
// records, so the writer is never held up for long. The records' log
// leaves stay.
func (s *store) Prune(ctx context.Context, before time.Time, limit int) (n int, err error) {
	if err := s.ensureOpen(ctx); err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			s.broken = true
			_, _ = s.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			err = fmt.Errorf("audit: %s: prune: %w", s.path, err)
		}
	}()
	if _, err := s.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return 0, err
	}
	const oldest = `SELECT rid FROM decisions WHERE time_start < ?1 ORDER BY time_start LIMIT ?2`
	cut := audit.FormatTime(before)
	for _, q := range []string{
		"DELETE FROM outcomes WHERE rid IN (" + oldest + ")",
		"DELETE FROM open_calls WHERE rid IN (" + oldest + ")",
	} {
		if _, err := s.conn.ExecContext(ctx, q, cut, limit); err != nil {
			return 0, err
		}
	}
	// Whole hours before the cut (an hour the cut splits stays whole).
	if _, err := s.conn.ExecContext(ctx, "DELETE FROM cost_hourly WHERE hour < ?",
		audit.FormatTime(before.UTC().Truncate(time.Hour))); err != nil {
		return 0, err
	}
	res, err := s.conn.ExecContext(ctx, "DELETE FROM decisions WHERE rid IN ("+oldest+")", cut, limit)
	if err != nil {
		return 0, err
	}
	deleted, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	// The search blocks whose records are all gone: every record of a
	// block is at most its tmax, older than the oldest record left.
	if _, err := s.conn.ExecContext(ctx, `DELETE FROM search_blocks
		WHERE tmax < coalesce((SELECT min(time_start) FROM decisions), '~')`); err != nil {
		return 0, err
	}
	// The leaves of the deleted records stay (later proofs and
	// verifications need their hashes); the cut tells a verification
	// which missing records retention deleted.
	if _, err := s.conn.ExecContext(ctx, `INSERT INTO store_meta (k, v) VALUES (?, ?)
		ON CONFLICT (k) DO UPDATE SET v = max(v, excluded.v)`, prunedKey, cut); err != nil {
		return 0, err
	}
	if _, err := s.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return 0, err
	}
	return int(deleted), nil
}
