// Command tlogverify checks what a Sluice gateway publishes about its audit
// log with nothing of Sluice: only golang.org/x/mod/sumdb/note (C2SP
// signed notes, Ed25519) and golang.org/x/mod/sumdb/tlog (RFC 6962
// proofs), and the public formats (C2SP tlog-checkpoint, the leaf encoding
// of audit/README.md). It is the independent verifier the e2e tests run,
// and one an auditor can read in a sitting and run themselves.
//
//	tlogverify -key FILE.pub [-origin GATEWAY] [-server URL] [CHECKPOINTS...]
//	tlogverify -key FILE.pub -inclusion PROOF.json
//
// Each file of CHECKPOINTS holds signed checkpoints one after another (as
// audit.checkpoint_file keeps them); every one must be signed by the key.
// With -server (a gateway's admin API), each checkpoint is also proved
// consistent with the one before it of the same log (GET
// /v1/audit/proof?from=&to=&gateway=). -inclusion checks an inclusion
// proof (GET /v1/audit/proof?id=, or a line of `sluice audit query
// --proof`): its checkpoint's signature, and that the record's leaf is in
// the tree the checkpoint signs. Exit status 0 when everything verifies, 1
// otherwise.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func main() {
	keyFile := flag.String("key", "", "the verifier key file (name+hash+key)")
	origin := flag.String("origin", "", "accept only checkpoints of this log (a gateway id)")
	server := flag.String("server", "", "a gateway's admin API: prove successive checkpoints consistent")
	token := flag.String("token", os.Getenv("SLUICE_ADMIN_TOKEN"), "bearer token for -server")
	inclusion := flag.String("inclusion", "", "a file holding an inclusion proof (JSON)")
	flag.Parse()
	if *keyFile == "" {
		fail("-key is required")
	}
	b, err := os.ReadFile(*keyFile)
	if err != nil {
		fail(err.Error())
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(b)))
	if err != nil {
		fail(fmt.Sprintf("%s: %v", *keyFile, err))
	}
	vs := note.VerifierList(v)
	ok := true
	if *inclusion != "" {
		if err := checkInclusion(*inclusion, vs, *origin); err != nil {
			fmt.Printf("FAIL %s: %v\n", *inclusion, err)
			ok = false
		}
	}
	last := map[string]checkpoint{}
	for _, path := range flag.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			fail(err.Error())
		}
		for i, msg := range splitNotes(data) {
			where := fmt.Sprintf("%s#%d", path, i+1)
			c, err := open(msg, vs)
			if err == nil && *origin != "" && c.origin != *origin {
				err = fmt.Errorf("a checkpoint of log %q, not %q", c.origin, *origin)
			}
			if err != nil {
				fmt.Printf("FAIL %s: %v\n", where, err)
				ok = false
				continue
			}
			fmt.Printf("ok   %s: log %q, %d records, root %s\n", where, c.origin, c.size, c.root)
			prev, seen := last[c.origin]
			if *server != "" && seen && prev.size != c.size {
				from, to := prev, c
				if from.size > to.size {
					from, to = to, from
				}
				if err := checkConsistency(*server, *token, from, to); err != nil {
					fmt.Printf("FAIL %s: not consistent with the checkpoint of %d records: %v\n", where, prev.size, err)
					ok = false
				} else {
					fmt.Printf("ok   %s: consistent with the checkpoint of %d records\n", where, prev.size)
				}
			}
			if seen && prev.size == c.size && prev.root != c.root {
				fmt.Printf("FAIL %s: a second root for %d records: the log was rewritten\n", where, c.size)
				ok = false
			}
			last[c.origin] = c
		}
	}
	if !ok {
		os.Exit(1)
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "tlogverify:", msg)
	os.Exit(2)
}

// checkpoint is a C2SP tlog-checkpoint: origin, size, root.
type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

// open verifies a signed note and parses the checkpoint it carries.
func open(msg []byte, vs note.Verifiers) (checkpoint, error) {
	n, err := note.Open(msg, vs)
	if err != nil {
		return checkpoint{}, err
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		return checkpoint{}, errors.New("not a checkpoint: want origin, size and root lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		return checkpoint{}, fmt.Errorf("not a checkpoint: size %q", lines[1])
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return checkpoint{}, fmt.Errorf("not a checkpoint: root %q", lines[2])
	}
	return checkpoint{origin: lines[0], size: size, root: root}, nil
}

// splitNotes splits a file of signed notes: each is text lines, a blank
// line, and signature lines beginning "— ".
func splitNotes(data []byte) [][]byte {
	var out [][]byte
	lines := bytes.SplitAfter(data, []byte("\n"))
	for i := 0; i < len(lines); {
		if len(bytes.TrimSpace(lines[i])) == 0 {
			i++
			continue
		}
		start := i
		for i < len(lines) && len(bytes.TrimSpace(lines[i])) > 0 {
			i++
		}
		i++
		for i < len(lines) && bytes.HasPrefix(lines[i], []byte("— ")) {
			i++
		}
		out = append(out, bytes.Join(lines[start:min(i, len(lines))], nil))
	}
	return out
}

// inclusionProof is the JSON of /v1/audit/proof?id= (the fields used).
type inclusionProof struct {
	Gateway    string      `json:"gateway"`
	ID         string      `json:"id"`
	Seq        uint64      `json:"seq"`
	Leaf       int64       `json:"leaf"`
	LeafData   []byte      `json:"leaf_data"`
	TreeSize   int64       `json:"tree_size"`
	Proof      []tlog.Hash `json:"proof"`
	Checkpoint string      `json:"checkpoint"`
}

// checkInclusion checks the inclusion proof in path: a proof object, or a
// line {"record": …, "proof": {…}} of `sluice audit query --proof`.
func checkInclusion(path string, vs note.Verifiers, origin string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var wrapped struct {
		Proof *inclusionProof `json:"proof"`
	}
	var p inclusionProof
	if err := json.Unmarshal(b, &wrapped); err == nil && wrapped.Proof != nil {
		p = *wrapped.Proof
	} else if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if p.Checkpoint == "" {
		return errors.New("the proof is against no signed checkpoint")
	}
	c, err := open([]byte(p.Checkpoint), vs)
	if err != nil {
		return fmt.Errorf("its checkpoint: %w", err)
	}
	if c.origin != p.Gateway || (origin != "" && c.origin != origin) {
		return fmt.Errorf("its checkpoint is of log %q", c.origin)
	}
	if c.size != p.TreeSize {
		return fmt.Errorf("the proof is against %d records, its checkpoint signs %d", p.TreeSize, c.size)
	}
	if len(p.LeafData) == 0 {
		return errors.New("no leaf data (the record is no longer in the store)")
	}
	id, seq, gw, err := leafHead(p.LeafData)
	if err != nil {
		return fmt.Errorf("leaf data: %w", err)
	}
	if id != p.ID || seq != p.Seq || gw != p.Gateway {
		return fmt.Errorf("the leaf is record %s seq %d of %q, the proof says %s seq %d of %q", id, seq, gw, p.ID, p.Seq, p.Gateway)
	}
	if err := tlog.CheckRecord(p.Proof, c.size, c.root, p.Leaf, tlog.RecordHash(p.LeafData)); err != nil {
		return err
	}
	fmt.Printf("ok   %s: record %s (seq %d) is leaf %d of log %q of %d records, signed\n", path, id, seq, p.Leaf, c.origin, c.size)
	return nil
}

// leafHead reads the id, seq and gateway of a version-1 leaf: the version
// byte, a column count, then the columns id (length-prefixed), seq
// (uvarint), gateway (length-prefixed), … (audit/README.md).
func leafHead(leaf []byte) (id string, seq uint64, gateway string, err error) {
	if len(leaf) < 2 || leaf[0] != 1 {
		return "", 0, "", errors.New("not a version-1 leaf")
	}
	r := bytes.NewReader(leaf[2:])
	str := func() string {
		n, e := binary.ReadUvarint(r)
		if e != nil || n > uint64(r.Len()) {
			err = errors.New("truncated")
			return ""
		}
		b := make([]byte, n)
		_, _ = io.ReadFull(r, b)
		return string(b)
	}
	id = str()
	seq, e := binary.ReadUvarint(r)
	if e != nil {
		err = errors.New("truncated")
	}
	gateway = str()
	return id, seq, gateway, err
}

// checkConsistency fetches the proof that the log of from is a prefix of
// the log of to, and checks it against both signed roots.
func checkConsistency(server, token string, from, to checkpoint) error {
	q := url.Values{"from": {strconv.FormatInt(from.size, 10)}, "to": {strconv.FormatInt(to.size, 10)}, "gateway": {from.origin}}
	base := strings.TrimSuffix(server, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	req, err := http.NewRequest(http.MethodGet, base+"/v1/audit/proof?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var p struct {
		Proof []string `json:"proof"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return err
	}
	proof := make(tlog.TreeProof, len(p.Proof))
	for i, s := range p.Proof {
		h, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(h) != tlog.HashSize {
			return fmt.Errorf("proof hash %q", s)
		}
		copy(proof[i][:], h)
	}
	return tlog.CheckTree(proof, to.size, to.root, from.size, from.root)
}
