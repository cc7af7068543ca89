package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/audit/spool"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// insertChunk is the number of rows per multi-row INSERT statement.
const insertChunk = 32

// sqliteStore is the default Store: one SQLite file in WAL mode with
// synchronous=FULL, so a commit is on disk when it returns. Writes go
// through one connection (the Auditor's writer goroutine is the only
// writer); queries use a separate read-only pool and never block it.
type sqliteStore struct {
	path string
	opts StoreOptions

	// Writer side, used from one goroutine only.
	w         *sql.DB
	conn      *sql.Conn
	decisions chunkedStmt
	outcomes  chunkedStmt
	openIns   chunkedStmt
	openDel   chunkedStmt
	costUps   chunkedStmt
	seq       *sql.Stmt
	ridByID   *sql.Stmt
	maxRid    *sql.Stmt
	cursor    *sql.Stmt
	ckpt      *checkpointer
	ident     os.FileInfo // the file the writer has open
	id        string      // the file's store_meta id (storeID)
	broken    bool        // reopen before the next write
	gen       uint64      // incremented at each (re)open
	nextRid   int64       // rid of the next decision row, within write

	// Scratch space reused by write.
	args       []any
	decs, outs []*Record
	decRids    []int64
	outRids    []int64
	opens      []openCall
	closes     []int64
	costs      map[costKey]costSum

	// r is the read-only pool; swapped when the store is reopened.
	r atomic.Pointer[sql.DB]
}

// openSQLite opens (and, unless read-only, creates) the store at path.
func openSQLite(ctx context.Context, path string, opts StoreOptions) (*sqliteStore, error) {
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &sqliteStore{path: path, opts: opts}
	if opts.ReadOnly {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("audit: %s: %w", path, err)
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("audit: %s: is a directory", path)
		}
		r, err := s.openReadPool(ctx)
		if err != nil {
			return nil, err
		}
		var v int
		if err := r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			_ = r.Close()
			return nil, fmt.Errorf("audit: %s: %w", path, err)
		}
		switch {
		case v == 0:
			_ = r.Close()
			return nil, fmt.Errorf("audit: %s: not a Sluice audit store", path)
		case v > schemaVersion:
			_ = r.Close()
			return nil, fmt.Errorf("audit: %s: schema version %d is newer than this Sluice understands (%d)", path, v, schemaVersion)
		}
		s.r.Store(r)
		return s, nil
	}
	if err := s.open(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// dsn is the SQLite URI of the store with params.
func (s *sqliteStore) dsn(params ...string) (string, error) {
	abs, err := filepath.Abs(s.path)
	if err != nil {
		return "", fmt.Errorf("audit: %s: %w", s.path, err)
	}
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
	return "file:" + esc + "?" + strings.Join(params, "&"), nil
}

// open opens the writer connection, creates the schema and the read pool.
func (s *sqliteStore) open(ctx context.Context) error {
	if dir := filepath.Dir(s.path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("audit: %s: %w", s.path, err)
		}
	}
	fi, err := os.Stat(s.path)
	created := errors.Is(err, fs.ErrNotExist)
	switch {
	case err == nil && fi.IsDir():
		return fmt.Errorf("audit: %s: is a directory", s.path)
	case created:
		s.setAsideOrphans()
	}
	// The first open of an existing file checks it (reopens after an
	// error do not: they would stall the ingester for the check's time).
	checkSize := int64(-1)
	if err == nil && s.gen == 0 && fi.Size() > 0 {
		checkSize = fi.Size()
	}
	dsn, err := s.dsn(
		fmt.Sprintf("_pragma=busy_timeout(%d)", s.opts.BusyTimeout.Milliseconds()),
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(FULL)",
		"_pragma=journal_size_limit(67108864)",
		"_pragma=cache_size(-32768)",
		"_pragma=temp_store(memory)",
		// Checkpoints run on their own connection (checkpointer); the
		// writer only checkpoints if that falls far behind.
		fmt.Sprintf("_pragma=wal_autocheckpoint(%d)", writerAutoCheckpoint),
	)
	if err != nil {
		return err
	}
	dsnCkpt, err := s.dsn(fmt.Sprintf("_pragma=busy_timeout(%d)", s.opts.BusyTimeout.Milliseconds()))
	if err != nil {
		return err
	}
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("audit: %s: %w", s.path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	var conn *sql.Conn
	var r *sql.DB
	fail := func(err error) error {
		if r != nil {
			_ = r.Close()
		}
		if conn != nil {
			_ = conn.Close()
		}
		_ = w.Close()
		if errors.Is(err, ErrStoreDamaged) {
			return err
		}
		if isCorrupt(err) {
			return s.damaged(err.Error())
		}
		return fmt.Errorf("audit: %s: %w", s.path, err)
	}
	conn, err = w.Conn(ctx)
	if err != nil {
		return fail(err)
	}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fail(err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fail(fmt.Errorf("journal_mode is %q, want wal", mode))
	}
	if checkSize > 0 {
		if err := s.checkIntegrity(ctx, conn, checkSize); err != nil {
			return fail(err)
		}
	}
	if err := createSchema(ctx, conn, true); err != nil {
		return fail(err)
	}
	id, err := ensureStoreID(ctx, conn)
	if err != nil {
		return fail(err)
	}
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = conn.PrepareContext(ctx, q)
		return st
	}
	s.decisions = chunkedStmt{one: prep(insertDecisionsSQL(1)), many: prep(insertDecisionsSQL(insertChunk)), width: len(decisionColumns) + 1}
	s.outcomes = chunkedStmt{one: prep(upsertOutcomesSQL(1)), many: prep(upsertOutcomesSQL(insertChunk)), width: len(outcomeColumns) + 1}
	s.openIns = chunkedStmt{one: prep(insertOpenSQL(1)), many: prep(insertOpenSQL(insertChunk)), width: 2}
	s.openDel = chunkedStmt{one: prep(deleteOpenSQL(1)), many: prep(deleteOpenSQL(insertChunk)), width: 1}
	s.costUps = chunkedStmt{one: prep(upsertCostSQL(1)), many: prep(upsertCostSQL(insertChunk)), width: 8}
	s.ridByID = prep(`SELECT rid FROM decisions WHERE id = ?`)
	s.maxRid = prep(`SELECT coalesce(max(rid), 0) FROM decisions`)
	s.cursor = prep(`INSERT INTO spool_cursor (gateway, seg, off) VALUES (?, ?, ?)
		ON CONFLICT (gateway) DO UPDATE SET seg = excluded.seg, off = excluded.off`)
	s.seq = prep(`INSERT INTO gateways (gateway, seq) VALUES (?, ?)
		ON CONFLICT (gateway) DO UPDATE SET seq = max(seq, excluded.seq)`)
	if err != nil {
		return fail(err)
	}
	if created {
		// SQLite syncs the directory for a new WAL, not for a new
		// database file: make its name durable too.
		if err := syncDir(filepath.Dir(s.path)); err != nil {
			return fail(err)
		}
	}
	ident, err := os.Stat(s.path)
	if err != nil {
		return fail(err)
	}
	if r, err = s.openReadPool(ctx); err != nil {
		return fail(err)
	}
	ckpt, err := startCheckpointer(s, dsnCkpt)
	if err != nil {
		return fail(err)
	}
	s.w, s.conn, s.ident, s.broken, s.ckpt, s.id = w, conn, ident, false, ckpt, id
	s.gen++
	if old := s.r.Swap(r); old != nil {
		go old.Close() // waits for queries in flight on the old file
	}
	return nil
}

// ensureStoreID gives the file a random id on its first open and returns
// it: the high-water mark (spool_hwm.go) records which file the gateway
// wrote, so a replaced file is told from the same one.
func ensureStoreID(ctx context.Context, conn *sql.Conn) (string, error) {
	if _, err := conn.ExecContext(ctx, `INSERT INTO store_meta (k, v) VALUES ('store_id', lower(hex(randomblob(16))))
		ON CONFLICT (k) DO NOTHING`); err != nil {
		return "", fmt.Errorf("store id: %w", err)
	}
	var id string
	if err := conn.QueryRowContext(ctx, `SELECT v FROM store_meta WHERE k = 'store_id'`).Scan(&id); err != nil {
		return "", fmt.Errorf("store id: %w", err)
	}
	return id, nil
}

// storeID is the id of the file the writer has open ("" before it is
// open).
func (s *sqliteStore) storeID() string { return s.id }

// syncDir fsyncs a directory, making the names in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// setAsideOrphans renames a -wal file left by a database file that no
// longer exists (removed while a gateway wrote to it): SQLite would
// otherwise replay its frames into the new, empty database. The -shm is
// only an index of the -wal and is removed.
func (s *sqliteStore) setAsideOrphans() {
	wal := s.path + "-wal"
	if _, err := os.Stat(wal); err == nil {
		to := fmt.Sprintf("%s.orphaned-%s", wal, time.Now().UTC().Format("20060102T150405.000000000"))
		if err := os.Rename(wal, to); err != nil {
			s.opts.Logger.Error("audit: cannot set aside the write-ahead log of a removed store", "path", wal, "err", err)
		} else {
			s.opts.Logger.Warn("audit: store file was removed; its write-ahead log is kept aside", "path", to)
		}
	}
	_ = os.Remove(s.path + "-shm")
}

// openReadPool opens the read-only connections used by queries.
func (s *sqliteStore) openReadPool(ctx context.Context) (*sql.DB, error) {
	dsn, err := s.dsn(
		"mode=ro",
		fmt.Sprintf("_pragma=busy_timeout(%d)", s.opts.BusyTimeout.Milliseconds()),
		"_pragma=cache_size(-32768)",
		"_pragma=temp_store(memory)",
	)
	if err != nil {
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("audit: %s: %w", s.path, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(2)
	r.SetConnMaxIdleTime(time.Minute)
	if err := r.PingContext(ctx); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("audit: %s: %w", s.path, err)
	}
	return r, nil
}

// createSchema creates the tables (and, with indexes, the indexes) if they
// do not exist, and refuses a store written by a newer schema.
func createSchema(ctx context.Context, conn *sql.Conn, indexes bool) error {
	var v int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > schemaVersion {
		return fmt.Errorf("schema version %d is newer than this Sluice understands (%d)", v, schemaVersion)
	}
	if _, err := conn.ExecContext(ctx, tableDDL()); err != nil {
		return fmt.Errorf("creating tables: %w", err)
	}
	if err := migrate(ctx, conn); err != nil {
		return err
	}
	if indexes {
		if err := createIndexes(ctx, conn); err != nil {
			return err
		}
	}
	if v != schemaVersion {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
			return err
		}
	}
	return nil
}

func createIndexes(ctx context.Context, conn *sql.Conn) error {
	for _, ddl := range indexDDL {
		if _, err := conn.ExecContext(ctx, ddl); err != nil {
			return fmt.Errorf("creating index: %w", err)
		}
	}
	return nil
}

// closeWriter closes the writer side (the read pool stays until reopened
// or Close).
func (s *sqliteStore) closeWriter() {
	if s.ckpt != nil {
		s.ckpt.stop()
		s.ckpt = nil
	}
	for _, st := range []*sql.Stmt{s.decisions.one, s.decisions.many, s.outcomes.one, s.outcomes.many,
		s.openIns.one, s.openIns.many, s.openDel.one, s.openDel.many, s.costUps.one, s.costUps.many,
		s.seq, s.ridByID, s.maxRid, s.cursor} {
		if st != nil {
			_ = st.Close()
		}
	}
	if s.conn != nil {
		_ = s.conn.Close()
	}
	if s.w != nil {
		_ = s.w.Close()
	}
	s.decisions, s.outcomes, s.openIns, s.openDel, s.costUps = chunkedStmt{}, chunkedStmt{}, chunkedStmt{}, chunkedStmt{}, chunkedStmt{}
	s.seq, s.ridByID, s.maxRid, s.conn, s.w = nil, nil, nil, nil, nil
}

// ensureOpen reopens the writer after a failure: a fresh connection after
// an I/O error, a new file when the old one was removed.
func (s *sqliteStore) ensureOpen(ctx context.Context) error {
	if s.opts.ReadOnly {
		return ErrReadOnly
	}
	if s.w != nil && !s.broken {
		return nil
	}
	s.closeWriter()
	return s.open(ctx)
}

// verify checks that the path still names the file the writer has open.
// SQLite keeps writing into a removed (unlinked) file, where nothing
// survives a restart; such commits do not count.
func (s *sqliteStore) verify() error {
	fi, err := os.Stat(s.path)
	if err == nil && os.SameFile(fi, s.ident) {
		return nil
	}
	s.broken = true
	switch {
	case err != nil:
		return fmt.Errorf("audit: %s: store file removed: %w", s.path, err)
	case fi.IsDir():
		return fmt.Errorf("audit: %s: store file removed (the path is now a directory)", s.path)
	default:
		return fmt.Errorf("audit: %s: store file replaced", s.path)
	}
}

// Write implements Store.
func (s *sqliteStore) Write(ctx context.Context, b *Batch) error {
	if err := s.ensureOpen(ctx); err != nil {
		return err
	}
	if err := s.write(ctx, b); err != nil {
		// A fresh connection next time: after an I/O error SQLite's
		// connection state is not worth trusting, and it may be a
		// removed file.
		s.broken = true
		if verr := s.verify(); verr != nil {
			return verr
		}
		return fmt.Errorf("audit: %s: %w", s.path, err)
	}
	return s.verify()
}

func (s *sqliteStore) write(ctx context.Context, b *Batch) (err error) {
	if _, err := s.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = s.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	// rids continue from the highest in the file, read under the write
	// lock: another process writing the same file cannot collide.
	if err := s.maxRid.QueryRowContext(ctx).Scan(&s.nextRid); err != nil {
		return fmt.Errorf("max rid: %w", err)
	}
	s.nextRid++
	var seqs gatewaySeqs
	s.decs, s.decRids, s.outs, s.outRids = s.decs[:0], s.decRids[:0], s.outs[:0], s.outRids[:0]
	s.opens, s.closes = s.opens[:0], s.closes[:0]
	newDecision := func(r *Record) int64 {
		rid := s.nextRid
		s.nextRid++
		s.decs, s.decRids = append(s.decs, r), append(s.decRids, rid)
		seqs.note(r)
		return rid
	}
	for _, r := range b.Inserts {
		rid := newDecision(r)
		if r.TimeEnd.IsZero() {
			// Begin: open until its outcome arrives.
			s.opens = append(s.opens, openCall{rid, r.Gateway})
		} else {
			// Complete: the whole record at once.
			s.outs, s.outRids = append(s.outs, r), append(s.outRids, rid)
		}
	}
	for _, r := range b.Outcomes {
		rid := r.rid
		if rid == 0 || r.gen != s.gen {
			// The row's place is unknown: the store was reopened since
			// Begin, or Begin failed. Find it by id; if it is not in this
			// file, write the whole record rather than lose it.
			var err error
			if rid, err = s.ridOf(ctx, r.ID); err != nil {
				return fmt.Errorf("find %s: %w", r.ID, err)
			}
		}
		if rid == 0 {
			rid = newDecision(r)
		} else {
			s.closes = append(s.closes, rid)
		}
		s.outs, s.outRids = append(s.outs, r), append(s.outRids, rid)
	}

	args := s.args[:0]
	for i, r := range s.decs {
		args = appendRowArgs(args, s.decRids[i], decisionColumns, r)
	}
	if err := s.decisions.exec(ctx, len(s.decs), args); err != nil {
		return fmt.Errorf("insert decisions: %w", err)
	}
	args = args[:0]
	for _, o := range s.opens {
		args = append(args, o.rid, o.gateway)
	}
	if err := s.openIns.exec(ctx, len(s.opens), args); err != nil {
		return fmt.Errorf("insert open calls: %w", err)
	}
	args = args[:0]
	for i, r := range s.outs {
		args = appendRowArgs(args, s.outRids[i], outcomeColumns, r)
	}
	if err := s.outcomes.exec(ctx, len(s.outs), args); err != nil {
		return fmt.Errorf("insert outcomes: %w", err)
	}
	args = args[:0]
	for _, rid := range s.closes {
		args = append(args, rid)
	}
	if err := s.openDel.exec(ctx, len(s.closes), args); err != nil {
		return fmt.Errorf("delete open calls: %w", err)
	}
	if s.costs == nil {
		s.costs = map[costKey]costSum{}
	}
	clear(s.costs)
	for _, r := range s.outs {
		if k, v, ok := costGroup(r); ok {
			sum := s.costs[k]
			sum.calls, sum.bytes, sum.cost = sum.calls+v.calls, sum.bytes+v.bytes, sum.cost+v.cost
			s.costs[k] = sum
		}
	}
	args = args[:0]
	for k, v := range s.costs {
		args = append(args, k.hour, k.source, k.destination, k.meter, k.currency, v.calls, v.bytes, v.cost)
	}
	if err := s.costUps.exec(ctx, len(s.costs), args); err != nil {
		return fmt.Errorf("cost rollup: %w", err)
	}
	s.args = args[:0]
	for _, gs := range seqs {
		if _, err := s.seq.ExecContext(ctx, gs.gateway, int64(gs.seq)); err != nil {
			return fmt.Errorf("seq: %w", err)
		}
	}
	if b.cursor != nil {
		if _, err := s.cursor.ExecContext(ctx, b.cursor.gateway, b.cursor.pos.Seg, b.cursor.pos.Off); err != nil {
			return fmt.Errorf("spool cursor: %w", err)
		}
	}
	if _, err := s.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	// Committed: Begin's records now know their row.
	for i, r := range b.Inserts {
		r.rid, r.gen = s.decRids[i], s.gen
	}
	return nil
}

// spoolCursor is the position of the last entry of gateway's spool
// ingested ({0, 0} for a new file).
func (s *sqliteStore) spoolCursor(ctx context.Context, gateway string) (spool.Pos, error) {
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

// ridOf returns the rid of the decision row with id, or 0.
func (s *sqliteStore) ridOf(ctx context.Context, id string) (int64, error) {
	if id == "" {
		return 0, nil
	}
	var rid int64
	err := s.ridByID.QueryRowContext(ctx, id).Scan(&rid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return rid, err
}

// openCall is a row of open_calls.
type openCall struct {
	rid     int64
	gateway string
}

// chunkedStmt executes a multi-row statement insertChunk rows at a time
// and the rest one row at a time.
type chunkedStmt struct {
	one, many *sql.Stmt
	width     int // arguments per row
}

// exec runs the statement for n rows whose arguments are args.
func (c *chunkedStmt) exec(ctx context.Context, n int, args []any) error {
	i := 0
	for ; i+insertChunk <= n; i += insertChunk {
		if _, err := c.many.ExecContext(ctx, args[i*c.width:(i+insertChunk)*c.width]...); err != nil {
			return err
		}
	}
	for ; i < n; i++ {
		if _, err := c.one.ExecContext(ctx, args[i*c.width:(i+1)*c.width]...); err != nil {
			return err
		}
	}
	return nil
}

// gatewaySeqs tracks the highest seq per gateway in a batch (nearly always
// one gateway).
type gatewaySeqs []struct {
	gateway string
	seq     uint64
}

func (g *gatewaySeqs) note(r *Record) {
	for i := range *g {
		if (*g)[i].gateway == r.Gateway {
			(*g)[i].seq = max((*g)[i].seq, r.Seq)
			return
		}
	}
	*g = append(*g, struct {
		gateway string
		seq     uint64
	}{r.Gateway, r.Seq})
}

// Check implements Store: reopen if needed, then a probe commit.
func (s *sqliteStore) Check(ctx context.Context) error {
	if err := s.ensureOpen(ctx); err != nil {
		return err
	}
	if err := s.verify(); err != nil {
		return err
	}
	_, err := s.conn.ExecContext(ctx, `INSERT INTO probe (k, t) VALUES (1, ?)
		ON CONFLICT (k) DO UPDATE SET t = excluded.t`, formatTime(time.Now()))
	if err != nil {
		s.broken = true
		return fmt.Errorf("audit: %s: probe write: %w", s.path, err)
	}
	return s.verify()
}

// LastSeq implements Store.
func (s *sqliteStore) LastSeq(ctx context.Context, gateway string) (uint64, error) {
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

// OpenRecords implements Store.
func (s *sqliteStore) OpenRecords(ctx context.Context, gateway string) ([]Record, error) {
	if err := s.ensureOpen(ctx); err != nil {
		return nil, err
	}
	rows, err := s.conn.QueryContext(ctx, "SELECT "+selectList()+
		" FROM records WHERE rid IN (SELECT rid FROM open_calls WHERE gateway = ?) ORDER BY rid", gateway)
	if err != nil {
		return nil, fmt.Errorf("audit: %s: %w", s.path, err)
	}
	defer rows.Close()
	var out []Record
	sc := newRowScanner()
	for rows.Next() {
		r, err := sc.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("audit: %s: %w", s.path, err)
		}
		r.gen = s.gen
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: %s: %w", s.path, err)
	}
	return out, nil
}

// Prune implements Store: one short transaction of at most limit
// records, so the writer is never held up for long.
func (s *sqliteStore) Prune(ctx context.Context, before time.Time, limit int) (n int, err error) {
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
	cut := formatTime(before)
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
		formatTime(before.UTC().Truncate(time.Hour))); err != nil {
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
	if _, err := s.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return 0, err
	}
	return int(deleted), nil
}

// Close implements Reader. The read pool closes first, so that the
// writer's connection is the last one: SQLite then copies the WAL into
// the file and removes it, leaving one self-contained file.
func (s *sqliteStore) Close() error {
	var err error
	if r := s.r.Swap(nil); r != nil {
		err = r.Close()
	}
	s.closeWriter()
	return err
}
