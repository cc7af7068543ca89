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

// The transparency logs (audit/log.go) in PostgreSQL: log_leaves and
// log_checkpoints (audit/sqlplan/log.go), the cut of retention in
// sluice_audit_meta. Each replica appends its own gateway's log.

// prunedKey is the sluice_audit_meta key of the latest retention cut
// (Unix ms).
const prunedKey = "log_pruned_before"

// leafRows reads the hashes of leaves of gateway's log.
func leafRows(ctx context.Context, q sqlplan.Querier, gateway string, leaves []int64) (map[int64][]byte, error) {
	out := make(map[int64][]byte, len(leaves))
	rows, err := q(ctx, "SELECT leaf, hashes FROM log_leaves WHERE gateway = $1 AND leaf = ANY($2)", gateway, leaves)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var leaf int64
		var h []byte
		if err := rows.Scan(&leaf, &h); err != nil {
			return nil, err
		}
		out[leaf] = h
	}
	return out, rows.Err()
}

// backfill logs the completed records of gateways that have none logged
// (a database written before logs existed), in tx (createSchema's,
// under its advisory lock: replicas starting together do it once).
func (s *store) backfill(ctx context.Context, tx pgx.Tx) error {
	rd := sqlplan.NewReader(dialect{}, s.lay.cols, nil, label)
	start := time.Now()
	n, err := rd.Backfill(ctx, s.query(tx), &s.logs, func(leaves []audit.LogLeaf) error {
		_, err := tx.Exec(ctx, insertLeavesSQL, leavesArgs(leaves)...)
		return err
	})
	if err != nil {
		s.logs.Abort()
		return fmt.Errorf("audit: postgres: logging the records written before the log existed: %w", err)
	}
	if n > 0 {
		s.opts.Logger.Info("audit: records written before transparency logs existed are now logged",
			"records", n, "took", time.Since(start).Round(time.Millisecond).String())
	}
	return nil
}

// AddCheckpoint implements audit.LogStore.
func (s *store) AddCheckpoint(ctx context.Context, gateway string, size int64, note []byte) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	if _, err := w.Exec(ctx, `INSERT INTO log_checkpoints (gateway, size, time, note) VALUES ($1, $2, $3, $4)
		ON CONFLICT (gateway, size) DO NOTHING`, gateway, size, time.Now(), string(note)); err != nil {
		return fmt.Errorf("audit: postgres: checkpoint: %w", err)
	}
	return nil
}

// LogSnapshot implements audit.LogStore: one read-only transaction at
// repeatable read on the readers' pool.
func (s *store) LogSnapshot(ctx context.Context) (audit.LogReader, error) {
	tx, err := s.r.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("audit: postgres: %w", err)
	}
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('log_leaves') IS NOT NULL`).Scan(&ok); err != nil || !ok {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		if err == nil {
			err = audit.ErrNoLog
		}
		return nil, fmt.Errorf("audit: postgres: %w", err)
	}
	q := s.query(tx)
	return &sqlplan.LogSnapshot{
		Reader: s.rd,
		Q:      q,
		Rows: func(ctx context.Context, gateway string, leaves []int64) (map[int64][]byte, error) {
			return leafRows(ctx, q, gateway, leaves)
		},
		Pruned: func(ctx context.Context) (time.Time, error) {
			var ms int64
			err := tx.QueryRow(ctx, `SELECT value FROM sluice_audit_meta WHERE key = $1`, prunedKey).Scan(&ms)
			if errors.Is(err, pgx.ErrNoRows) {
				return time.Time{}, nil
			}
			if err != nil {
				return time.Time{}, err
			}
			return time.UnixMilli(ms).UTC(), nil
		},
		Done: func() error { return tx.Rollback(context.Background()) },
	}, nil
}
