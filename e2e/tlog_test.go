package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pgtest"
	"golang.org/x/mod/sumdb/note"
)

// Tamper evidence (audit/README.md, "Tamper evidence"): every record is a
// leaf of its gateway's transparency log, checkpoints of it are signed and
// copied out of the store, and `sluice audit verify` names any record
// altered, deleted, inserted or reordered behind the gateway's back.

// logKeys are a checkpoint key pair written by `sluice audit keygen`.
type logKeys struct{ private, public string }

func keygen(t *testing.T) logKeys {
	t.Helper()
	dir := t.TempDir()
	k := logKeys{private: filepath.Join(dir, "audit.key"), public: filepath.Join(dir, "audit.key.pub")}
	if out, code := RunSluice(t, dir, "audit", "keygen", "--out", k.private); code != 0 {
		t.Fatalf("sluice audit keygen: exit %d\n%s", code, out)
	}
	return k
}

// tlogConfig is the audit config of a gateway that signs checkpoints every
// second and copies them to ckptFile (store: "" for the default SQLite).
func tlogConfig(store string, k logKeys, ckptFile, extra string) string {
	s := fmt.Sprintf("audit: {checkpoint_key: %q, checkpoint_interval: 1s, checkpoint_file: %q", k.private, ckptFile)
	if store != "" {
		s += fmt.Sprintf(", store: %q", store)
	}
	if extra != "" {
		s += ", " + extra
	}
	return s + "}\n"
}

// makeCalls sends n calls through g to api.test.example (answered 200)
// and one to an undeclared host (refused 403).
func makeCalls(t *testing.T, g *Gateway, n int) {
	t.Helper()
	for i := range n {
		if status, _, serr, _ := curl(t, "-x", "http://"+g.Proxy, fmt.Sprintf("http://api.test.example/call/%d", i)); status != 200 {
			t.Fatalf("call %d: %d %s", i, status, serr)
		}
	}
	if status, _, _, _ := curl(t, "-x", "http://"+g.Proxy, "http://undeclared.test.example/"); status != 403 {
		t.Fatalf("undeclared host: %d", status)
	}
}

// checkpointSize is the size of the log that /v1/audit/checkpoint signs
// (-1 for none).
func checkpointSize(g *Gateway) int {
	code, body := g.AdminGet("/v1/audit/checkpoint")
	if code != 200 {
		return -1
	}
	lines := strings.Split(string(body), "\n")
	if len(lines) < 3 {
		return -1
	}
	n, _ := strconv.Atoi(lines[1])
	return n
}

// verify runs `sluice audit verify args…` and returns its output and
// exit code.
func verify(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	return RunSluice(t, dir, append([]string{"audit", "verify"}, args...)...)
}

// wantIntact fails unless verify says every log is intact.
func wantIntact(t *testing.T, out string, code int) {
	t.Helper()
	if code != 0 || !strings.Contains(out, ": INTACT:") || strings.Contains(out, "NOT INTACT") {
		t.Fatalf("verify: exit %d, want 0 (intact)\n%s", code, out)
	}
}

// wantFound fails unless verify exits 1 and names each of what (a finding
// kind with the record's seq and id).
func wantFound(t *testing.T, out string, code int, what ...string) {
	t.Helper()
	if code != 1 || !strings.Contains(out, "NOT INTACT") {
		t.Fatalf("verify: exit %d, want 1 (not intact)\n%s", code, out)
	}
	for _, w := range what {
		if !strings.Contains(out, w) {
			t.Errorf("verify does not say %q:\n%s", w, out)
		}
	}
}

// seqIDs maps each record's seq to its id, from `sluice audit query`.
func seqIDs(t *testing.T, g *Gateway, store string) map[int]string {
	t.Helper()
	recs, _ := queryRecords(t, g, "--store", store)
	out := map[int]string{}
	for _, r := range recs {
		out[int(r.num("seq"))] = r.str("id")
	}
	return out
}

// The verifier independent of Sluice (tools/tlogverify), built once.
var tlogverify struct {
	once sync.Once
	path string
	err  error
}

func tlogVerifier(t *testing.T) string {
	t.Helper()
	tlogverify.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		dir, err := os.MkdirTemp("", "tlogverify")
		if err != nil {
			tlogverify.err = err
			return
		}
		tlogverify.path = filepath.Join(dir, "tlogverify")
		// It must not use Sluice's code: only x/mod/sumdb's note and tlog.
		deps, err := exec.Command("go", "list", "-C", root, "-deps", "./tools/tlogverify").CombinedOutput()
		if err != nil {
			tlogverify.err = fmt.Errorf("go list: %v\n%s", err, deps)
			return
		}
		for _, d := range strings.Fields(string(deps)) {
			if strings.Contains(d, "sluicehq") && d != "github.com/sluicehq/sluice/tools/tlogverify" {
				tlogverify.err = fmt.Errorf("tools/tlogverify imports %s", d)
				return
			}
		}
		cmd := exec.Command("go", "build", "-o", tlogverify.path, "./tools/tlogverify")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			tlogverify.err = fmt.Errorf("building tools/tlogverify: %v\n%s", err, out)
		}
	})
	if tlogverify.err != nil {
		t.Fatal(tlogverify.err)
	}
	return tlogverify.path
}

// runTlogverify runs the independent verifier.
func runTlogverify(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(tlogVerifier(t), args...)
	cmd.Env = append(os.Environ(), noProxyEnv...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// With SQLite: an intact store verifies, and each of a byte changed in
// one record's field, a record deleted and two records' seqs swapped with
// sqlite3 is named by id and seq, with exit status 1. The gateway's
// checkpoints verify with the independent verifier, with an inclusion
// proof of a record and consistency proofs between them; a checkpoint
// signed by another key is rejected by both.
func TestVerifyFindsTamperingInSQLite(t *testing.T) {
	k := keygen(t)
	ckpts := filepath.Join(t.TempDir(), "worm", "checkpoints")
	up := startUpstream(t)
	g := StartGateway(t, Options{Config: tlogConfig("", k, ckpts, ""),
		Files: map[string]string{"registry/api.yaml": staticSE("api", "api.test.example", 80, "HTTP", up.Port)}})
	makeCalls(t, g, 6)
	Eventually(t, 10*time.Second, "a checkpoint of the first 7 records", func() bool { return checkpointSize(g) == 7 })
	makeCalls(t, g, 5)
	Eventually(t, 10*time.Second, "a checkpoint of all 13 records", func() bool { return checkpointSize(g) == 13 })

	// The independent verifier: the checkpoints, consistent with each
	// other through the gateway's proofs, and a record's inclusion proof.
	out, code := runTlogverify(t, "-key", k.public, "-origin", "e2e-gw", "-server", g.Admin, ckpts)
	if code != 0 || !strings.Contains(out, "13 records") || !strings.Contains(out, "consistent with the checkpoint of 7 records") {
		t.Fatalf("tlogverify: exit %d\n%s", code, out)
	}
	store := "sqlite://" + filepath.Join(g.Dir, "audit.db")
	ids := seqIDs(t, g, store)
	code2, proof := g.AdminGet("/v1/audit/proof?id=" + ids[4])
	if code2 != 200 {
		t.Fatalf("/v1/audit/proof: %d %s", code2, proof)
	}
	proofFile := filepath.Join(t.TempDir(), "proof.json")
	WriteFile(t, proofFile, string(proof))
	if out, code := runTlogverify(t, "-key", k.public, "-inclusion", proofFile); code != 0 ||
		!strings.Contains(out, "record "+ids[4]+" (seq 4) is leaf") {
		t.Fatalf("tlogverify -inclusion: exit %d\n%s", code, out)
	}
	// `sluice audit query --proof` gives the same proof.
	qout, qcode := g.Run("audit", "query", "--store", store, "--id", ids[4], "--proof")
	if qcode != 0 {
		t.Fatalf("query --proof: exit %d\n%s", qcode, qout)
	}
	WriteFile(t, proofFile, strings.TrimSpace(qout))
	if out, code := runTlogverify(t, "-key", k.public, "-inclusion", proofFile); code != 0 {
		t.Fatalf("tlogverify -inclusion of query --proof: exit %d\n%s", code, out)
	}
	g.Stop() // the last checkpoint, at shutdown

	out, code = verify(t, g.Dir, "--store", store, "--key", k.public, "--checkpoint", ckpts)
	wantIntact(t, out, code)
	// The 13 records, and the reads of proofs since (tlogverify's
	// consistency proofs, the inclusion proof): each an audit_read record,
	// logged too.
	if m := regexp.MustCompile(`(\d+) records logged \((\d+) checked`).FindStringSubmatch(out); m == nil || m[1] != m[2] || func() bool { n, _ := strconv.Atoi(m[1]); return n < 15 }() {
		t.Errorf("verify:\n%s", out)
	}

	tamper := func(stmt string) string {
		b, err := os.ReadFile(filepath.Join(g.Dir, "audit.db"))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "audit.db")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, serr, code := RunCmd(t, "sqlite3", p, stmt); code != 0 {
			t.Fatalf("sqlite3 %s: %s", stmt, serr)
		}
		return "sqlite://" + p
	}
	// One byte of one record's field: the third byte of its path.
	s := tamper(fmt.Sprintf(`UPDATE decisions SET path = substr(path, 1, 2) || 'X' || substr(path, 4) WHERE id = '%s'`, ids[5]))
	out, code = verify(t, g.Dir, "--store", s, "--key", k.public, "--checkpoint", ckpts)
	wantFound(t, out, code, "ALTERED leaf", "seq 5 id "+ids[5])
	// One record deleted.
	s = tamper(fmt.Sprintf(`DELETE FROM decisions WHERE id = '%s'`, ids[9]))
	out, code = verify(t, g.Dir, "--store", s, "--key", k.public, "--checkpoint", ckpts)
	wantFound(t, out, code, "DELETED leaf", "seq 9 id "+ids[9])
	// Two records' seqs swapped.
	s = tamper(`UPDATE decisions SET seq = CASE seq WHEN 2 THEN 3 ELSE 2 END WHERE seq IN (2, 3)`)
	out, code = verify(t, g.Dir, "--store", s, "--key", k.public, "--checkpoint", ckpts)
	wantFound(t, out, code, "REORDERED", "seq 3 id "+ids[2], "seq 2 id "+ids[3])

	// A checkpoint signed by another key (of the same name) is forged.
	forged := forgeCheckpoint(t, ckpts, "e2e-gw", 13)
	out, code = verify(t, g.Dir, "--store", store, "--key", k.public, "--checkpoint", forged)
	wantFound(t, out, code, "CHECKPOINT_FORGED", "not signed by a known key")
	if out, code := runTlogverify(t, "-key", k.public, forged); code != 1 || !strings.Contains(out, "FAIL") {
		t.Errorf("tlogverify accepted a forged checkpoint: exit %d\n%s", code, out)
	}
}

// forgeCheckpoint copies the checkpoint file at path and appends a
// checkpoint of origin at size, with a made-up root, signed by a new key
// named as Sluice's are; it returns the copy.
func forgeCheckpoint(t *testing.T, path, origin string, size int) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	skey, _, err := note.GenerateKey(nil, "sluice-audit")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	msg, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n%d\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", origin, size)}, signer)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "checkpoints")
	WriteFile(t, p, string(b)+string(msg)+"\n")
	return p
}

// The same with psql on the PostgreSQL store: each replica keeps its own
// log, its gateway id the origin; a field changed, a record deleted and
// two seqs swapped are named, and once each is undone the log is intact
// again.
func TestVerifyFindsTamperingInPostgreSQL(t *testing.T) {
	srv := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := srv.NewDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k := keygen(t)
	dir := t.TempDir()
	up := startUpstream(t)
	files := map[string]string{"registry/api.yaml": staticSE("api", "api.test.example", 80, "HTTP", up.Port)}
	a := StartGateway(t, Options{Config: tlogConfig(db, k, filepath.Join(dir, "a"), ""), Files: files, Env: []string{"SLUICE_GATEWAY_ID=replica-a"}})
	b := StartGateway(t, Options{Config: tlogConfig(db, k, filepath.Join(dir, "b"), ""), Files: files, Env: []string{"SLUICE_GATEWAY_ID=replica-b"}})
	makeCalls(t, a, 5)
	makeCalls(t, b, 4)
	a.Stop()
	b.Stop()
	ckpts := []string{"--checkpoint", filepath.Join(dir, "a"), "--checkpoint", filepath.Join(dir, "b")}
	out, code := verify(t, dir, append([]string{"--store", db, "--key", k.public}, ckpts...)...)
	wantIntact(t, out, code)
	if !strings.Contains(out, `log "replica-a": INTACT: 6 records`) || !strings.Contains(out, `log "replica-b": INTACT: 5 records`) {
		t.Fatalf("verify:\n%s", out)
	}
	// Each replica's checkpoints name its own log.
	for _, r := range []string{"a", "b"} {
		if out, code := runTlogverify(t, "-key", k.public, "-origin", "replica-"+r, filepath.Join(dir, r)); code != 0 {
			t.Fatalf("tlogverify replica-%s: exit %d\n%s", r, code, out)
		}
	}
	recs, _ := queryRecords(t, a, "--store", db)
	id := map[string]string{}
	for _, r := range recs {
		id[fmt.Sprintf("%s/%d", r.str("gateway"), int(r.num("seq")))] = r.str("id")
	}
	psql := func(stmt string) {
		t.Helper()
		if _, serr, code := RunCmd(t, "psql", db, "-v", "ON_ERROR_STOP=1", "-qc", stmt); code != 0 {
			t.Fatalf("psql %s: %s", stmt, serr)
		}
	}
	check := func(what ...string) {
		t.Helper()
		out, code := verify(t, dir, append([]string{"--store", db, "--key", k.public}, ckpts...)...)
		if len(what) == 0 {
			wantIntact(t, out, code)
			return
		}
		wantFound(t, out, code, what...)
		if !strings.Contains(out, `log "replica-b": INTACT`) {
			t.Errorf("the other replica's log is not intact:\n%s", out)
		}
	}
	// One byte of a field.
	victim := id["replica-a/3"]
	psql(fmt.Sprintf(`UPDATE decisions SET path = overlay(path placing 'X' from 3 for 1) WHERE id = '%s'`, victim))
	check("ALTERED leaf", "seq 3 id "+victim)
	psql(fmt.Sprintf(`UPDATE decisions SET path = '/call/2' WHERE id = '%s'`, victim))
	check()
	// One record deleted (and put back).
	victim = id["replica-a/4"]
	psql(fmt.Sprintf(`CREATE TABLE saved AS SELECT * FROM decisions WHERE id = '%s'; DELETE FROM decisions WHERE id = '%s'`, victim, victim))
	check("DELETED leaf", "seq 4 id "+victim)
	psql(`INSERT INTO decisions OVERRIDING SYSTEM VALUE SELECT * FROM saved; DROP TABLE saved`)
	check()
	// Two seqs swapped (and back).
	swap := `UPDATE decisions SET seq = CASE seq WHEN 1 THEN 2 ELSE 1 END WHERE gateway = 'replica-a' AND seq IN (1, 2)`
	psql(swap)
	check("REORDERED", "seq 2 id "+id["replica-a/1"], "seq 1 id "+id["replica-a/2"])
	psql(swap)
	check()
}

// Retention prunes old records and keeps their leaves: the log still
// verifies against every checkpoint, the old ones included.
func TestVerifyAfterRetentionPrune(t *testing.T) {
	k := keygen(t)
	ckpts := filepath.Join(t.TempDir(), "checkpoints")
	up := startUpstream(t)
	g := StartGateway(t, Options{Config: tlogConfig("", k, ckpts, "retention: 2s"),
		Files: map[string]string{"registry/api.yaml": staticSE("api", "api.test.example", 80, "HTTP", up.Port)}})
	makeCalls(t, g, 5)
	g.Stop()
	time.Sleep(2500 * time.Millisecond)
	g.Restart() // retention runs at start: every record so far is older than 2s
	store := "sqlite://" + filepath.Join(g.Dir, "audit.db")
	Eventually(t, 10*time.Second, "retention to prune the first records", func() bool {
		recs, _ := queryRecords(t, g, "--store", store)
		return len(recs) == 0
	})
	makeCalls(t, g, 3)
	g.Stop()
	out, code := verify(t, g.Dir, "--store", store, "--key", k.public, "--checkpoint", ckpts)
	wantIntact(t, out, code)
	if !strings.Contains(out, "10 records logged (4 checked, 6 pruned by retention)") {
		t.Errorf("verify:\n%s", out)
	}
	// A pruned record deleted by hand looks no different; one retention
	// did not prune does.
	s := filepath.Join(t.TempDir(), "audit.db")
	b, _ := os.ReadFile(filepath.Join(g.Dir, "audit.db"))
	WriteFile(t, s, string(b))
	if _, serr, code := RunCmd(t, "sqlite3", s, `DELETE FROM decisions WHERE seq = 8`); code != 0 {
		t.Fatal(serr)
	}
	out, code = verify(t, g.Dir, "--store", "sqlite://"+s, "--key", k.public, "--checkpoint", ckpts)
	wantFound(t, out, code, "DELETED leaf", "seq 8 id ")
}

// kill -9 under load, then a restart: the records written, replayed from
// the spool and closed as gateway_restart all verify against every
// checkpoint signed before and after the crash.
func TestVerifyAfterKill9(t *testing.T) {
	k := keygen(t)
	ckpts := filepath.Join(t.TempDir(), "checkpoints")
	run := crashUnderLoad(t, crashOpts{config: tlogConfig("", k, ckpts, ""), beforeKill: func(g *Gateway) {
		Eventually(t, 10*time.Second, "a checkpoint under load", func() bool { return checkpointSize(g) > 0 })
	}})
	before := countCheckpoints(t, ckpts)
	if before == 0 {
		t.Fatal("no checkpoint before the crash")
	}
	run.g.Restart()
	Eventually(t, 10*time.Second, "a checkpoint after the restart", func() bool { return checkpointSize(run.g) > 0 })
	run.g.Stop()
	store := "sqlite://" + filepath.Join(run.g.Dir, "audit.db")
	out, code := verify(t, run.g.Dir, "--store", store, "--key", k.public, "--checkpoint", ckpts)
	wantIntact(t, out, code)
	if n := countCheckpoints(t, ckpts); n <= before {
		t.Errorf("%d checkpoints after the restart, %d before", n, before)
	}
	if out, code := runTlogverify(t, "-key", k.public, "-origin", "e2e-gw", ckpts); code != 0 {
		t.Fatalf("tlogverify: exit %d\n%s", code, out)
	}
	m := regexp.MustCompile(`(\d+) records logged \((\d+) checked`).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] {
		t.Errorf("every record logged is checked:\n%s", out)
	}
	t.Logf("%s", out)
}

func countCheckpoints(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n— ")
}
