package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/audit/tlog"
)

// Proofs from a store's logs (`sluice audit query --proof`,
// /v1/audit/proof): RFC 6962 inclusion and consistency proofs, checkable
// with x/mod/sumdb/tlog's CheckRecord and CheckTree (or any RFC 6962
// verifier) against a signed checkpoint.

// InclusionProof is the proof that a record is a leaf of its gateway's
// log, against a tree size (a signed checkpoint's, when there is one).
type InclusionProof struct {
	Gateway string `json:"gateway"`
	ID      string `json:"id"`
	Seq     uint64 `json:"seq"`
	Leaf    int64  `json:"leaf"`
	// LeafData is the record's canonical encoding as the store holds it
	// now (AppendLeaf; base64 in JSON), empty when the store no longer
	// has it (pruned); LeafHash is the leaf hash as logged. Intact says
	// whether the first hashes to the second.
	LeafData []byte    `json:"leaf_data,omitempty"`
	LeafHash tlog.Hash `json:"leaf_hash"`
	Intact   bool      `json:"intact"`
	// TreeSize and Root are the tree the proof is against; Checkpoint is
	// its signed checkpoint, "" when none of that size is kept (the
	// record is newer than the latest).
	TreeSize   int64       `json:"tree_size"`
	Root       tlog.Hash   `json:"root"`
	Proof      []tlog.Hash `json:"proof"`
	Checkpoint string      `json:"checkpoint,omitempty"`
}

// ConsistencyProof is the proof that a gateway's log of From leaves is a
// prefix of its log of To leaves.
type ConsistencyProof struct {
	Gateway        string      `json:"gateway"`
	From           int64       `json:"from"`
	To             int64       `json:"to"`
	FromRoot       tlog.Hash   `json:"from_root"`
	ToRoot         tlog.Hash   `json:"to_root"`
	Proof          []tlog.Hash `json:"proof"`
	FromCheckpoint string      `json:"from_checkpoint,omitempty"`
	ToCheckpoint   string      `json:"to_checkpoint,omitempty"`
}

// ErrNotLogged means a record is in no log: unknown, or not complete yet.
var ErrNotLogged = errors.New("not in the log")

// ProveRecord is the inclusion proof of record id in lr's log of its
// gateway, against a tree of size leaves: 0 for the latest checkpoint
// that covers it (or, if none does yet, the log as it is).
func ProveRecord(ctx context.Context, lr LogReader, id string, size int64) (*InclusionProof, error) {
	l, ok, err := lr.LeafOf(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("record %s: %w (unknown, or its call has not ended)", id, ErrNotLogged)
	}
	p := &InclusionProof{Gateway: l.Gateway, ID: l.ID, Seq: l.Seq, Leaf: l.Index, LeafHash: l.Hash()}
	rec, err := lr.Record(ctx, id)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		p.LeafData = AppendLeaf(nil, rec)
		p.Intact = tlog.LeafHash(p.LeafData) == p.LeafHash
	}
	head, err := lr.Size(ctx, l.Gateway)
	if err != nil {
		return nil, err
	}
	cps, err := lr.Checkpoints(ctx, l.Gateway)
	if err != nil {
		return nil, err
	}
	switch {
	case size == 0:
		size = head
		for i := len(cps) - 1; i >= 0; i-- {
			if cps[i].Size > l.Index && cps[i].Size <= head {
				size = cps[i].Size
				break
			}
		}
	case size <= l.Index || size > head:
		return nil, fmt.Errorf("record %s is leaf %d of a log of %d: no proof against a tree of %d", id, l.Index, head, size)
	}
	for _, c := range cps {
		if c.Size == size {
			p.Checkpoint = string(c.Note)
		}
	}
	r := HashReader(ctx, lr, l.Gateway)
	p.TreeSize = size
	if p.Root, err = tlog.TreeHash(size, r); err != nil {
		return nil, fmt.Errorf("log of %s: %w", l.Gateway, err)
	}
	if p.Proof, err = tlog.ProveInclusion(size, l.Index, r); err != nil {
		return nil, fmt.Errorf("log of %s: %w", l.Gateway, err)
	}
	return p, nil
}

// ProveLog is the consistency proof of gateway's log from from leaves to
// to leaves (0: the latest checkpoint's size, else the log's).
func ProveLog(ctx context.Context, lr LogReader, gateway string, from, to int64) (*ConsistencyProof, error) {
	head, err := lr.Size(ctx, gateway)
	if err != nil {
		return nil, err
	}
	cps, err := lr.Checkpoints(ctx, gateway)
	if err != nil {
		return nil, err
	}
	if to == 0 {
		to = head
		if len(cps) > 0 && cps[len(cps)-1].Size <= head {
			to = cps[len(cps)-1].Size
		}
	}
	if from < 1 || from > to || to > head {
		return nil, fmt.Errorf("no consistency proof of the log of %s (%d leaves) from %d to %d leaves", gateway, head, from, to)
	}
	p := &ConsistencyProof{Gateway: gateway, From: from, To: to}
	for _, c := range cps {
		switch c.Size {
		case from:
			p.FromCheckpoint = string(c.Note)
		case to:
			p.ToCheckpoint = string(c.Note)
		}
	}
	r := HashReader(ctx, lr, gateway)
	if p.FromRoot, err = tlog.TreeHash(from, r); err != nil {
		return nil, err
	}
	if p.ToRoot, err = tlog.TreeHash(to, r); err != nil {
		return nil, err
	}
	if from < to {
		if p.Proof, err = tlog.ProveConsistency(to, from, r); err != nil {
			return nil, err
		}
	}
	if p.Proof == nil {
		p.Proof = []tlog.Hash{}
	}
	return p, nil
}

// LatestCheckpoint is the latest checkpoint lr keeps of gateway's log.
func LatestCheckpoint(ctx context.Context, lr LogReader, gateway string) (*StoredCheckpoint, error) {
	cps, err := lr.Checkpoints(ctx, gateway)
	if err != nil || len(cps) == 0 {
		return nil, err
	}
	return &cps[len(cps)-1], nil
}
