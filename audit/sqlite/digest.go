package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/sqlplan"
	"modernc.org/sqlite"
)

// Verification reads every record of a log (audit/verify.go) to hash it.
// Read whole, a record costs ~20 µs of CPU here, most of it in fetching
// its 35 columns one by one from SQLite (each fetch takes the
// connection's mutex). So this store hashes them where they are: the SQL
// function sluice_leaf_hash takes a record's columns, in the record
// schema's order, reads them as a query of the record would (the same
// dialect), and returns the hash of its leaf (audit.LeafHash: the one
// encoding). A verification then fetches six columns per record
// (Digests), and a million records take seconds, not half a minute.

// leafHashFunc is the name of the SQL function.
const leafHashFunc = "sluice_leaf_hash"

// leafCols are the columns sluice_leaf_hash takes: the record schema.
var leafCols = audit.Schema()

var leafBufs = sync.Pool{New: func() any { return new([]byte) }}

func init() {
	sqlite.MustRegisterFunction(leafHashFunc, &sqlite.FunctionImpl{
		NArgs:         int32(len(leafCols)),
		Deterministic: true,
		VolatileArgs:  true, // read within the call only: the record is not kept
		Scalar:        leafHash,
	})
}

// leafHash is sluice_leaf_hash: the leaf hash of the record whose columns
// args are.
func leafHash(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	if len(args) != len(leafCols) {
		return nil, fmt.Errorf("%s: %d arguments, want %d", leafHashFunc, len(args), len(leafCols))
	}
	var r audit.Record
	for i := range leafCols {
		c := &leafCols[i]
		if err := assign(c.Type, args[i], c.Field(&r)); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", leafHashFunc, c.Name, err)
		}
	}
	buf := leafBufs.Get().(*[]byte)
	h, b := audit.LeafHash(&r, *buf)
	*buf = b
	leafBufs.Put(buf)
	return h[:], nil
}

// digestsSQL selects the digests of a gateway's records (?1) whose rid is
// above ?2, in rid order, at most ?3; sel is the columns of the record
// schema as the records view has them.
func digestsSQL(sel string) string {
	return `SELECT rid, id, seq, time_start, time_end IS NULL, ` + leafHashFunc + `(` + sel + `)
		FROM records WHERE gateway = ?1 AND rid > ?2 ORDER BY rid LIMIT ?3`
}

// digestSelect is the record schema's columns as the records view has
// them (view: its columns when not migrated, else nil).
func digestSelect(view map[string]bool) string {
	return strings.TrimSuffix(sqlplan.Select(dialect{}, leafCols, view), ", rid")
}

// digests is audit.DigestReader on a snapshot's connection.
type digests struct {
	*sqlplan.LogSnapshot
	query string
}

// Digests implements audit.DigestReader.
func (d *digests) Digests(ctx context.Context, gateway string, after int64, limit int) ([]audit.RecordDigest, error) {
	rows, err := d.Q(ctx, d.query, gateway, after, int64(limit))
	if err != nil {
		return nil, fmt.Errorf("%s: digests: %w", d.Reader.Label, err)
	}
	defer rows.Close()
	out := make([]audit.RecordDigest, 0, min(limit, 4096))
	for rows.Next() {
		var dg audit.RecordDigest
		var seq int64
		var start string
		var hash []byte
		if err := rows.Scan(&dg.Rid, &dg.ID, &seq, &start, &dg.Open, &hash); err != nil {
			return nil, fmt.Errorf("%s: digests: %w", d.Reader.Label, err)
		}
		dg.Seq = uint64(seq)
		if dg.TimeStart, err = audit.ParseTime(start); err != nil {
			dg.TimeStart = time.Time{}
		}
		copy(dg.LeafHash[:], hash)
		out = append(out, dg)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: digests: %w", d.Reader.Label, err)
	}
	return out, nil
}
