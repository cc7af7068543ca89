// Package tlog is the transparency log of audit records (docs/contract.md
// §8): an RFC 6962 Merkle tree per gateway, whose leaves are the records'
// canonical encodings (audit.AppendLeaf), and C2SP checkpoints of it
// (tlog-checkpoint), signed as C2SP signed notes with an Ed25519 key. The
// hashing, proofs and notes are golang.org/x/mod/sumdb's tlog and note;
// this package adds the log's shape as the stores keep it (each leaf's row
// holds the hashes its append completed, so nothing is recomputed from
// scratch), the checkpoint text, key files and the verifier's report. It
// knows nothing of records or stores. See audit/README.md, "Tamper
// evidence".
package tlog

import (
	"errors"
	"fmt"
	"math/bits"

	"golang.org/x/mod/sumdb/tlog"
)

// Hash is a node of the tree: SHA-256, RFC 6962.
type Hash = tlog.Hash

// HashReader reads stored hashes of a log by stored hash index (x/mod's
// tlog.HashReader).
type HashReader = tlog.HashReader

// HashSize is the size of a Hash.
const HashSize = tlog.HashSize

// LeafHash is the RFC 6962 hash of a leaf: SHA-256(0x00 || data).
func LeafHash(data []byte) Hash { return tlog.RecordHash(data) }

// NodeHash is the RFC 6962 hash of an interior node: SHA-256(0x01 || left
// || right).
func NodeHash(left, right Hash) Hash { return tlog.NodeHash(left, right) }

// EmptyRoot is the root of the empty tree (SHA-256 of nothing).
var EmptyRoot = func() Hash {
	h, _ := tlog.TreeHash(0, nil)
	return h
}()

// Tree is the right edge of a log: its size and the roots of the perfect
// subtrees it is made of (one per bit set in the size, largest first).
// That is all an append needs: a leaf completes the subtrees of the
// trailing ones of its index, whose left halves are on the edge. The zero
// Tree is the empty log.
type Tree struct {
	size int64
	edge []Hash
}

// Size is the number of leaves.
func (t *Tree) Size() int64 { return t.size }

// Clone returns a copy that appends independently (a store appends to a
// clone and keeps it once its transaction commits).
func (t *Tree) Clone() Tree {
	return Tree{size: t.size, edge: append(make([]Hash, 0, len(t.edge)+1), t.edge...)}
}

// Append adds a leaf whose hash is h and appends to dst what a store keeps
// with the leaf: h, then the root of each subtree the leaf completes,
// smallest first (tlog.StoredHashes: the hashes at stored hash indexes
// StoredHashIndex(0, n) onwards for leaf n).
func (t *Tree) Append(dst []byte, h Hash) []byte {
	dst = append(dst, h[:]...)
	for n := t.size; n&1 == 1; n >>= 1 {
		left := t.edge[len(t.edge)-1]
		t.edge = t.edge[:len(t.edge)-1]
		h = tlog.NodeHash(left, h)
		dst = append(dst, h[:]...)
	}
	t.edge = append(t.edge, h)
	t.size++
	return dst
}

// Root is the tree's root hash (RFC 6962 MTH).
func (t *Tree) Root() Hash {
	if len(t.edge) == 0 {
		return EmptyRoot
	}
	h := t.edge[len(t.edge)-1]
	for i := len(t.edge) - 2; i >= 0; i-- {
		h = tlog.NodeHash(t.edge[i], h)
	}
	return h
}

// EdgeIndexes are the stored hash indexes of the right edge of a tree of
// size leaves, largest subtree first: what ResumeTree reads.
func EdgeIndexes(size int64) []int64 {
	var idx []int64
	start := int64(0)
	for level := 62; level >= 0; level-- {
		if size&(1<<level) == 0 {
			continue
		}
		idx = append(idx, tlog.StoredHashIndex(level, start>>level))
		start += 1 << level
	}
	return idx
}

// ResumeTree is the tree of size leaves whose stored hashes r reads (the
// log as a store keeps it): O(log size) hashes.
func ResumeTree(size int64, r tlog.HashReader) (Tree, error) {
	if size < 0 {
		return Tree{}, fmt.Errorf("tlog: negative size %d", size)
	}
	idx := EdgeIndexes(size)
	if len(idx) == 0 {
		return Tree{}, nil
	}
	hs, err := r.ReadHashes(idx)
	if err != nil {
		return Tree{}, err
	}
	if len(hs) != len(idx) {
		return Tree{}, fmt.Errorf("tlog: read %d hashes, want %d", len(hs), len(idx))
	}
	return Tree{size: size, edge: hs}, nil
}

// HashLocation is where a store that keeps each leaf's stored hashes in
// its row (what Tree.Append returns) finds the hash at a stored hash
// index: in the row of leaf, at byte offset off. The subtree at (level,
// n) is completed by its last leaf, ((n+1)<<level)-1, whose row holds its
// root as the level-th hash.
func HashLocation(index int64) (leaf int64, off int) {
	level, n := tlog.SplitStoredHashIndex(index)
	return (n+1)<<level - 1, level * HashSize
}

// HashesInRow is how many hashes the row of leaf n holds: 1 + the number
// of trailing ones of n.
func HashesInRow(n int64) int { return 1 + bits.TrailingZeros64(^uint64(n)) }

// RowReader reads the rows of leaves (each what Tree.Append returned for
// it) for a HashReader.
type RowReader func(leaves []int64) (map[int64][]byte, error)

// RowHashReader is the tlog.HashReader of a store that keeps each leaf's
// hashes in its row: it reads the rows the indexes fall in.
func RowHashReader(read RowReader) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]Hash, error) {
		leaves := make([]int64, 0, len(indexes))
		seen := make(map[int64]bool, len(indexes))
		for _, i := range indexes {
			l, _ := HashLocation(i)
			if !seen[l] {
				seen[l] = true
				leaves = append(leaves, l)
			}
		}
		rows, err := read(leaves)
		if err != nil {
			return nil, err
		}
		out := make([]Hash, len(indexes))
		for k, i := range indexes {
			l, off := HashLocation(i)
			row, ok := rows[l]
			if !ok {
				return nil, fmt.Errorf("tlog: the row of leaf %d is missing", l)
			}
			if len(row) < off+HashSize {
				return nil, fmt.Errorf("tlog: the row of leaf %d holds %d bytes of hashes, want at least %d", l, len(row), off+HashSize)
			}
			copy(out[k][:], row[off:off+HashSize])
		}
		return out, nil
	})
}

// TreeHash is the root of the first n leaves of the log r reads.
func TreeHash(n int64, r tlog.HashReader) (Hash, error) { return tlog.TreeHash(n, r) }

// ProveInclusion is the proof that leaf n is in the tree of size leaves.
func ProveInclusion(size, n int64, r tlog.HashReader) ([]Hash, error) {
	if n < 0 || n >= size {
		return nil, fmt.Errorf("tlog: leaf %d is not in a tree of %d", n, size)
	}
	return tlog.ProveRecord(size, n, r)
}

// CheckInclusion checks that the leaf of hash leaf is leaf n of the tree
// of size leaves and root root.
func CheckInclusion(proof []Hash, size int64, root Hash, n int64, leaf Hash) error {
	return tlog.CheckRecord(proof, size, root, n, leaf)
}

// ProveConsistency is the proof that the tree of size old leaves is a
// prefix of the tree of size leaves.
func ProveConsistency(size, old int64, r tlog.HashReader) ([]Hash, error) {
	if old < 1 || old > size {
		return nil, fmt.Errorf("tlog: no consistency proof from %d to %d leaves", old, size)
	}
	return tlog.ProveTree(size, old, r)
}

// CheckConsistency checks that the tree of size old and root oldRoot is a
// prefix of the tree of size size and root root.
func CheckConsistency(proof []Hash, size int64, root Hash, old int64, oldRoot Hash) error {
	if old == size {
		if root != oldRoot {
			return errors.New("tlog: two different roots for the same size")
		}
		return nil
	}
	return tlog.CheckTree(proof, size, root, old, oldRoot)
}
