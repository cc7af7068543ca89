package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/audit/spool"
)

// SpoolCursor implements audit.SpoolStore: the position just after the
// last entry of gateway's spool ingested ({0, 0} for a new file).
func (s *store) SpoolCursor(ctx context.Context, gateway string) (spool.Pos, error) {
	if err := s.ensureOpen(ctx); err != nil {
		return spool.Pos{}, err
	}
	var p spool.Pos
	err := s.conn.QueryRowContext(ctx, `SELECT seg, off FROM spool_cursor WHERE gateway = ?`, gateway).Scan(&p.Seg, &p.Off)
	if errors.Is(err, sql.ErrNoRows) {
		return spool.Pos{}, nil
	}
	if err != nil {
		return spool.Pos{}, fmt.Errorf("audit: %s: spool cursor: %w", s.path, err)
	}
	return p, nil
}

// SpoolCursors implements audit.SpoolStore: every gateway's cursor, from
// the read pool (it works read-only). A store written before spools
// existed has none.
func (s *store) SpoolCursors(ctx context.Context) (map[string]spool.Pos, error) {
	r, err := s.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT gateway, seg, off FROM spool_cursor`)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return map[string]spool.Pos{}, nil
		}
		return nil, fmt.Errorf("audit: %s: spool cursors: %w", s.path, err)
	}
	defer rows.Close()
	out := map[string]spool.Pos{}
	for rows.Next() {
		var gw string
		var p spool.Pos
		if err := rows.Scan(&gw, &p.Seg, &p.Off); err != nil {
			return nil, fmt.Errorf("audit: %s: spool cursors: %w", s.path, err)
		}
		out[gw] = p
	}
	return out, rows.Err()
}
