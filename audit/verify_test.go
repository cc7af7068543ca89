package audit_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/storetest"
	"github.com/sluicehq/sluice/audit/tlog"
	"github.com/sluicehq/sluice/internal/config"
	"golang.org/x/mod/sumdb/note"
)

// logged is a gateway's store with records, checkpoints signed by a key,
// and the copy of the checkpoints in a file.
type logged struct {
	dir, db, ckptFile string
	verifier          note.Verifier
	ids               []string // the records, by seq
}

// writeLogged runs an Auditor with checkpoints over n calls (every fifth
// a whole record) and closes it (its last checkpoint covers them all).
func writeLogged(t *testing.T, n int, mod func(*audit.Options)) *logged {
	t.Helper()
	dir := t.TempDir()
	skey, vkey, err := tlog.GenerateKey("test-key")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "audit.key")
	if err := os.WriteFile(keyFile, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v, _ := note.NewVerifier(vkey)
	l := &logged{dir: dir, db: filepath.Join(dir, "audit.db"), ckptFile: filepath.Join(dir, "worm", "checkpoints"), verifier: v}
	a := openSpooled(t, l.db, func(o *audit.Options) {
		o.Config.CheckpointKey = keyFile
		o.Config.CheckpointFile = l.ckptFile
		o.Config.CheckpointInterval = config.Duration(time.Hour)
		o.IngestDelay = time.Millisecond
		if mod != nil {
			mod(o)
		}
	})
	ctx := context.Background()
	for i := range n {
		r := storetest.Sample(i)
		r.TimeStart = time.Time{}
		if i%5 == 4 {
			r.TimeEnd = time.Time{}
			if err := a.Complete(ctx, r); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := a.Begin(ctx, r); err != nil {
				t.Fatal(err)
			}
			r.Status = 200
			a.End(r)
		}
		l.ids = append(l.ids, r.ID)
		if i == n/2 {
			// A checkpoint halfway: the log is checked at more than one size.
			if err := a.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if err := a.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return l
}

// copyDB copies the store (closed: one file) for one tampering.
func (l *logged) copyDB(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(l.db)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "audit.db")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func execSQL(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// verify verifies the store at path, with the file of checkpoints when
// external.
func (l *logged) verify(t *testing.T, path string, external bool, vs ...note.Verifier) audit.LogVerification {
	t.Helper()
	ctx := context.Background()
	s, err := testStores.Open(ctx, "sqlite://"+path, audit.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if vs == nil {
		vs = []note.Verifier{l.verifier}
	}
	opts := audit.VerifyOptions{Verifiers: tlog.Verifiers(vs...)}
	if external {
		b, err := os.ReadFile(l.ckptFile)
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range tlog.SplitNotes(b) {
			opts.Checkpoints = append(opts.Checkpoints, audit.ExternalCheckpoint{Source: fmt.Sprintf("file#%d", i+1), Note: n})
		}
	}
	res, err := audit.VerifyLogs(ctx, s.(audit.LogStore), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Gateway != "gw-1" {
		t.Fatalf("verifications: %+v", res)
	}
	return res[0]
}

// kinds lists "kind seq" of each finding.
func kinds(v audit.LogVerification) []string {
	var out []string
	for _, f := range v.Findings {
		out = append(out, fmt.Sprintf("%s %d", f.Kind, f.Seq))
	}
	return out
}

func TestVerifyIntact(t *testing.T) {
	l := writeLogged(t, 40, nil)
	v := l.verify(t, l.db, true)
	if !v.Intact() || v.Size != 40 || v.Checked != 40 || v.Latest == nil || v.Latest.Size != 40 || v.Checkpoints != 2 {
		t.Fatalf("intact log: %+v", v)
	}
	// The file holds both checkpoints, signed, of gateway gw-1.
	b, _ := os.ReadFile(l.ckptFile)
	notes := tlog.SplitNotes(b)
	if len(notes) != 2 {
		t.Fatalf("checkpoint file: %q", b)
	}
	for _, n := range notes {
		c, _, err := tlog.Open(n, tlog.Verifiers(l.verifier))
		if err != nil || c.Origin != "gw-1" {
			t.Errorf("checkpoint %q: %+v, %v", n, c, err)
		}
	}
}

// Each way of tampering with the records or the log is found and names
// the records concerned.
func TestVerifyFindsTampering(t *testing.T) {
	l := writeLogged(t, 40, nil)
	seqOf := func(id string) uint64 { return uint64(slices.Index(l.ids, id) + 1) }
	id := func(seq int) string { return l.ids[seq-1] }
	for _, tc := range []struct {
		name     string
		stmts    []string
		external bool
		want     []string // "kind seq", in order
	}{
		{"one byte of a decision", []string{fmt.Sprintf(`UPDATE decisions SET host = 'api7.example.con' WHERE id = '%s'`, id(8))}, false,
			[]string{"altered 8"}},
		{"an outcome", []string{fmt.Sprintf(`UPDATE outcomes SET status = 500 WHERE rid = (SELECT rid FROM decisions WHERE id = '%s')`, id(12))}, false,
			[]string{"altered 12"}},
		{"a record deleted", []string{fmt.Sprintf(`DELETE FROM decisions WHERE id = '%s'`, id(3))}, false,
			[]string{"deleted 3"}},
		{"two seqs swapped", []string{
			fmt.Sprintf(`UPDATE decisions SET seq = -1 WHERE id = '%s'`, id(20)),
			fmt.Sprintf(`UPDATE decisions SET seq = 20 WHERE id = '%s'`, id(21)),
			`UPDATE decisions SET seq = 21 WHERE seq = -1`}, false,
			[]string{"reordered 21", "reordered 20"}},
		{"a record inserted", []string{
			`INSERT INTO decisions SELECT rid + 1000, 'forged-id', 99, ` + cols("decisions", 3) + ` FROM decisions WHERE seq = 5`,
			`INSERT INTO outcomes (rid, log_leaf, ` + cols("outcomes", 1) + `) SELECT rid + 1000, log_leaf, ` + cols("outcomes", 1) +
				` FROM outcomes WHERE rid = (SELECT rid FROM decisions WHERE seq = 5)`}, false,
			[]string{"inserted 99"}},
		{"records and their leaves deleted", []string{
			// The block of record 3's leaf, and the records it holds (not
			// the last block: writeLogged's halfway checkpoint ingested
			// the first half before the second).
			fmt.Sprintf(`CREATE TEMP TABLE b AS SELECT k, n FROM log_blocks WHERE k <= (SELECT o.log_leaf FROM outcomes o JOIN decisions d
				ON d.rid = o.rid WHERE d.id = '%s') ORDER BY k DESC LIMIT 1`, id(3)),
			`DELETE FROM decisions WHERE rid IN (SELECT rid FROM outcomes, b WHERE log_leaf >= b.k AND log_leaf < b.k + b.n)`,
			`DELETE FROM log_blocks WHERE k IN (SELECT k FROM b)`}, false,
			[]string{"leaf_missing 0"}},
		{"the last records and their leaves deleted", []string{
			`DELETE FROM decisions WHERE rid IN (SELECT rid FROM outcomes WHERE log_leaf >= (SELECT max(k) FROM log_blocks))`,
			`DELETE FROM log_blocks WHERE k = (SELECT max(k) FROM log_blocks)`}, false,
			[]string{"truncated 0"}},
		{"a record and its leaf hash rewritten", []string{
			fmt.Sprintf(`UPDATE decisions SET host = 'evil.example' WHERE id = '%s'`, id(25))}, false, nil}, // filled in below
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := l.copyDB(t)
			execSQL(t, p, tc.stmts...)
			want := tc.want
			if want == nil {
				// Rewrite the leaf hash to match the altered record: the
				// record passes against its leaf, the rows' other hashes
				// and the signed checkpoint do not.
				rewriteLeaf(t, p, id(25))
				want = []string{"log_damaged 0", "checkpoint_mismatch 0"}
			}
			v := l.verify(t, p, tc.external)
			if v.Intact() || !slices.Equal(kinds(v), want) {
				t.Fatalf("findings %v, want %v:\n%+v", kinds(v), want, v.Findings)
			}
			if tc.want == nil && v.Findings[0].Leaf != 24 {
				t.Errorf("the rewritten leaf hash is placed at leaf %d, want 24 (seq 25)", v.Findings[0].Leaf)
			}
			for _, f := range v.Findings {
				if f.ID != "" && f.Kind != audit.FindInserted && seqOf(f.ID) != f.Seq && f.Kind != audit.FindReordered {
					t.Errorf("finding names %s as seq %d", f.ID, f.Seq)
				}
			}
		})
	}
}

// cols lists the columns of table after the first skip (for INSERT …
// SELECT copies of a row).
func cols(table string, skip int) string {
	var names []string
	for _, c := range audit.Schema() {
		in := c.Part.InDecision()
		if table == "outcomes" {
			in = c.Part.InOutcome()
		}
		if in {
			names = append(names, c.Name)
		}
	}
	return strings.Join(names[skip-1:], ", ")
}

// rewriteLeaf sets the stored leaf hash of record id to what the record
// now hashes to, in the block of the log that holds it.
func rewriteLeaf(t *testing.T, path, id string) {
	t.Helper()
	ctx := context.Background()
	s, err := testStores.Open(ctx, "sqlite://"+path, audit.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := audit.QueryAll(ctx, s, audit.Filter{ID: id})
	if err != nil || len(recs) != 1 {
		t.Fatalf("%v %v", recs, err)
	}
	lr, err := s.(audit.LogStore).LogSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leaf, ok, err := lr.LeafOf(ctx, id)
	lr.Close()
	s.Close()
	if err != nil || !ok {
		t.Fatalf("leaf of %s: %v %v", id, ok, err)
	}
	old := leaf.Hash()
	h, _ := audit.LeafHash(&recs[0], nil)
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var k int64
	var data []byte
	if err := db.QueryRow(`SELECT k, data FROM log_blocks WHERE instr(data, ?) > 0`, old[:]).Scan(&k, &data); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE log_blocks SET data = ? WHERE k = ?`, bytes.Replace(data, old[:], h[:], 1), k); err != nil {
		t.Fatal(err)
	}
}

// Checkpoints signed by another key, or altered, are forged.
func TestVerifyRejectsForgedCheckpoints(t *testing.T) {
	l := writeLogged(t, 10, nil)
	// A checkpoint of the same log, signed by another key of the same name.
	skey, _, _ := tlog.GenerateKey("test-key")
	signer, _ := note.NewSigner(skey)
	msg, err := tlog.Sign(tlog.Checkpoint{Origin: "gw-1", Size: 10, Root: tlog.Hash{1}}, signer)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(l.ckptFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write(append(msg, '\n'))
	f.Close()
	v := l.verify(t, l.db, true)
	if v.Intact() || !slices.Equal(kinds(v), []string{"checkpoint_forged 0"}) {
		t.Fatalf("findings: %v", v.Findings)
	}
	// A stored checkpoint whose text was altered.
	p := l.copyDB(t)
	execSQL(t, p, `UPDATE log_checkpoints SET note = replace(note, char(10) || '10' || char(10), char(10) || '9' || char(10))`)
	v = l.verify(t, p, false)
	if v.Intact() || !slices.Equal(kinds(v), []string{"checkpoint_forged 0"}) {
		t.Fatalf("findings: %v", v.Findings)
	}
	// Without the right key, no checkpoint verifies.
	_, vkey2, _ := tlog.GenerateKey("other")
	other, _ := note.NewVerifier(vkey2)
	if v := l.verify(t, l.db, false, other); v.Intact() {
		t.Fatalf("verified with another key: %+v", v)
	}
}

// Retention deletes records and keeps their leaves: the log still
// verifies, and proofs of the records left still check.
func TestVerifyAfterPrune(t *testing.T) {
	l := writeLogged(t, 30, nil)
	// A later start whose retention is past every record but the last 10.
	ctx := context.Background()
	s, _ := testStores.Open(ctx, "sqlite://"+l.db, audit.StoreOptions{ReadOnly: true})
	recs, _ := audit.QueryAll(ctx, s, audit.Filter{})
	s.Close()
	cut := recs[9].TimeStart // newest first: the 10 newest stay, and any started in the same millisecond
	keep := 0
	for _, r := range recs {
		if !r.TimeStart.Before(cut) {
			keep++
		}
	}
	a := openSpooled(t, l.db, func(o *audit.Options) {
		o.Config.CheckpointKey = filepath.Join(l.dir, "audit.key")
		o.Config.CheckpointFile = l.ckptFile
		o.Config.CheckpointInterval = config.Duration(time.Hour)
		o.Config.Retention = config.Duration(time.Hour)
		o.Now = func() time.Time { return cut.Add(time.Hour) }
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, _ := testStores.Open(ctx, "sqlite://"+l.db, audit.StoreOptions{ReadOnly: true})
		recs, _ := audit.QueryAll(ctx, s, audit.Filter{})
		s.Close()
		if len(recs) == keep {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records after retention", len(recs))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	v := l.verify(t, l.db, true)
	if !v.Intact() || v.Pruned != int64(30-keep) || v.Checked != int64(keep) || v.Size != 30 {
		t.Fatalf("after prune: %+v", v)
	}
	// A proof of a record left, against the latest checkpoint.
	s, _ = testStores.Open(ctx, "sqlite://"+l.db, audit.StoreOptions{ReadOnly: true})
	defer s.Close()
	lr, err := s.(audit.LogStore).LogSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	p, err := audit.ProveRecord(ctx, lr, l.ids[25], 0)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := tlog.Open([]byte(p.Checkpoint), tlog.Verifiers(l.verifier))
	if err != nil || c.Size != p.TreeSize || c.Root != p.Root || !p.Intact {
		t.Fatalf("proof %+v: checkpoint %+v, %v", p, c, err)
	}
	if err := tlog.CheckInclusion(p.Proof, p.TreeSize, c.Root, p.Leaf, tlog.LeafHash(p.LeafData)); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.ProveRecord(ctx, lr, l.ids[3], 0); !errors.Is(err, audit.ErrNotLogged) {
		t.Fatalf("a proof of a pruned record: %v", err)
	}
	cp, err := audit.ProveLog(ctx, lr, "gw-1", 16, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckConsistency(cp.Proof, cp.To, cp.ToRoot, cp.From, cp.FromRoot); err != nil || cp.To != 30 {
		t.Fatalf("consistency %+v: %v", cp, err)
	}
}

// Checkpoints go to audit.checkpoint_url as well, every interval while
// the log grows.
func TestCheckpointsPostedEveryInterval(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	skey, vkey, _ := tlog.GenerateKey("k")
	key := filepath.Join(dir, "k")
	_ = os.WriteFile(key, []byte(skey), 0o600)
	v, _ := note.NewVerifier(vkey)
	a := openSpooled(t, filepath.Join(dir, "audit.db"), func(o *audit.Options) {
		o.Config.CheckpointKey, o.Config.CheckpointURL = key, srv.URL
		o.Config.CheckpointInterval = config.Duration(20 * time.Millisecond)
		o.IngestDelay = time.Millisecond
	})
	ctx := context.Background()
	for i := range 3 {
		if err := a.Complete(ctx, storetest.Sample(i)); err != nil {
			t.Fatal(err)
		}
		want := int64(i + 1)
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			var last string
			if len(got) > 0 {
				last = got[len(got)-1]
			}
			mu.Unlock()
			if c, _, err := tlog.Open([]byte(last), tlog.Verifiers(v)); err == nil && c.Size == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no checkpoint of %d records posted: %q", want, got)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Errorf("%d checkpoints posted for 3 sizes (one per size)", len(got))
	}
}
