package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SpoolStatus is what one gateway's spool holds that its store does not.
type SpoolStatus struct {
	// Gateway is the gateway id (as the spool directory names it).
	Gateway string
	// Dir is the spool directory.
	Dir string
	// Pending counts the records and outcomes not yet in the store.
	Pending int
	// LastWrite is when the spool was last written.
	LastWrite time.Time
}

// PendingSpool reads, without locking or changing anything, the spools
// beside the SQLite store at url and reports what each holds beyond the
// store's cursor. A running gateway adds those records within about
// IngestDelay; a stopped one at its next start. `sluice audit query`
// uses it to say when an answer may lack records.
func PendingSpool(ctx context.Context, url string) ([]SpoolStatus, error) {
	path, ok := strings.CutPrefix(url, "sqlite://")
	if !ok {
		return nil, nil
	}
	root := path + ".spool"
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: spool %s: %w", root, err)
	}
	cursors, err := readCursors(ctx, path)
	if err != nil {
		return nil, err
	}
	quietLog := slog.New(slog.NewTextHandler(io.Discard, nil))
	var out []SpoolStatus
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		s := &spool{dir: filepath.Join(root, e.Name()), log: quietLog}
		st := SpoolStatus{Gateway: e.Name(), Dir: s.dir}
		var from spoolPos // no cursor: everything in the spool is pending
		for gw, pos := range cursors {
			if spoolName(gw) == e.Name() {
				st.Gateway, from = gw, pos
			}
		}
		_, err := s.replay(from, 4096, func(items []spoolItem) error {
			st.Pending += len(items)
			return nil
		})
		if err != nil {
			return out, err
		}
		segs, _ := s.segments()
		for _, n := range segs {
			if fi, err := os.Stat(s.segPath(n)); err == nil && fi.ModTime().After(st.LastWrite) {
				st.LastWrite = fi.ModTime()
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// readCursors reads every gateway's spool cursor from the store at path,
// read-only. A store written before spools existed has none.
func readCursors(ctx context.Context, path string) (map[string]spoolPos, error) {
	s, err := openSQLite(ctx, path, StoreOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	rows, err := s.r.Load().QueryContext(ctx, `SELECT gateway, seg, off FROM spool_cursor`)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return map[string]spoolPos{}, nil
		}
		return nil, fmt.Errorf("audit: %s: spool cursors: %w", path, err)
	}
	defer rows.Close()
	out := map[string]spoolPos{}
	for rows.Next() {
		var gw string
		var p spoolPos
		if err := rows.Scan(&gw, &p.Seg, &p.Off); err != nil {
			return nil, err
		}
		out[gw] = p
	}
	return out, rows.Err()
}
