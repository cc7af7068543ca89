package tlog

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	xtlog "golang.org/x/mod/sumdb/tlog"
)

// memLog keeps stored hashes the x/mod way (one slice indexed by stored
// hash index) and the rows the way stores keep them, side by side.
type memLog struct {
	stored []Hash
	rows   map[int64][]byte
}

func (m *memLog) ReadHashes(idx []int64) ([]Hash, error) {
	out := make([]Hash, len(idx))
	for i, x := range idx {
		out[i] = m.stored[x]
	}
	return out, nil
}

func (m *memLog) rowReader() xtlog.HashReader {
	return RowHashReader(func(leaves []int64) (map[int64][]byte, error) {
		out := map[int64][]byte{}
		for _, l := range leaves {
			if r, ok := m.rows[l]; ok {
				out[l] = r
			}
		}
		return out, nil
	})
}

func leaf(i int) []byte { return fmt.Appendf(nil, "leaf %d", i) }

// The tree built by Append has the stored hashes and roots of x/mod's
// tlog (RFC 6962), and the rows answer every stored hash index.
func TestTreeMatchesXModTlog(t *testing.T) {
	m := &memLog{rows: map[int64][]byte{}}
	var tr Tree
	for n := range 300 {
		want, err := xtlog.StoredHashes(int64(n), leaf(n), m)
		if err != nil {
			t.Fatal(err)
		}
		if got := int64(len(m.stored)); got != xtlog.StoredHashIndex(0, int64(n)) {
			t.Fatalf("leaf %d: stored index %d", n, got)
		}
		m.stored = append(m.stored, want...)
		row := tr.Append(nil, LeafHash(leaf(n)))
		var wantRow []byte
		for _, h := range want {
			wantRow = append(wantRow, h[:]...)
		}
		if !bytes.Equal(row, wantRow) {
			t.Fatalf("leaf %d: row differs from tlog.StoredHashes", n)
		}
		if len(row) != HashesInRow(int64(n))*HashSize {
			t.Fatalf("leaf %d: %d hashes, HashesInRow says %d", n, len(row)/HashSize, HashesInRow(int64(n)))
		}
		m.rows[int64(n)] = row
		size := int64(n + 1)
		root, err := xtlog.TreeHash(size, m)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Root() != root {
			t.Fatalf("size %d: root differs", size)
		}
		if got, err := TreeHash(size, m.rowReader()); err != nil || got != root {
			t.Fatalf("size %d: root from rows %v, %v", size, got, err)
		}
		resumed, err := ResumeTree(size, m.rowReader())
		if err != nil {
			t.Fatal(err)
		}
		if resumed.Root() != root || resumed.Size() != size {
			t.Fatalf("size %d: resumed tree differs", size)
		}
	}
	if EmptyRoot != (Hash{0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
		0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55}) {
		t.Error("empty root")
	}
	// Proofs from the rows check out.
	r := m.rowReader()
	for _, size := range []int64{1, 2, 7, 64, 255, 300} {
		root, _ := TreeHash(size, r)
		for _, n := range []int64{0, size / 2, size - 1} {
			p, err := ProveInclusion(size, n, r)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckInclusion(p, size, root, n, LeafHash(leaf(int(n)))); err != nil {
				t.Errorf("inclusion of %d in %d: %v", n, size, err)
			}
			if err := CheckInclusion(p, size, root, n, LeafHash([]byte("forged"))); err == nil {
				t.Errorf("inclusion of a forged leaf %d in %d passed", n, size)
			}
		}
		for _, old := range []int64{1, size / 2, size} {
			if old < 1 {
				continue
			}
			oldRoot, _ := TreeHash(old, r)
			p, err := ProveConsistency(size, old, r)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckConsistency(p, size, root, old, oldRoot); err != nil {
				t.Errorf("consistency %d→%d: %v", old, size, err)
			}
		}
	}
}

func TestCheckpointSignOpen(t *testing.T) {
	skey, vkey, err := GenerateKey("sluice-test")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	derived, err := VerifierKeyOf(skey)
	if err != nil || derived != vkey {
		t.Fatalf("VerifierKeyOf = %q, %v; want %q", derived, err, vkey)
	}
	var tr Tree
	for i := range 5 {
		tr.Append(nil, LeafHash(leaf(i)))
	}
	c := Checkpoint{Origin: "gw-1", Size: tr.Size(), Root: tr.Root()}
	msg, err := Sign(c, s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(msg), "gw-1\n5\n") {
		t.Fatalf("checkpoint:\n%s", msg)
	}
	got, _, err := Open(msg, Verifiers(v))
	if err != nil || got != c {
		t.Fatalf("Open = %+v, %v", got, err)
	}
	// Another key of the same name: not a known signer.
	skey2, _, _ := GenerateKey("sluice-test")
	s2, _ := note.NewSigner(skey2)
	forged, _ := Sign(c, s2)
	if _, _, err := Open(forged, Verifiers(v)); err == nil {
		t.Error("a checkpoint signed by another key was accepted")
	}
	// The right key's signature over another text.
	tampered := bytes.Replace(msg, []byte("gw-1\n5\n"), []byte("gw-1\n4\n"), 1)
	if _, _, err := Open(tampered, Verifiers(v)); err == nil {
		t.Error("a tampered checkpoint was accepted")
	}
	// A file of checkpoints, each followed by a blank line.
	file := append(append(append([]byte{}, msg...), '\n'), forged...)
	file = append(file, '\n')
	notes := SplitNotes(file)
	if len(notes) != 2 || !bytes.Equal(notes[0], msg) || !bytes.Equal(notes[1], forged) {
		t.Fatalf("SplitNotes: %q", notes)
	}
	if len(SplitNotes(append(append([]byte{}, msg...), forged...))) != 2 {
		t.Error("SplitNotes without blank lines between notes")
	}
}
