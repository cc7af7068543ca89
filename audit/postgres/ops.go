package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/sqlplan"
)

// LastSeq implements audit.Store.
func (s *store) LastSeq(ctx context.Context, gateway string) (uint64, error) {
	w, err := s.writer()
	if err != nil {
		return 0, err
	}
	var seq int64
	err = w.QueryRow(ctx, `SELECT seq FROM gateways WHERE gateway = $1`, gateway).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("audit: postgres: last seq: %w", err)
	}
	return uint64(seq), nil
}

// OpenRecords implements audit.Store, from the writer's pool.
func (s *store) OpenRecords(ctx context.Context, gateway string) ([]audit.Record, error) {
	w, err := s.writer()
	if err != nil {
		return nil, err
	}
	return s.rd.OpenRecords(ctx, s.query(w), gateway, gen)
}

// Query implements audit.Reader, from the readers' pool.
//
// Unprepared (pgx.QueryExecModeExec: an unnamed statement), so that
// PostgreSQL plans each search with its values: a cached statement's
// generic plan would not know that a path's LIKE has a fixed prefix
// (decisions_path) or that a reason is not ” (decisions_reason_time).
func (s *store) Query(ctx context.Context, f audit.Filter, fn func(*audit.Record) error) error {
	q := func(ctx context.Context, sql string, args ...any) (sqlplan.Rows, error) {
		return s.r.Query(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...)
	}
	return s.rd.Query(ctx, q, f, fn)
}

// Cost implements audit.Reader, from the readers' pool.
func (s *store) Cost(ctx context.Context, q audit.CostQuery) ([]audit.CostRow, error) {
	return s.rd.Cost(ctx, s.query(s.r), q)
}

// pruneSQL deletes the oldest records (and their open_calls rows) in one
// statement, and the cost_hourly hours wholly before the cut (an hour the
// cut splits stays whole, as in SQLite). Rows another session has locked are skipped rather than
// waited for: they go with the next batch.
const pruneSQL = `WITH old AS (
	SELECT rid FROM decisions WHERE time_start < $1 ORDER BY time_start LIMIT $2 FOR UPDATE SKIP LOCKED
), oc AS (
	DELETE FROM open_calls WHERE rid IN (SELECT rid FROM old)
), ch AS (
	DELETE FROM cost_hourly WHERE hour < date_trunc('hour', $1::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
), pm AS (
	INSERT INTO sluice_audit_meta (key, value) VALUES ('` + prunedKey + `', $3)
	ON CONFLICT (key) DO UPDATE SET value = GREATEST(sluice_audit_meta.value, excluded.value)
)
DELETE FROM decisions WHERE rid IN (SELECT rid FROM old)`

// Prune implements audit.Store: one short statement (its own transaction) of
// at most limit records. PostgreSQL locks only the deleted rows, so
// concurrent inserts and outcome updates of newer records do not wait.
func (s *store) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	w, err := s.writer()
	if err != nil {
		return 0, err
	}
	tag, err := w.Exec(ctx, pruneSQL, before, int64(max(limit, 0)), (before.UnixMicro()+999)/1000) // the cut in ms, rounded up: whatever started before it may be gone
	if err != nil {
		return 0, fmt.Errorf("audit: postgres: prune: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Check implements audit.Store: a probe commit. The pool reconnects by itself
// after the server restarts or a connection breaks.
func (s *store) Check(ctx context.Context) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	if _, err := w.Exec(ctx, `INSERT INTO probe (k, t) VALUES (1, $1)
		ON CONFLICT (k) DO UPDATE SET t = excluded.t`, time.Now()); err != nil {
		return fmt.Errorf("audit: postgres: probe write: %w", err)
	}
	return nil
}

// Close implements audit.Reader.
func (s *store) Close() error {
	if s.r != nil {
		s.r.Close()
	}
	if s.w != nil {
		s.w.Close()
	}
	return nil
}
