package sqlplan

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/audit"
)

// The transparency logs (audit/log.go) as both SQL stores keep them:
//
//   - log_leaves: one row per leaf, (gateway, leaf) its key, with the
//     record's seq, id and time_start (Unix ms) when it was logged, the
//     leaf encoding's version and the hashes its append computed
//     (tlog.Tree.Append); indexed by id too (proofs of a record, and
//     the records no leaf names). Retention keeps the rows of the records
//     it deletes.
//   - log_checkpoints: the signed checkpoints, one per (gateway, size).
//
// The rest is each store's own: its types, the insert of leaves and
// where retention keeps its cut (PrunedBefore).

// SelectAs is Select for a join in which the records view is alias: every
// column qualified, and rid as 0 when the join found no record.
func SelectAs(d Dialect, cols []audit.Column, have map[string]bool, alias string) string {
	sel := make([]string, 0, len(cols)+1)
	for _, c := range cols {
		if have == nil || have[c.Name] {
			sel = append(sel, alias+"."+c.Name)
			continue
		}
		zero, ok := d.Zero(c.Type)
		if !ok {
			zero = "NULL"
		}
		sel = append(sel, fmt.Sprintf("CAST(%s AS %s) AS %s", zero, d.Type(c.Type), c.Name))
	}
	return strings.Join(append(sel, "coalesce("+alias+".rid, 0) AS rid"), ", ")
}

// leafColumns are the columns of log_leaves LogLeaf reads, in order.
const leafColumns = "leaf, seq, id, time_start, version, hashes"

// LogSizeSQL is the size of one gateway's log ($1).
func LogSizeSQL(d Dialect) string {
	return "SELECT coalesce(max(leaf) + 1, 0) FROM log_leaves WHERE gateway = " + d.Placeholder(1)
}

// LeavesSQL selects the leaves of one gateway ($1) from index $2 on, in
// order, each with the record named by its id (recSel: SelectAs of alias
// r), or NULLs.
func LeavesSQL(d Dialect, recSel string) string {
	return "SELECT l.leaf, l.seq, l.id, l.time_start, l.version, l.hashes, " + recSel +
		" FROM log_leaves l LEFT JOIN records r ON r.id = l.id WHERE l.gateway = " + d.Placeholder(1) +
		" AND l.leaf >= " + d.Placeholder(2) + " ORDER BY l.leaf"
}

// LeafRowsSQL selects (leaf, hashes) of n leaves of one gateway ($1).
func LeafRowsSQL(d Dialect, n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = d.Placeholder(i + 2)
	}
	return "SELECT leaf, hashes FROM log_leaves WHERE gateway = " + d.Placeholder(1) + " AND leaf IN (" + strings.Join(ps, ", ") + ")"
}

// LeafOfSQL selects the leaf that names record id $1.
func LeafOfSQL(d Dialect) string {
	return "SELECT gateway, " + leafColumns + " FROM log_leaves WHERE id = " + d.Placeholder(1) + " ORDER BY gateway, leaf LIMIT 1"
}

// UnloggedSQL selects (with sel, of alias r) the completed records of one
// gateway ($1) that no leaf names, in seq order.
func UnloggedSQL(d Dialect, sel string) string {
	return "SELECT " + sel + " FROM records r WHERE r.gateway = " + d.Placeholder(1) +
		" AND r.time_end IS NOT NULL AND NOT EXISTS (SELECT 1 FROM log_leaves l WHERE l.id = r.id) ORDER BY r.seq, r.rid"
}

// UnloggedGatewaysSQL lists the gateways with records and no log yet:
// those a store written before logs existed has (their completed records
// are logged when a writer opens it, Backfill).
const UnloggedGatewaysSQL = "SELECT g.gateway FROM gateways g WHERE NOT EXISTS " +
	"(SELECT 1 FROM log_leaves l WHERE l.gateway = g.gateway) ORDER BY g.gateway"

// LogGatewaysSQL lists the gateways that wrote records or have a log.
const LogGatewaysSQL = "SELECT gateway FROM gateways UNION SELECT gateway FROM log_checkpoints ORDER BY 1"

// CheckpointsSQL selects (size, time, note) of one gateway's ($1)
// checkpoints by size.
func CheckpointsSQL(d Dialect) string {
	return "SELECT size, time, note FROM log_checkpoints WHERE gateway = " + d.Placeholder(1) + " ORDER BY size"
}

// LeafScanner reads rows of LeavesSQL: the leaf, then its record.
type LeafScanner struct {
	rec  *RecordScanner
	leaf audit.LogLeaf
	ts   int64
	ver  int64
	seq  int64
}

// NewLeafScanner reads rows of LeavesSQL whose record columns are cols.
func NewLeafScanner(d Dialect, cols []audit.Column) *LeafScanner {
	return &LeafScanner{rec: NewRecordScanner(d, cols)}
}

// Scan reads the current row into the scanner's leaf (reused) and returns
// it; its Record is nil when the join found none.
func (s *LeafScanner) Scan(rows Rows, gateway string, gen uint64) (*audit.LogLeaf, error) {
	l := &s.leaf
	*l = audit.LogLeaf{Gateway: gateway, Hashes: l.Hashes[:0]}
	var hashes []byte
	r, err := s.rec.scan(rows, gen, &l.Index, &s.seq, &l.ID, &s.ts, &s.ver, &hashes)
	if err != nil {
		return nil, err
	}
	l.Seq, l.TimeStart, l.Version = uint64(s.seq), time.UnixMilli(s.ts).UTC(), int(s.ver)
	l.Hashes = append(l.Hashes, hashes...)
	if r.Row().ID != 0 {
		l.Record = &r
	}
	return l, nil
}

// ScanLeafRow reads a row of LeafOfSQL.
func ScanLeafRow(rows interface{ Scan(...any) error }) (audit.LogLeaf, error) {
	var l audit.LogLeaf
	var seq, ts, ver int64
	err := rows.Scan(&l.Gateway, &l.Index, &seq, &l.ID, &ts, &ver, &l.Hashes)
	l.Seq, l.TimeStart, l.Version = uint64(seq), time.UnixMilli(ts).UTC(), int(ver)
	return l, err
}

// Leaves runs LeavesSQL on q and calls fn with each leaf.
func (r *Reader) Leaves(ctx context.Context, q Querier, gateway string, from int64, fn func(*audit.LogLeaf) error) error {
	rows, err := q(ctx, LeavesSQL(r.Dialect, r.SelectAs), gateway, from)
	if err != nil {
		return fmt.Errorf("%s: log leaves: %w", r.Label, err)
	}
	defer rows.Close()
	sc := NewLeafScanner(r.Dialect, r.Columns)
	for rows.Next() {
		l, err := sc.Scan(rows, gateway, 0)
		if err != nil {
			return fmt.Errorf("%s: log leaves: %w", r.Label, err)
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: log leaves: %w", r.Label, err)
	}
	return nil
}

// Unlogged runs UnloggedSQL on q and calls fn with each record.
func (r *Reader) Unlogged(ctx context.Context, q Querier, gateway string, fn func(*audit.Record) error) error {
	return r.each(ctx, q, "unlogged records", 0, UnloggedSQL(r.Dialect, r.SelectAs), []any{gateway}, fn)
}

// Completed calls fn with each completed record of gateway in seq order
// (what Backfill logs).
func (r *Reader) Completed(ctx context.Context, q Querier, gateway string, fn func(*audit.Record) error) error {
	return r.each(ctx, q, "completed records", 0, "SELECT "+r.Select+" FROM records WHERE gateway = "+
		r.Dialect.Placeholder(1)+" AND time_end IS NOT NULL ORDER BY seq, rid", []any{gateway}, fn)
}

// Backfill logs the completed records of the gateways that have records
// and no log (a store written before logs existed): read with q, the
// leaves handed to insert with the log's appender (committed by the
// caller with the transaction). It returns how many records it logged.
func (r *Reader) Backfill(ctx context.Context, q Querier, logs *audit.LogAppender, insert func([]audit.LogLeaf) error) (int, error) {
	rows, err := q(ctx, UnloggedGatewaysSQL)
	if err != nil {
		return 0, fmt.Errorf("%s: gateways without a log: %w", r.Label, err)
	}
	var gws []string
	for rows.Next() {
		var gw string
		if err := rows.Scan(&gw); err != nil {
			rows.Close()
			return 0, err
		}
		gws = append(gws, gw)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	total := 0
	for _, gw := range gws {
		var recs []*audit.Record
		if err := r.Completed(ctx, q, gw, func(rec *audit.Record) error {
			c := *rec
			recs = append(recs, &c)
			return nil
		}); err != nil {
			return total, err
		}
		if len(recs) == 0 {
			continue
		}
		if err := logs.Prepare(gw, audit.LogState{Size: 0}); err != nil {
			return total, err
		}
		for len(recs) > 0 {
			n := min(len(recs), 8192)
			leaves, err := logs.Append(recs[:n])
			if err != nil {
				return total, err
			}
			if err := insert(leaves); err != nil {
				return total, fmt.Errorf("%s: logging the records of %s: %w", r.Label, gw, err)
			}
			logs.Commit()
			recs = recs[n:]
			total += n
		}
	}
	return total, nil
}

// LogSnapshot is audit.LogReader on a SQL store: its queries run on Q,
// which the store has opened as one read transaction.
type LogSnapshot struct {
	Reader *Reader
	Q      Querier
	// Rows reads the hashes of leaves (LeafRowsSQL, in chunks the
	// store's parameter limit allows).
	Rows func(ctx context.Context, gateway string, leaves []int64) (map[int64][]byte, error)
	// Pruned reads the latest retention cut (zero if none).
	Pruned func(ctx context.Context) (time.Time, error)
	// Done ends the transaction.
	Done func() error
}

var _ audit.LogReader = (*LogSnapshot)(nil)

// Gateways implements audit.LogReader.
func (s *LogSnapshot) Gateways(ctx context.Context) ([]string, error) {
	rows, err := s.Q(ctx, LogGatewaysSQL)
	if err != nil {
		return nil, fmt.Errorf("%s: gateways: %w", s.Reader.Label, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var gw string
		if err := rows.Scan(&gw); err != nil {
			return nil, err
		}
		out = append(out, gw)
	}
	return out, rows.Err()
}

// Size implements audit.LogReader.
func (s *LogSnapshot) Size(ctx context.Context, gateway string) (int64, error) {
	rows, err := s.Q(ctx, LogSizeSQL(s.Reader.Dialect), gateway)
	if err != nil {
		return 0, fmt.Errorf("%s: log size: %w", s.Reader.Label, err)
	}
	defer rows.Close()
	var n int64
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, err
		}
	}
	return n, rows.Err()
}

// Leaves implements audit.LogReader.
func (s *LogSnapshot) Leaves(ctx context.Context, gateway string, from int64, fn func(*audit.LogLeaf) error) error {
	return s.Reader.Leaves(ctx, s.Q, gateway, from, fn)
}

// LeafRows implements audit.LogReader.
func (s *LogSnapshot) LeafRows(ctx context.Context, gateway string, leaves []int64) (map[int64][]byte, error) {
	return s.Rows(ctx, gateway, leaves)
}

// LeafOf implements audit.LogReader.
func (s *LogSnapshot) LeafOf(ctx context.Context, id string) (audit.LogLeaf, bool, error) {
	rows, err := s.Q(ctx, LeafOfSQL(s.Reader.Dialect), id)
	if err != nil {
		return audit.LogLeaf{}, false, fmt.Errorf("%s: leaf of %s: %w", s.Reader.Label, id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		return audit.LogLeaf{}, false, rows.Err()
	}
	l, err := ScanLeafRow(rows)
	return l, err == nil, err
}

// Unlogged implements audit.LogReader.
func (s *LogSnapshot) Unlogged(ctx context.Context, gateway string, fn func(*audit.Record) error) error {
	return s.Reader.Unlogged(ctx, s.Q, gateway, fn)
}

// Checkpoints implements audit.LogReader.
func (s *LogSnapshot) Checkpoints(ctx context.Context, gateway string) ([]audit.StoredCheckpoint, error) {
	rows, err := s.Q(ctx, CheckpointsSQL(s.Reader.Dialect), gateway)
	if err != nil {
		return nil, fmt.Errorf("%s: checkpoints: %w", s.Reader.Label, err)
	}
	defer rows.Close()
	var out []audit.StoredCheckpoint
	d := s.Reader.Dialect
	for rows.Next() {
		c := audit.StoredCheckpoint{Gateway: gateway}
		var note string
		t := d.ScanDest(audit.Time)
		if err := rows.Scan(&c.Size, t, &note); err != nil {
			return nil, fmt.Errorf("%s: checkpoints: %w", s.Reader.Label, err)
		}
		if err := d.Assign(audit.Time, t, &c.Time); err != nil {
			return nil, fmt.Errorf("%s: checkpoints: %w", s.Reader.Label, err)
		}
		c.Note = []byte(note)
		out = append(out, c)
	}
	return out, rows.Err()
}

// PrunedBefore implements audit.LogReader.
func (s *LogSnapshot) PrunedBefore(ctx context.Context) (time.Time, error) { return s.Pruned(ctx) }

// Close implements audit.LogReader.
func (s *LogSnapshot) Close() error { return s.Done() }
