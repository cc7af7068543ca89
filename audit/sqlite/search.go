package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/sqlplan"
	"modernc.org/sqlite"
)

// The search summary. Filters on the columns other than id and
// time_start used to walk an index: the time index from the newest
// record until a page was full (a value that matched nothing walked
// every record of the range, ~2.7 µs each: a second for 24 h of a
// 10-million-record store), or an index of their own (host,
// source_identity, source_workload), which cost every write ~8 µs per
// record each under load (#18).
//
// Instead, search_blocks keeps, for each block of 1,024 consecutive rids,
// the time range of its records (tmin, tmax), a Bloom filter (bits) of
// their search keys (audit.SearchKeys: each such column's value, the
// sources under one field, every prefix of the path, and the pairs of
// service_entry, status, reason, event, decision, host and a source) and
// a 512-bit signature of each record's keys (sigs, in rid order). Write
// adds the keys of the records it inserts and completes to their blocks
// in the same transaction (one read and one write of an 80 KiB row per
// block a batch touches, and ~60 hashes per record); retention deletes
// the blocks whose records are all gone. A search with such a filter
// (search) reads, newest first, the blocks whose time range meets the
// filter's and whose Bloom filter has every key of the filter
// (sluice_search_match, in SQL), and in those only the rows whose
// signature has every bit of the filter's, until the page is full and no
// later block can hold a newer record. A Bloom filter or a signature may
// say yes wrongly (then a block or a row is read for nothing), never no
// wrongly: the results are those of the plain query
// (TestSearchMatchesPlainQuery). A store whose summary is missing or of
// an earlier version of the keys gets it rebuilt when a gateway opens it
// (backfillSearch); until then, and in a store opened read-only and not
// migrated, queries are the plain ones.

const (
	// searchShift: a block is the rids with the same rid >> searchShift.
	searchShift = 10
	// searchBytes is the size of a block's Bloom filter: 2^17 bits, for
	// up to ~20,000 distinct keys a block at a few per cent of false
	// positives (the paths' prefixes are most of them).
	searchBytes = 1 << 14
	// searchHashes is the bits each key sets.
	searchHashes = 4
	// searchSigBytes is the size of a record's signature: 512 bits,
	// searchSigHashes a key (see setSigBits). A block's signatures are
	// its rows' in rid order (sigs: 64 KiB). With host and the sources a
	// record has ~60 keys: 256 bits, one a key, were a fifth set, so a
	// filter of one key (a host) took a fifth of a block's rows as
	// candidates, more than a block reads by rid.
	searchSigBytes  = 64
	searchBlockRows = 1 << searchShift
	// searchBatchRids is the most candidate rows of several blocks a
	// search reads in one query (sqlplan.RangeQuerySQL lists up to 200).
	searchBatchRids = 128
	// searchMetaKey is the store_meta key whose value is searchVersion
	// once every record's keys of that version are in search_blocks.
	searchMetaKey = "search_keys"
	// searchVersion is the version of the keys (audit.SearchKeys) the
	// summary holds: 2 added host and the sources (#18). A summary of
	// another version is rebuilt by a gateway opening the store.
	searchVersion = "2"
	// searchMetaV1 is the store_meta key of the first version's summary
	// (service_entry, status, reason, event, decision, source_ip, path).
	// Its presence means a version before 2 rebuilt the summary after
	// this one (a downgrade): then the summary is rebuilt again. Version
	// 2 deletes it, so that a version before it (which trusts any summary
	// marked so) rebuilds the summary with its keys before using it.
	searchMetaV1 = "search_blocks"
	// searchMatchFunc is the SQL function that tests a block's filter.
	searchMatchFunc = "sluice_search_match"
)

// searchPositions calls set with the bits of key.
func searchPositions(key uint64, set func(pos uint32)) {
	h1, h2 := uint32(key), uint32(key>>32)|1
	for i := range uint32(searchHashes) {
		set((h1 + i*h2) & (searchBytes*8 - 1))
	}
}

func init() {
	sqlite.MustRegisterFunction(searchMatchFunc, &sqlite.FunctionImpl{
		NArgs:         2,
		Deterministic: true,
		VolatileArgs:  true,
		Scalar:        searchMatch,
	})
}

// searchMatch is sluice_search_match(bits, positions): 1 when every bit
// of positions (little-endian uint32s) is set in bits.
func searchMatch(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	bits, _ := args[0].([]byte)
	pos, _ := args[1].([]byte)
	if len(bits) != searchBytes {
		return int64(1), nil // not a filter this version wrote: read the block
	}
	for i := 0; i+4 <= len(pos); i += 4 {
		p := binary.LittleEndian.Uint32(pos[i:])
		if bits[p>>3]&(1<<(p&7)) == 0 {
			return int64(0), nil
		}
	}
	return int64(1), nil
}

// The statements of a block's read and write (writeSearch).
const (
	searchGetSQL = `SELECT tmin, tmax, bits, sigs FROM search_blocks WHERE b = ?`
	searchPutSQL = `INSERT OR REPLACE INTO search_blocks (b, tmin, tmax, bits, sigs) VALUES (?, ?, ?, ?, ?)`
)

// searchSigHashes is how many bits of a record's signature a key sets.
// With ~60 keys a record, one bit each set a tenth of 512 bits, so a
// filter of one key (a host) took a tenth of a block's rows as
// candidates, and a block where its value is absent (a Bloom filter's
// false positive) was read all the same; three bits set ~30 % of them,
// and take ~2.6 % of the rows for one key, ~0.1 % for two.
const searchSigHashes = 3

// setSigBits sets in sig the bits of key (searchSigHashes of them, from
// bits 24 to 50 of the key; the Bloom filter uses the others whole).
func setSigBits(sig []byte, key uint64) {
	for i := range searchSigHashes {
		p := uint32(key>>(24+9*i)) & (searchSigBytes*8 - 1)
		sig[p>>3] |= 1 << (p & 7)
	}
}

// searchBlock is one block's part of a write.
type searchBlock struct {
	tmin, tmax time.Time
	bits       []byte
	sigs       []byte
}

// The parts of a record addSearch adds.
const (
	searchWhole   = iota // a complete record
	searchOpen           // an open call's decision part (status 0)
	searchOutcome        // the outcome of an open call already added open
)

// addSearch adds r's keys (part: which of them) to the block of rid, for
// writeSearch.
func (s *store) addSearch(r *audit.Record, rid int64, part int) {
	if s.sblocks == nil {
		s.sblocks = map[int64]*searchBlock{}
	}
	b := s.sblocks[rid>>searchShift]
	if b == nil {
		if n := len(s.sfree); n > 0 {
			b, s.sfree = s.sfree[n-1], s.sfree[:n-1]
			clear(b.bits)
			clear(b.sigs)
		} else {
			b = &searchBlock{bits: make([]byte, searchBytes), sigs: make([]byte, searchBlockRows*searchSigBytes)}
		}
		b.tmin, b.tmax = r.TimeStart, r.TimeStart
		s.sblocks[rid>>searchShift] = b
	}
	if r.TimeStart.Before(b.tmin) {
		b.tmin = r.TimeStart
	}
	if r.TimeStart.After(b.tmax) {
		b.tmax = r.TimeStart
	}
	if part == searchOutcome {
		s.skeys = audit.SearchOutcomeKeys(s.skeys[:0], r)
	} else {
		s.skeys = audit.SearchKeys(s.skeys[:0], r, part == searchOpen)
	}
	bits := b.bits
	sig := b.sigs[(rid&(searchBlockRows-1))*searchSigBytes:][:searchSigBytes]
	for _, k := range s.skeys {
		h1, h2 := uint32(k), uint32(k>>32)|1
		for i := range uint32(searchHashes) {
			p := (h1 + i*h2) & (searchBytes*8 - 1)
			bits[p>>3] |= 1 << (p & 7)
		}
		setSigBits(sig, k)
	}
}

// writeSearch merges the blocks addSearch gathered into search_blocks,
// in the write's transaction.
func (s *store) writeSearch(ctx context.Context) error {
	if len(s.sblocks) == 0 {
		return nil
	}
	keys := make([]int64, 0, len(s.sblocks))
	for k := range s.sblocks {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b := s.sblocks[k]
		var tmin, tmax string
		var old, oldSigs []byte
		err := s.sbGet.QueryRowContext(ctx, k).Scan(&tmin, &tmax, &old, &oldSigs)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			tmin, tmax = audit.FormatTime(b.tmin), audit.FormatTime(b.tmax)
		case err != nil:
			return fmt.Errorf("search block %d: %w", k, err)
		default:
			tmin, tmax = min(tmin, audit.FormatTime(b.tmin)), max(tmax, audit.FormatTime(b.tmax))
			if len(old) == searchBytes {
				for i := range b.bits {
					b.bits[i] |= old[i]
				}
			}
			if len(oldSigs) == len(b.sigs) {
				for i := range b.sigs {
					b.sigs[i] |= oldSigs[i]
				}
			}
		}
		if _, err := s.sbPut.ExecContext(ctx, k, tmin, tmax, b.bits, b.sigs); err != nil {
			return fmt.Errorf("search block %d: %w", k, err)
		}
	}
	s.releaseSearch()
	return nil
}

// releaseSearch empties the blocks of a write (kept for the next).
func (s *store) releaseSearch() {
	for k, b := range s.sblocks {
		s.sfree = append(s.sfree, b)
		delete(s.sblocks, k)
	}
}

// searchMarked reports whether every record of the store is in
// search_blocks with the keys of this version.
func searchMarked(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (bool, error) {
	var ok bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM store_meta WHERE k = ? AND v = ?)
		AND NOT EXISTS (SELECT 1 FROM store_meta WHERE k = ?)`, searchMetaKey, searchVersion, searchMetaV1).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("search summary version: %w", err)
	}
	return ok, nil
}

// backfillSearch (re)builds search_blocks from the records of a store
// written before the search summary existed, or with an earlier
// version's keys (once; 10–15 s per million records), and marks the
// store as summarised with this version's.
func (s *store) backfillSearch(ctx context.Context) (err error) {
	done, err := searchMarked(ctx, s.conn)
	if err != nil || done {
		return err
	}
	if _, err := s.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = s.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			s.releaseSearch()
		}
	}()
	start := time.Now()
	if _, err := s.conn.ExecContext(ctx, "DELETE FROM search_blocks"); err != nil {
		return err
	}
	n, err := s.searchFrom(ctx, s.conn, 0)
	if err != nil {
		return fmt.Errorf("summarising the records for searches: %w", err)
	}
	if _, err := s.conn.ExecContext(ctx, `DELETE FROM store_meta WHERE k = ?`, searchMetaV1); err != nil {
		return err
	}
	if _, err := s.conn.ExecContext(ctx, `INSERT INTO store_meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`,
		searchMetaKey, searchVersion); err != nil {
		return err
	}
	if _, err := s.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	if n > 0 {
		s.opts.Logger.Info("audit: the search summary is rebuilt with this version's keys", "path", s.path,
			"records", n, "took", time.Since(start).Round(time.Millisecond).String())
	}
	return nil
}

// searchFrom adds the records whose rid is above after to search_blocks,
// a chunk at a time, on conn (in a transaction), and returns how many.
func (s *store) searchFrom(ctx context.Context, conn *sql.Conn, after int64) (int, error) {
	const chunk = 1 << 16
	n := 0
	recs := make([]audit.Record, 0, chunk)
	rids := make([]int64, 0, chunk)
	for {
		recs, rids = recs[:0], rids[:0]
		rows, err := conn.QueryContext(ctx, `SELECT rid, time_start, event, source_identity, source_workload, source_ip, host,
			path, service_entry, decision, reason, status
			FROM records WHERE rid > ? ORDER BY rid LIMIT ?`, after, chunk)
		if err != nil {
			return n, err
		}
		for rows.Next() {
			var r audit.Record
			var rid int64
			var ts string
			if err := rows.Scan(&rid, &ts, &r.Event, &r.SourceIdentity, &r.SourceWorkload, &r.SourceIP, &r.Host, &r.Path, &r.ServiceEntry, &r.Decision, &r.Reason, &r.Status); err != nil {
				_ = rows.Close()
				return n, err
			}
			if r.TimeStart, err = audit.ParseTime(ts); err != nil {
				_ = rows.Close()
				return n, fmt.Errorf("rid %d: time_start: %w", rid, err)
			}
			recs, rids = append(recs, r), append(rids, rid)
		}
		if err := rows.Close(); err != nil {
			return n, err
		}
		if err := rows.Err(); err != nil {
			return n, err
		}
		for i := range recs {
			s.addSearch(&recs[i], rids[i], searchWhole)
		}
		if err := s.writeSearch(ctx); err != nil {
			return n, err
		}
		n += len(recs)
		if len(recs) < chunk {
			return n, nil
		}
		after = rids[len(rids)-1]
	}
}

// searchKeys are the search keys of f when a search should read the
// summary: f has a field with keys, no id (its index finds the one
// record), and a limit (a page: an export reads every match anyway, and
// a search holds a page in memory).
func searchKeys(f *audit.Filter) []uint64 {
	if f.Limit <= 0 || f.ID != "" {
		return nil
	}
	return f.SearchKeys()
}

// search answers Query from the summary (see the top of this file), in
// one read transaction; false when the store has no summary (then the
// plain query answers).
func (s *store) search(ctx context.Context, db *sql.DB, f audit.Filter, keys []uint64, fn func(*audit.Record) error) (bool, error) {
	if err := f.Validate(); err != nil {
		return true, err
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return true, fmt.Errorf("%s: query: %w", s.label(), err)
	}
	defer func() { _ = tx.Rollback() }()
	if ok, err := searchMarked(ctx, tx); err != nil || !ok {
		// No summary (or no store_meta: not this version's store).
		return false, nil
	}
	pos := make([]byte, 0, len(keys)*searchHashes*4)
	for _, k := range keys {
		searchPositions(k, func(p uint32) { pos = binary.LittleEndian.AppendUint32(pos, p) })
	}
	var want [searchSigBytes]byte // the filter's signature
	for _, k := range keys {
		setSigBits(want[:], k)
	}
	q := `SELECT b, tmax, sigs FROM search_blocks WHERE ` + searchMatchFunc + `(bits, ?)`
	args := []any{pos}
	if !f.Since.IsZero() {
		q += ` AND tmax >= ?`
		args = append(args, audit.FormatTime(f.Since))
	}
	if !f.Until.IsZero() {
		q += ` AND tmin < ?`
		args = append(args, audit.FormatTime(f.Until))
	}
	if f.After != "" {
		q += ` AND tmin <= (SELECT time_start FROM records WHERE id = ?)`
		args = append(args, f.After)
	}
	type block struct {
		b    int64
		tmax string
	}
	// The candidate blocks, newest first. Few (a rare value), or many
	// and then the first few fill the page.
	rows, err := tx.QueryContext(ctx, q+` ORDER BY tmax DESC`, args...)
	if err != nil {
		return true, fmt.Errorf("%s: query: %w", s.label(), err)
	}
	var found []audit.Record
	var stamps []string // FormatTime of found's time_start
	var rids []int64
	sc := sqlplan.NewRecordScanner(s.rd.Dialect, s.rd.Columns)
	full := func() string { // the time_start of the page's last record once full
		if len(found) < f.Limit {
			return ""
		}
		return stamps[f.Limit-1]
	}
	// read adds the records of f among rids (nil: every rid) within
	// [lo, hi] to found.
	read := func(lo, hi int64, rids []int64) error {
		query, qargs := sqlplan.RangeQuerySQL(s.rd.Dialect, s.rd.Select, &f, lo, hi, rids)
		recs, err := tx.QueryContext(ctx, query, qargs...)
		if err != nil {
			return err
		}
		defer recs.Close()
		for recs.Next() {
			rec, err := sc.Scan(sqlplan.SQLRows{Rows: recs}, 0)
			if err != nil {
				return err
			}
			found = append(found, rec)
			stamps = append(stamps, audit.FormatTime(rec.TimeStart))
		}
		if err := recs.Err(); err != nil {
			return err
		}
		sortNewestFirst(found, stamps)
		if len(found) > f.Limit {
			found, stamps = found[:f.Limit], stamps[:f.Limit]
		}
		return nil
	}
	// The candidate rows of blocks with few are read together, up to
	// searchBatchRids in one query: each query costs ~0.5 ms to prepare
	// (modernc prepares per run), more than reading its rows when a
	// block has a candidate or two (values each common, rarely
	// together). Reading blocks later than their turn, or beyond the
	// stop, is harmless: the page is the newest of what was read, the
	// stop (a page full of records newer than every later block's) holds
	// with more records read, and what is pending is read before the
	// page is returned.
	var pend []int64
	flush := func() error {
		if len(pend) == 0 {
			return nil
		}
		lo, hi := slices.Min(pend), slices.Max(pend)
		err := read(lo, hi, pend)
		pend = pend[:0]
		return err
	}
	err = func() error {
		defer rows.Close()
		for rows.Next() {
			var bl block
			var sigs []byte
			if err := rows.Scan(&bl.b, &bl.tmax, &sigs); err != nil {
				return err
			}
			if last := full(); last != "" && last > bl.tmax {
				// Every record of this block and of those after it is
				// older than the page's last.
				return nil
			}
			// The block's records whose signature has every bit of the
			// filter's: the others cannot match.
			lo := bl.b << searchShift
			rids = rids[:0]
			for i := 0; i+searchSigBytes <= len(sigs); i += searchSigBytes {
				if covers(sigs[i:i+searchSigBytes], want[:]) {
					rids = append(rids, lo+int64(i/searchSigBytes))
				}
			}
			switch {
			case len(sigs) != searchBlockRows*searchSigBytes:
				// Not this version's: read the whole block.
				if err := read(lo, lo+searchBlockRows-1, nil); err != nil {
					return err
				}
			case len(rids) == 0:
			case len(pend)+len(rids) <= searchBatchRids:
				pend = append(pend, rids...)
			case len(rids) <= searchBatchRids:
				if err := flush(); err != nil {
					return err
				}
				pend = append(pend, rids...)
			default:
				if err := read(lo, lo+searchBlockRows-1, rids); err != nil {
					return err
				}
			}
		}
		return rows.Err()
	}()
	if err == nil {
		err = flush()
	}
	if err != nil {
		return true, fmt.Errorf("%s: query: %w", s.label(), err)
	}
	for i := range found {
		if err := fn(&found[i]); err != nil {
			return true, err
		}
	}
	return true, nil
}

// covers reports whether sig has every bit of want.
func covers(sig, want []byte) bool {
	for i := 0; i+8 <= len(want); i += 8 {
		w := binary.LittleEndian.Uint64(want[i:])
		if binary.LittleEndian.Uint64(sig[i:])&w != w {
			return false
		}
	}
	return true
}

// sortNewestFirst orders recs (and their time stamps) as the records
// queries do: time_start, then rid, descending.
func sortNewestFirst(recs []audit.Record, stamps []string) {
	idx := make([]int, len(recs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		if c := strings.Compare(stamps[b], stamps[a]); c != 0 {
			return c
		}
		ra, rb := recs[a].Row().ID, recs[b].Row().ID
		switch {
		case ra > rb:
			return -1
		case ra < rb:
			return 1
		}
		return 0
	})
	r2 := make([]audit.Record, len(recs))
	s2 := make([]string, len(recs))
	for i, j := range idx {
		r2[i], s2[i] = recs[j], stamps[j]
	}
	copy(recs, r2)
	copy(stamps, s2)
}
