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

// leaves is how log_leaves keeps the leaves: a row each.
var leaves = sqlplan.LeafTable{D: dialect{}}

// unloggedSQL lists the gateways with records and no log.
const unloggedSQL = "SELECT g.gateway FROM gateways g WHERE NOT EXISTS " +
	"(SELECT 1 FROM log_leaves l WHERE l.gateway = g.gateway) ORDER BY g.gateway"

// backfill logs the completed records of gateways that have none logged
// (a database written before logs existed), in tx (createSchema's,
// under its advisory lock: replicas starting together do it once).
func (s *store) backfill(ctx context.Context, tx pgx.Tx) error {
	rd := sqlplan.NewReader(dialect{}, s.lay.cols, nil, label)
	start := time.Now()
	n, err := rd.Backfill(ctx, s.query(tx), unloggedSQL, &s.logs, func(leaves []audit.LogLeaf, _ []*audit.Record) error {
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
	return &sqlplan.LogSnapshot{
		Reader: s.rd,
		Q:      s.query(tx),
		Leaf:   leaves,
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
