package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/audit/spool"
	"github.com/sluicehq/sluice/internal/config"
)

// SpoolStatus is what one gateway's spool holds that its store does not.
type SpoolStatus struct {
	// Gateway is the gateway id: from the store's cursor or the spooled
	// records, else the spool directory's name.
	Gateway string
	// Dir is the spool directory.
	Dir string
	// Pending counts the records and outcomes not yet in the store.
	Pending int
	// LastWrite is when the spool was last written.
	LastWrite time.Time
	// Damage is the damage a replay would report (the gateway reports it
	// when it replays the spool).
	Damage []spool.DamageEvent
}

// PendingSpool reads, without locking or changing anything, the spools
// beside the store at url (one of stores) and reports what each holds
// beyond the store's cursor. A running gateway adds those records within
// about IngestDelay; a stopped one at its next start. `sluice audit
// query` uses it to say when an answer may lack records. A store that
// takes records directly has no spools: nil.
func PendingSpool(ctx context.Context, stores *Stores, url string) ([]SpoolStatus, error) {
	root := stores.SpoolDir(url)
	if root == "" {
		return nil, nil
	}
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: spool %s: %w", root, err)
	}
	cursors, err := readCursors(ctx, stores, url)
	if err != nil {
		return nil, err
	}
	quietLog := slog.New(slog.NewTextHandler(io.Discard, nil))
	var out []SpoolStatus
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		s := spool.Peek(filepath.Join(root, e.Name()), spool.Options{Logger: quietLog, Decode: decodePayload})
		st := SpoolStatus{Gateway: e.Name(), Dir: s.Dir()}
		var from spool.Pos // no cursor: everything in the spool is pending
		for gw, pos := range cursors {
			if spool.Name(gw) == e.Name() {
				st.Gateway, from = gw, pos
			}
		}
		var exp spool.Expect
		if hw, found, err := s.ReadHighWater(); err == nil && found {
			exp.Durable, exp.MaxSeq = hw.Durable, hw.SpoolSeq
		}
		res, err := s.Replay(from, 4096, exp, func(items []spool.Item) error {
			if st.Gateway == e.Name() && len(items) > 0 {
				if gw := recordOf(&items[0]).Gateway; spool.Name(gw) == e.Name() {
					// No cursor named it: the records do (the directory
					// name may be the id's hex form).
					st.Gateway = gw
				}
			}
			st.Pending += len(items)
			return nil
		})
		if err != nil {
			return out, err
		}
		st.Damage = res.Damage
		segs, _ := s.Segments()
		for _, n := range segs {
			if fi, err := os.Stat(s.SegPath(n)); err == nil && fi.ModTime().After(st.LastWrite) {
				st.LastWrite = fi.ModTime()
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// readCursors reads every gateway's spool cursor from the store at url,
// read-only.
func readCursors(ctx context.Context, stores *Stores, url string) (map[string]spool.Pos, error) {
	st, err := stores.Open(ctx, url, StoreOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ss, ok := st.(SpoolStore)
	if !ok {
		return nil, fmt.Errorf("audit: %s keeps no spool cursors", url)
	}
	return ss.SpoolCursors(ctx)
}

// ReplayResult is what ReplaySpools did with one gateway's spool.
type ReplayResult struct {
	SpoolStatus
	// InUse: a running gateway holds the spool (it writes its records
	// itself); nothing was done.
	InUse bool
	// Err is why the spool could not be written into the store; nil when
	// it was (or when InUse).
	Err error
}

// ReplaySpools does for every gateway whose spool is beside the store at
// url (one of stores) what that gateway does at its next start: it writes
// what its spool holds beyond the store's cursor into the store and
// closes its calls left open with error gateway_restart. It is for
// gateways that will not start again (a replica scaled away, a host
// retired), so that their last records reach the store; a spool a
// running gateway holds is left to it.
func ReplaySpools(ctx context.Context, stores *Stores, url string, log *slog.Logger) ([]ReplayResult, error) {
	return ReplaySpoolsSigned(ctx, stores, config.Audit{Store: url}, log)
}

// ReplaySpoolsSigned is ReplaySpools of the store cfg.Store that also
// signs a checkpoint of each replayed gateway's log with
// cfg.CheckpointKey (and copies it to cfg.CheckpointFile and
// cfg.CheckpointURL), as the gateway would have at its shutdown.
func ReplaySpoolsSigned(ctx context.Context, stores *Stores, cfg config.Audit, log *slog.Logger) ([]ReplayResult, error) {
	url := cfg.Store
	if stores.SpoolDir(url) == "" {
		return nil, fmt.Errorf("audit: replay: the store %q has no spools: its records are committed to it directly (only %s keep spools)",
			url, strings.Join(stores.SpoolForms(), ", "))
	}
	sts, err := PendingSpool(ctx, stores, url)
	if err != nil {
		return nil, err
	}
	out := make([]ReplayResult, 0, len(sts))
	for _, st := range sts {
		res := ReplayResult{SpoolStatus: st}
		a, err := Open(ctx, Options{Config: config.Audit{Store: url, CheckpointKey: cfg.CheckpointKey, CheckpointInterval: cfg.CheckpointInterval,
			CheckpointFile: cfg.CheckpointFile, CheckpointURL: cfg.CheckpointURL}, Stores: stores, Gateway: st.Gateway, Logger: log})
		switch {
		case errors.Is(err, syscall.EWOULDBLOCK):
			res.InUse = true
		case err != nil:
			res.Err = err
		default:
			res.Err = a.Close(ctx)
		}
		out = append(out, res)
	}
	return out, nil
}
