package sqlplan

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/audit"
)

// The transparency logs (audit/log.go) as the SQL stores keep them:
//
//   - the leaves, with the record's seq, id and time_start (Unix ms) when
//     it was logged, the leaf encoding's version and the hashes its
//     append computed (tlog.Tree.Append): PostgreSQL has a row per leaf in
//     log_leaves, (gateway, leaf) its key, indexed by id (LeafTable);
//     SQLite packs the leaves of a write into blocks (audit/sqlite).
//     Retention keeps the leaves of the records it deletes.
//   - log_checkpoints: the signed checkpoints, one per (gateway, size).
//
// The rest is each store's own: its types, the insert of leaves and
// where retention keeps its cut (PrunedBefore).

// LeafStore is how a store keeps the leaves of its logs: a row per leaf
// (LeafTable, PostgreSQL) or blocks of leaves (SQLite). Its queries run
// on q, the snapshot's transaction.
type LeafStore interface {
	Size(ctx context.Context, q Querier, gateway string) (int64, error)
	Leaves(ctx context.Context, q Querier, gateway string, from int64, limit int) ([]audit.LogLeaf, error)
	Rows(ctx context.Context, q Querier, gateway string, leaves []int64) (map[int64][]byte, error)
	LeafOf(ctx context.Context, q Querier, id string) (audit.LogLeaf, bool, error)
}

// LeafTable is log_leaves with a row per leaf, (gateway, leaf) its key
// and indexed by id, in dialect D.
type LeafTable struct{ D Dialect }

// leafColumns are the columns of log_leaves a LogLeaf reads, in order.
const leafColumns = "leaf, seq, id, time_start, version, hashes"

// LogSizeSQL is the size of one gateway's log ($1).
func LogSizeSQL(d Dialect) string {
	return "SELECT coalesce(max(leaf) + 1, 0) FROM log_leaves WHERE gateway = " + d.Placeholder(1)
}

// Size implements LeafStore.
func (t LeafTable) Size(ctx context.Context, q Querier, gateway string) (int64, error) {
	rows, err := q(ctx, LogSizeSQL(t.D), gateway)
	if err != nil {
		return 0, err
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

// Leaves implements LeafStore.
func (t LeafTable) Leaves(ctx context.Context, q Querier, gateway string, from int64, limit int) ([]audit.LogLeaf, error) {
	rows, err := q(ctx, "SELECT gateway, "+leafColumns+" FROM log_leaves WHERE gateway = "+t.D.Placeholder(1)+
		" AND leaf >= "+t.D.Placeholder(2)+" ORDER BY leaf LIMIT "+t.D.Placeholder(3), gateway, from, int64(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []audit.LogLeaf
	for rows.Next() {
		l, err := ScanLeafRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// Rows implements LeafStore.
func (t LeafTable) Rows(ctx context.Context, q Querier, gateway string, leaves []int64) (map[int64][]byte, error) {
	out := make(map[int64][]byte, len(leaves))
	for len(leaves) > 0 {
		n := min(len(leaves), 500)
		ps := make([]string, n)
		args := []any{gateway}
		for i, l := range leaves[:n] {
			ps[i] = t.D.Placeholder(i + 2)
			args = append(args, l)
		}
		rows, err := q(ctx, "SELECT leaf, hashes FROM log_leaves WHERE gateway = "+t.D.Placeholder(1)+" AND leaf IN ("+strings.Join(ps, ", ")+")", args...)
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

// LeafOf implements LeafStore.
func (t LeafTable) LeafOf(ctx context.Context, q Querier, id string) (audit.LogLeaf, bool, error) {
	rows, err := q(ctx, "SELECT gateway, "+leafColumns+" FROM log_leaves WHERE id = "+t.D.Placeholder(1)+" ORDER BY gateway, leaf LIMIT 1", id)
	if err != nil {
		return audit.LogLeaf{}, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return audit.LogLeaf{}, false, rows.Err()
	}
	l, err := ScanLeafRow(rows)
	return l, err == nil, err
}

// ScanLeafRow reads a row of (gateway, leafColumns).
func ScanLeafRow(rows interface{ Scan(...any) error }) (audit.LogLeaf, error) {
	var l audit.LogLeaf
	var seq, ts, ver int64
	err := rows.Scan(&l.Gateway, &l.Index, &seq, &l.ID, &ts, &ver, &l.Hashes)
	l.Seq, l.TimeStart, l.Version = uint64(seq), time.UnixMilli(ts).UTC(), int(ver)
	return l, err
}

// LogGatewaysSQL lists the gateways that wrote records or have a log.
const LogGatewaysSQL = "SELECT gateway FROM gateways UNION SELECT gateway FROM log_checkpoints ORDER BY 1"

// CheckpointsSQL selects (size, time, note) of one gateway's ($1)
// checkpoints by size.
func CheckpointsSQL(d Dialect) string {
	return "SELECT size, time, note FROM log_checkpoints WHERE gateway = " + d.Placeholder(1) + " ORDER BY size"
}

// Records returns up to limit records of gateway whose rid is above
// after, in rid order (audit.LogReader.Records).
func (r *Reader) Records(ctx context.Context, q Querier, gateway string, after int64, limit int) ([]audit.Record, error) {
	out := make([]audit.Record, 0, min(limit, 4096))
	err := r.each(ctx, q, "records", 0, "SELECT "+r.Select+" FROM records WHERE gateway = "+r.Dialect.Placeholder(1)+
		" AND rid > "+r.Dialect.Placeholder(2)+" ORDER BY rid LIMIT "+r.Dialect.Placeholder(3), []any{gateway, after, int64(limit)},
		func(rec *audit.Record) error {
			out = append(out, *rec)
			return nil
		})
	return out, err
}

// Completed calls fn with each completed record of gateway in seq order
// (what Backfill logs).
func (r *Reader) Completed(ctx context.Context, q Querier, gateway string, fn func(*audit.Record) error) error {
	return r.each(ctx, q, "completed records", 0, "SELECT "+r.Select+" FROM records WHERE gateway = "+
		r.Dialect.Placeholder(1)+" AND time_end IS NOT NULL ORDER BY seq, rid", []any{gateway}, fn)
}

// Backfill logs the completed records of the gateways that unlogged (a
// query of gateway names) lists: those with records and no log, in a
// store written before logs existed. They are read with q, made leaves
// with the log's appender and handed to insert with their records (the
// caller commits them with its transaction). It returns how many records
// it logged.
func (r *Reader) Backfill(ctx context.Context, q Querier, unlogged string, logs *audit.LogAppender,
	insert func([]audit.LogLeaf, []*audit.Record) error) (int, error) {
	rows, err := q(ctx, unlogged)
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
			if err := insert(leaves, logs.Records()); err != nil {
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
	// Leaf is how the store keeps its leaves.
	Leaf LeafStore
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
	n, err := s.Leaf.Size(ctx, s.Q, gateway)
	if err != nil {
		return 0, fmt.Errorf("%s: log size: %w", s.Reader.Label, err)
	}
	return n, nil
}

// Leaves implements audit.LogReader.
func (s *LogSnapshot) Leaves(ctx context.Context, gateway string, from int64, limit int) ([]audit.LogLeaf, error) {
	ls, err := s.Leaf.Leaves(ctx, s.Q, gateway, from, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: log leaves: %w", s.Reader.Label, err)
	}
	return ls, nil
}

// LeafRows implements audit.LogReader.
func (s *LogSnapshot) LeafRows(ctx context.Context, gateway string, leaves []int64) (map[int64][]byte, error) {
	m, err := s.Leaf.Rows(ctx, s.Q, gateway, leaves)
	if err != nil {
		return nil, fmt.Errorf("%s: log hashes: %w", s.Reader.Label, err)
	}
	return m, nil
}

// LeafOf implements audit.LogReader.
func (s *LogSnapshot) LeafOf(ctx context.Context, id string) (audit.LogLeaf, bool, error) {
	l, ok, err := s.Leaf.LeafOf(ctx, s.Q, id)
	if err != nil {
		return l, false, fmt.Errorf("%s: leaf of %s: %w", s.Reader.Label, id, err)
	}
	return l, ok, nil
}

// Records implements audit.LogReader.
func (s *LogSnapshot) Records(ctx context.Context, gateway string, after int64, limit int) ([]audit.Record, error) {
	return s.Reader.Records(ctx, s.Q, gateway, after, limit)
}

// Record implements audit.LogReader.
func (s *LogSnapshot) Record(ctx context.Context, id string) (*audit.Record, error) {
	var out *audit.Record
	err := s.Reader.Query(ctx, s.Q, audit.Filter{ID: id, Limit: 1}, func(r *audit.Record) error {
		c := *r
		out = &c
		return nil
	})
	return out, err
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
