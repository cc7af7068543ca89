package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/audit"
	msqlite "modernc.org/sqlite"
)

// integrityFullMax is the largest file that gets the full
// integrity_check (which also matches every index to its table); larger
// ones get quick_check.
const integrityFullMax = 64 << 20

// SQLite result codes (the primary code is the low byte).
const (
	sqliteCorrupt = 11
	sqliteNotADB  = 26
)

// isCorrupt reports whether err is SQLite saying the file is damaged or
// is not a database.
func isCorrupt(err error) bool {
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff
	return code == sqliteCorrupt || code == sqliteNotADB
}

// damaged is the error of a damaged store file: what is wrong, that
// nothing was changed, and what to do.
func (s *store) damaged(what string) error {
	return fmt.Errorf("%w: %s: %s. The gateway refuses to use it (a damaged store loses or garbles records); no records were written to it. "+
		"To go on: stop every process using it, move it aside with its -wal and -shm files "+
		"(mv %[2]s %[2]s.damaged-%[4]s; the same for %[2]s-wal and %[2]s-shm), salvage what it holds if needed "+
		"(sqlite3 %[2]s.damaged-%[4]s .recover | sqlite3 recovered.db), and start again: a new store is created, "+
		"and what the spool still holds is written into it",
		audit.ErrStoreDamaged, s.path, what, time.Now().UTC().Format("20060102T150405Z"))
}

// checkIntegrity runs integrity_check (small files) or quick_check
// (large ones) on conn, within timeout. A store that fails it is
// damaged; a check that runs out of time is logged and passes.
func (s *store) checkIntegrity(ctx context.Context, conn *sql.Conn, size int64) error {
	timeout := s.opts.IntegrityTimeout
	if timeout < 0 {
		return nil
	}
	if timeout == 0 {
		timeout = audit.DefaultIntegrityTimeout
	}
	pragma := "quick_check"
	if size <= integrityFullMax {
		pragma = "integrity_check"
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	problems, err := integrityRows(cctx, conn, pragma)
	switch {
	case err != nil && cctx.Err() != nil && ctx.Err() == nil:
		s.opts.Logger.Warn("audit: the store's integrity check did not finish in time; the store is used unverified",
			"path", s.path, "check", pragma, "timeout", timeout.String(), "size_bytes", size)
		return nil
	case err != nil && isCorrupt(err):
		return s.damaged(fmt.Sprintf("%s failed: %v", pragma, err))
	case err != nil:
		return fmt.Errorf("audit: %s: %s: %w", s.path, pragma, err)
	case len(problems) > 0:
		return s.damaged(fmt.Sprintf("%s found: %s", pragma, strings.Join(problems, "; ")))
	}
	s.opts.Logger.Debug("audit: store integrity checked", "path", s.path, "check", pragma,
		"took", time.Since(start).Round(time.Millisecond).String(), "size_bytes", size)
	return nil
}

// integrityRows runs PRAGMA <pragma>(10) and returns its lines other
// than "ok".
func integrityRows(ctx context.Context, conn *sql.Conn, pragma string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, "PRAGMA "+pragma+"(10)")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		if line != "ok" {
			out = append(out, line)
		}
	}
	return out, rows.Err()
}
