package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/sqlplan"
	"github.com/sluicehq/sluice/audit/tlog"
)

// The transparency logs (audit/log.go) in this file:
//
//   - logs: a number for each gateway's log;
//   - log_blocks: the leaves, in blocks of up to blockLeaves consecutive
//     leaves of one log, each block a row whose key k is the log's
//     number << 40 | the index of its first leaf (so a log's blocks are
//     one range of rowids, in leaf order), with n, its number of leaves,
//     and data, the leaves (blockFormat). A row per leaf cost ~5 µs of
//     CPU per record (an insert into SQLite, whatever its shape); a block
//     costs that once for 128 leaves;
//   - log_checkpoints: the signed checkpoints (audit/sqlplan/log.go);
//   - outcomes.log_leaf: the k of each finished record's leaf (log << 40
//     | leaf index), for proofs of a record;
//   - store_meta log_pruned_before: the latest cut of retention.

// prunedKey is the store_meta key of the latest retention cut.
const prunedKey = "log_pruned_before"

// blockLeaves is the most leaves a block holds.
const blockLeaves = 128

// logBits is the width of the leaf index in a block's key: 2^40 leaves
// per log.
const logBits = 40

// blockFormat is the first byte of a block's data. Then, for each leaf in
// index order: uvarint seq, uvarint length and bytes of the id, zig-zag
// varint time_start (Unix ms), one byte the leaf version, one byte the
// number of hashes h, and h hashes of 32 bytes (tlog.Tree.Append: the
// leaf hash first).
const blockFormat = 1

// logSizeSQL reads the last block of a log: ?1 its first key, ?2 the
// first key of the next log.
const logSizeSQL = `SELECT k, n FROM log_blocks WHERE k >= ?1 AND k < ?2 ORDER BY k DESC LIMIT 1`

// keyRange is the range of keys of log number log: [lo, hi).
func keyRange(log int64) (lo, hi int64) { return log << logBits, (log + 1) << logBits }

// logNumber is the number of gateway's log, made on first use (writer
// only, in a write transaction).
func (s *store) logNumber(ctx context.Context, gateway string) (int64, error) {
	if n, ok := s.logOf[gateway]; ok {
		return n, nil
	}
	var n int64
	if err := s.logIns.QueryRowContext(ctx, gateway).Scan(&n); err != nil {
		return 0, fmt.Errorf("log number: %w", err)
	}
	s.logOf[gateway] = n
	return n, nil
}

// prepareLog makes the appender's tree of gateway the one the file holds.
func (s *store) prepareLog(ctx context.Context, gateway string) error {
	log, err := s.logNumber(ctx, gateway)
	if err != nil {
		return err
	}
	size, err := sizeOf(ctx, sqlplan.DBQuerier(s.conn), log)
	if err != nil {
		return fmt.Errorf("log size: %w", err)
	}
	if s.logs.Size(gateway) == size {
		return nil
	}
	return s.logs.Prepare(gateway, audit.LogState{Size: size, Read: func(leaves []int64) (map[int64][]byte, error) {
		return blockRows(ctx, sqlplan.DBQuerier(s.conn), log, leaves)
	}})
}

// sizeOf is the number of leaves of log number log.
func sizeOf(ctx context.Context, q sqlplan.Querier, log int64) (int64, error) {
	lo, hi := keyRange(log)
	rows, err := q(ctx, logSizeSQL, lo, hi)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	if !rows.Next() {
		return 0, rows.Err()
	}
	var k, n int64
	if err := rows.Scan(&k, &n); err != nil {
		return 0, err
	}
	return k - lo + n, rows.Err()
}

// insertLeaves appends leaves (in index order, those of one log
// consecutive) to log_blocks.
func (s *store) insertLeaves(ctx context.Context, leaves []audit.LogLeaf) error {
	args := s.args[:0]
	rows := 0
	for i := 0; i < len(leaves); {
		gw := leaves[i].Gateway
		log, err := s.logNumber(ctx, gw)
		if err != nil {
			return err
		}
		j := i + 1
		for j < len(leaves) && j-i < blockLeaves && leaves[j].Gateway == gw && leaves[j].Index == leaves[j-1].Index+1 {
			j++
		}
		lo, _ := keyRange(log)
		s.block = appendBlock(s.block[:0], leaves[i:j])
		args = append(args, lo+leaves[i].Index, int64(j-i), bytes.Clone(s.block))
		rows++
		i = j
	}
	err := s.blockIns.exec(ctx, rows, args)
	clear(args)
	s.args = args[:0]
	return err
}

// appendBlock appends the data of a block of leaves to dst.
func appendBlock(dst []byte, leaves []audit.LogLeaf) []byte {
	dst = append(dst, blockFormat)
	for i := range leaves {
		l := &leaves[i]
		dst = binary.AppendUvarint(dst, l.Seq)
		dst = binary.AppendUvarint(dst, uint64(len(l.ID)))
		dst = append(dst, l.ID...)
		dst = binary.AppendVarint(dst, l.TimeStart.UnixMilli())
		dst = append(dst, byte(l.Version), byte(len(l.Hashes)/tlog.HashSize))
		dst = append(dst, l.Hashes...)
	}
	return dst
}

// errBlock means a block's data is not what blockFormat says: damage, or
// tampering.
var errBlock = errors.New("malformed block of the log")

// decodeBlock calls fn with each of the n leaves of a block whose first
// leaf is first, of gateway's log; the leaf's fields alias data.
func decodeBlock(data []byte, gateway string, first, n int64, fn func(*audit.LogLeaf) error) error {
	if len(data) == 0 || data[0] != blockFormat {
		return fmt.Errorf("%w (leaf %d): format %v", errBlock, first, data[:min(len(data), 1)])
	}
	b := data[1:]
	var l audit.LogLeaf
	for i := int64(0); i < n; i++ {
		bad := func(what string) error {
			return fmt.Errorf("%w (leaves %d to %d): leaf %d: %s", errBlock, first, first+n-1, first+i, what)
		}
		seq, k := binary.Uvarint(b)
		if k <= 0 {
			return bad("seq")
		}
		b = b[k:]
		idLen, k := binary.Uvarint(b)
		if k <= 0 || idLen > uint64(len(b)-k) {
			return bad("id")
		}
		id := b[k : k+int(idLen)]
		b = b[k+int(idLen):]
		ts, k := binary.Varint(b)
		if k <= 0 || len(b) < k+2 {
			return bad("time")
		}
		ver, nh := b[k], int(b[k+1])
		b = b[k+2:]
		if nh < 1 || len(b) < nh*tlog.HashSize {
			return bad("hashes")
		}
		l = audit.LogLeaf{Gateway: gateway, Index: first + i, Seq: seq, ID: string(id), TimeStart: time.UnixMilli(ts).UTC(),
			Version: int(ver), Hashes: b[: nh*tlog.HashSize : nh*tlog.HashSize]}
		b = b[nh*tlog.HashSize:]
		if err := fn(&l); err != nil {
			return err
		}
	}
	if len(b) != 0 {
		return fmt.Errorf("%w (leaves %d to %d): %d bytes after the last leaf", errBlock, first, first+n-1, len(b))
	}
	return nil
}

// blockOfSQL reads the block that holds a leaf: ?1 the leaf's key, ?2 the
// log's first key.
const blockOfSQL = `SELECT k, n, data FROM log_blocks WHERE k <= ?1 AND k >= ?2 ORDER BY k DESC LIMIT 1`

// blockRows reads the hashes of leaves of log number log.
func blockRows(ctx context.Context, q sqlplan.Querier, log int64, leaves []int64) (map[int64][]byte, error) {
	lo, _ := keyRange(log)
	out := make(map[int64][]byte, len(leaves))
	type block struct {
		first, n int64
		data     []byte
	}
	var seen []block
	for _, leaf := range leaves {
		if _, ok := out[leaf]; ok {
			continue
		}
		var blk *block
		for i := range seen {
			if leaf >= seen[i].first && leaf < seen[i].first+seen[i].n {
				blk = &seen[i]
			}
		}
		if blk == nil {
			rows, err := q(ctx, blockOfSQL, lo+leaf, lo)
			if err != nil {
				return nil, err
			}
			var k, n int64
			var data []byte
			found := rows.Next()
			if found {
				err = rows.Scan(&k, &n, &data)
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
			if err != nil {
				return nil, err
			}
			if !found || leaf >= k-lo+n {
				continue // missing
			}
			seen = append(seen, block{first: k - lo, n: n, data: data})
			blk = &seen[len(seen)-1]
		}
		if err := decodeBlock(blk.data, "", blk.first, blk.n, func(l *audit.LogLeaf) error {
			if l.Index == leaf {
				out[leaf] = bytes.Clone(l.Hashes)
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// blocks is how this store keeps leaves, for sqlplan.LogSnapshot.
type blocks struct{}

// log is the number of gateway's log, or ok false when it has none.
func (blocks) log(ctx context.Context, q sqlplan.Querier, gateway string) (int64, bool, error) {
	rows, err := q(ctx, `SELECT log FROM logs WHERE gateway = ?`, gateway)
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return 0, false, rows.Err()
	}
	var n int64
	err = rows.Scan(&n)
	return n, err == nil, err
}

// Size implements sqlplan.LeafStore.
func (b blocks) Size(ctx context.Context, q sqlplan.Querier, gateway string) (int64, error) {
	log, ok, err := b.log(ctx, q, gateway)
	if err != nil || !ok {
		return 0, err
	}
	return sizeOf(ctx, q, log)
}

// Leaves implements sqlplan.LeafStore.
func (b blocks) Leaves(ctx context.Context, q sqlplan.Querier, gateway string, from int64, limit int) ([]audit.LogLeaf, error) {
	log, ok, err := b.log(ctx, q, gateway)
	if err != nil || !ok {
		return nil, err
	}
	lo, hi := keyRange(log)
	rows, err := q(ctx, `SELECT k, n, data FROM log_blocks WHERE k >= coalesce((SELECT max(k) FROM log_blocks WHERE k <= ?1 AND k >= ?2), ?2)
		AND k < ?3 ORDER BY k`, lo+from, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []audit.LogLeaf
	errFull := errors.New("full")
	for len(out) < limit && rows.Next() {
		var k, n int64
		var data []byte
		if err := rows.Scan(&k, &n, &data); err != nil {
			return nil, err
		}
		err := decodeBlock(data, gateway, k-lo, n, func(l *audit.LogLeaf) error {
			if l.Index < from {
				return nil
			}
			if len(out) == limit {
				return errFull
			}
			c := *l
			c.Hashes = bytes.Clone(l.Hashes)
			out = append(out, c)
			return nil
		})
		if err != nil && !errors.Is(err, errFull) {
			return nil, err
		}
	}
	return out, rows.Err()
}

// Rows implements sqlplan.LeafStore.
func (b blocks) Rows(ctx context.Context, q sqlplan.Querier, gateway string, leaves []int64) (map[int64][]byte, error) {
	log, ok, err := b.log(ctx, q, gateway)
	if err != nil || !ok {
		return map[int64][]byte{}, err
	}
	return blockRows(ctx, q, log, leaves)
}

// LeafOf implements sqlplan.LeafStore: the leaf outcomes.log_leaf names,
// if it names the record.
func (blocks) LeafOf(ctx context.Context, q sqlplan.Querier, id string) (audit.LogLeaf, bool, error) {
	rows, err := q(ctx, `SELECT o.log_leaf, g.gateway FROM decisions d JOIN outcomes o ON o.rid = d.rid
		JOIN logs g ON g.log = o.log_leaf >> 40 WHERE d.id = ?`, id)
	if err != nil {
		return audit.LogLeaf{}, false, err
	}
	var k int64
	var gw string
	found := rows.Next()
	if found {
		err = rows.Scan(&k, &gw)
	}
	rows.Close()
	if err == nil {
		err = rows.Err()
	}
	if err != nil || !found {
		return audit.LogLeaf{}, false, err
	}
	log, leaf := k>>logBits, k&(1<<logBits-1)
	lo, _ := keyRange(log)
	rows, err = q(ctx, blockOfSQL, k, lo)
	if err != nil {
		return audit.LogLeaf{}, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return audit.LogLeaf{}, false, rows.Err()
	}
	var bk, n int64
	var data []byte
	if err := rows.Scan(&bk, &n, &data); err != nil {
		return audit.LogLeaf{}, false, err
	}
	var out audit.LogLeaf
	ok := false
	err = decodeBlock(data, gw, bk-lo, n, func(l *audit.LogLeaf) error {
		if l.Index == leaf && l.ID == id {
			out, ok = *l, true
			out.Hashes = bytes.Clone(l.Hashes)
		}
		return nil
	})
	return out, ok, err
}

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
			s.logOf = map[string]int64{}
		}
	}()
	rd := sqlplan.NewReader(dialect{}, s.lay.cols, nil, s.label())
	start := time.Now()
	const unlogged = "SELECT g.gateway FROM gateways g WHERE NOT EXISTS (SELECT 1 FROM logs l WHERE l.gateway = g.gateway) ORDER BY g.gateway"
	n, err := rd.Backfill(ctx, sqlplan.DBQuerier(s.conn), unlogged, &s.logs, func(leaves []audit.LogLeaf, recs []*audit.Record) error {
		if err := s.insertLeaves(ctx, leaves); err != nil {
			return err
		}
		for i, l := range leaves {
			log, err := s.logNumber(ctx, l.Gateway)
			if err != nil {
				return err
			}
			lo, _ := keyRange(log)
			if _, err := s.conn.ExecContext(ctx, `UPDATE outcomes SET log_leaf = ? WHERE rid = ?`, lo+l.Index, recs[i].Row().ID); err != nil {
				return err
			}
		}
		return nil
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
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		_ = conn.Close()
		return nil, fmt.Errorf("audit: %s: %w", s.path, err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return fail(err)
	}
	var n int
	// The first read starts the snapshot.
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'log_blocks'`).Scan(&n); err != nil {
		return fail(err)
	}
	if n == 0 {
		return fail(audit.ErrNoLog)
	}
	return &digests{query: digestsSQL(digestSelect(s.view)), LogSnapshot: &sqlplan.LogSnapshot{
		Reader: s.rd,
		Q:      sqlplan.DBQuerier(conn),
		Leaf:   blocks{},
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
	}}, nil
}
