package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/spool"
	"github.com/sluicehq/sluice/audit/sqlplan"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// insertChunk is the number of rows per multi-row INSERT statement.
const insertChunk = 32

// store is the default Store: one SQLite file in WAL mode with
// synchronous=FULL, so a commit is on disk when it returns. Writes go
// through one connection (the Auditor's writer goroutine is the only
// writer); queries use a separate read-only pool and never block it.
type store struct {
	path string
	opts audit.StoreOptions
	lay  layout
	rd   *sqlplan.Reader // reads records and cost reports
	view map[string]bool // the records view's columns when not migrated (read-only), else nil

	// Writer side, used from one goroutine only.
	w         *sql.DB
	conn      *sql.Conn
	decisions chunkedStmt
	outcomes  chunkedStmt
	openIns   chunkedStmt
	openDel   chunkedStmt
	costUps   chunkedStmt
	blockIns  chunkedStmt
	sbGet     *sql.Stmt // a search block (search.go)
	sbPut     *sql.Stmt
	logSize   *sql.Stmt
	logIns    *sql.Stmt
	logOf     map[string]int64 // each gateway's number in logs
	seq       *sql.Stmt
	ridByID   *sql.Stmt
	maxRid    *sql.Stmt
	cursor    *sql.Stmt
	ckpt      *checkpointer
	logs      audit.LogAppender
	ident     os.FileInfo // the file the writer has open
	id        string      // the file's store_meta id (storeID)
	broken    bool        // reopen before the next write
	gen       uint64      // incremented at each (re)open
	nextRid   int64       // rid of the next decision row, within write
	// noLog leaves the transparency logs out of Write: only for the
	// benchmark that measures what they cost (BenchmarkStoreWriteWhole).
	noLog bool
	// noSearch answers every query with the plain query, not the search
	// summary: only for the tests that compare the two.
	noSearch bool

	// Scratch space reused by write.
	args       []any
	decs, outs []*audit.Record
	decRids    []int64
	outRids    []int64
	opens      []openCall
	closes     []int64
	closing    []*audit.Record
	completed  []*audit.Record
	wasOpen    map[int64]bool
	leafKey    map[*audit.Record]int64
	block      []byte
	sblocks    map[int64]*searchBlock // the search blocks of a write
	sfree      []*searchBlock
	skeys      []uint64

	// r is the read-only pool; swapped when the store is reopened.
	r atomic.Pointer[sql.DB]
}

// openSQLite opens (and, unless read-only, creates) the store at path.
func openSQLite(ctx context.Context, path string, opts audit.StoreOptions) (*store, error) {
	opts.Defaults()
	s := &store{path: path, opts: opts, lay: newLayout(opts.Columns)}
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
		// Not migrated: a column the view lacks reads as zero.
		view, err := sqlplan.ColumnsOf(ctx, dialect{}, sqlplan.DBQuerier(r), "records")
		if err != nil {
			_ = r.Close()
			return nil, fmt.Errorf("audit: %s: %w", path, err)
		}
		s.rd = sqlplan.NewReader(dialect{}, s.lay.cols, view, s.label())
		s.view = view
		s.r.Store(r)
		return s, nil
	}
	if err := s.open(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// dsn is the SQLite URI of the store with params.
func (s *store) dsn(params ...string) (string, error) {
	abs, err := filepath.Abs(s.path)
	if err != nil {
		return "", fmt.Errorf("audit: %s: %w", s.path, err)
	}
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
	return "file:" + esc + "?" + strings.Join(params, "&"), nil
}

// open opens the writer connection, creates the schema and the read pool.
func (s *store) open(ctx context.Context) error {
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
			if s.conn == conn {
				s.conn = nil
			}
		}
		_ = w.Close()
		if errors.Is(err, audit.ErrStoreDamaged) {
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
	if err := s.lay.createSchema(ctx, conn); err != nil {
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
	s.decisions = chunkedStmt{one: prep(s.lay.insertDecisionsSQL(1)), many: prep(s.lay.insertDecisionsSQL(insertChunk)), width: len(s.lay.dec)}
	s.outcomes = chunkedStmt{one: prep(s.lay.insertOutcomesSQL(1)), many: prep(s.lay.insertOutcomesSQL(insertChunk)), width: len(s.lay.out) + 2}
	s.openIns = chunkedStmt{one: prep(insertOpenSQL(1)), many: prep(insertOpenSQL(insertChunk)), width: 2}
	s.openDel = chunkedStmt{one: prep(deleteOpenSQL(1)), many: prep(deleteOpenSQL(insertChunk)), width: 1}
	s.costUps = chunkedStmt{one: prep(upsertCostSQL(1)), many: prep(upsertCostSQL(insertChunk)), width: 8}
	s.blockIns = chunkedStmt{one: prep(insertBlocksSQL(1)), many: prep(insertBlocksSQL(insertChunk)), width: 3}
	s.logSize = prep(logSizeSQL)
	s.logIns = prep(`INSERT INTO logs (gateway) VALUES (?) ON CONFLICT (gateway) DO UPDATE SET gateway = excluded.gateway RETURNING log`)
	s.sbGet = prep(searchGetSQL)
	s.sbPut = prep(searchPutSQL)
	s.ridByID = prep(`SELECT rid FROM decisions WHERE id = ?`)
	s.maxRid = prep(`SELECT coalesce(max(rid), 0) FROM decisions`)
	s.cursor = prep(`INSERT INTO spool_cursor (gateway, seg, off) VALUES (?, ?, ?)
		ON CONFLICT (gateway) DO UPDATE SET seg = excluded.seg, off = excluded.off`)
	s.seq = prep(`INSERT INTO gateways (gateway, seq) VALUES (?, ?)
		ON CONFLICT (gateway) DO UPDATE SET seq = max(seq, excluded.seq)`)
	if err != nil {
		return fail(err)
	}
	s.conn = conn
	s.logs.Abort() // another file, maybe: every tree is read again
	s.logOf = map[string]int64{}
	if err := s.backfill(ctx); err != nil {
		return fail(err)
	}
	if err := s.backfillSearch(ctx); err != nil {
		return fail(err)
	}
	if created {
		// SQLite syncs the directory for a new WAL, not for a new
		// database file: make its name durable too.
		if err := spool.SyncDir(filepath.Dir(s.path)); err != nil {
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
	s.rd = sqlplan.NewReader(dialect{}, s.lay.cols, nil, s.label()) // migrated: every column
	s.view = nil
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

// StoreID implements audit.IdentifiedStore: the id of the file the
// writer has open ("" before it is open).
func (s *store) StoreID() string { return s.id }

// Location implements audit.IdentifiedStore: the file's path.
func (s *store) Location() string { return s.path }

// label starts the store's error messages.
func (s *store) label() string { return "audit: " + s.path }

// setAsideOrphans renames a -wal file left by a database file that no
// longer exists (removed while a gateway wrote to it): SQLite would
// otherwise replay its frames into the new, empty database. The -shm is
// only an index of the -wal and is removed.
func (s *store) setAsideOrphans() {
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
func (s *store) openReadPool(ctx context.Context) (*sql.DB, error) {
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

// closeWriter closes the writer side (the read pool stays until reopened
// or Close).
func (s *store) closeWriter() {
	if s.ckpt != nil {
		s.ckpt.stop()
		s.ckpt = nil
	}
	for _, st := range []*sql.Stmt{s.decisions.one, s.decisions.many, s.outcomes.one, s.outcomes.many,
		s.openIns.one, s.openIns.many, s.openDel.one, s.openDel.many, s.costUps.one, s.costUps.many,
		s.blockIns.one, s.blockIns.many, s.logSize, s.logIns, s.seq, s.ridByID, s.maxRid, s.cursor, s.sbGet, s.sbPut} {
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
	s.blockIns, s.logSize, s.logIns = chunkedStmt{}, nil, nil
	s.seq, s.ridByID, s.maxRid, s.conn, s.w = nil, nil, nil, nil, nil
	s.sbGet, s.sbPut = nil, nil
}

// ensureOpen reopens the writer after a failure: a fresh connection after
// an I/O error, a new file when the old one was removed.
func (s *store) ensureOpen(ctx context.Context) error {
	if s.opts.ReadOnly {
		return audit.ErrReadOnly
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
func (s *store) verify() error {
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

// Close implements Reader. The read pool closes first, so that the
// writer's connection is the last one: SQLite then copies the WAL into
// the file and removes it, leaving one self-contained file.
func (s *store) Close() error {
	var err error
	if r := s.r.Swap(nil); r != nil {
		err = r.Close()
	}
	s.closeWriter()
	return err
}
