package audit_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/spool"
	"github.com/sluicehq/sluice/audit/storetest"
)

// faultFiles records what the spool does to its segment files and makes
// their Write or Datasync fail on demand.
type faultFiles struct {
	mu       sync.Mutex
	ops      []fileOp
	syncErr  error
	writeErr error
}

type fileOp struct {
	sync bool   // a Datasync; else a Write of data
	data []byte // what a Write wrote
}

func (ff *faultFiles) open(path string, flag int, perm os.FileMode) (spool.File, error) {
	f, err := spool.OpenOSFile(path, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: f, ff: ff}, nil
}

func (ff *faultFiles) set(writeErr, syncErr error) {
	ff.mu.Lock()
	ff.writeErr, ff.syncErr = writeErr, syncErr
	ff.mu.Unlock()
}

func (ff *faultFiles) snapshot() []fileOp {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	return append([]fileOp(nil), ff.ops...)
}

// faultFile is a segment file under faultFiles' control.
type faultFile struct {
	spool.File
	ff *faultFiles
}

func (f *faultFile) Write(b []byte) (int, error) {
	f.ff.mu.Lock()
	err := f.ff.writeErr
	f.ff.ops = append(f.ff.ops, fileOp{data: append([]byte(nil), b...)})
	f.ff.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return f.File.Write(b)
}

func (f *faultFile) Datasync() error {
	f.ff.mu.Lock()
	err := f.ff.syncErr
	f.ff.ops = append(f.ff.ops, fileOp{sync: true})
	f.ff.mu.Unlock()
	if err != nil {
		return err
	}
	return f.File.Datasync()
}

// syncedAfter reports whether ops hold a Write containing id followed by
// a Datasync.
func syncedAfter(ops []fileOp, id string) bool {
	written := false
	for _, op := range ops {
		switch {
		case !op.sync && bytes.Contains(op.data, []byte(id)):
			written = true
		case op.sync && written:
			return true
		}
	}
	return false
}

// Begin's promise is the spool's fdatasync: it returns only once the
// write holding its record has been synced, and fails when the sync does
// (the record is not known durable, so the call must not go out).
func TestBeginWaitsForSpoolSync(t *testing.T) {
	ff := &faultFiles{}
	path := filepath.Join(t.TempDir(), "audit.db")
	a := openSpooled(t, path, func(o *audit.Options) { audit.SetOpenSpoolFile(o, ff.open) })
	defer a.Close(context.Background())
	ctx := context.Background()

	r := storetest.Sample(1)
	if err := a.Begin(ctx, r); err != nil {
		t.Fatal(err)
	}
	if ops := ff.snapshot(); !syncedAfter(ops, r.ID) {
		t.Fatalf("Begin returned before the write holding its record was synced (%d file operations)", len(ops))
	}

	for _, tc := range []struct {
		name              string
		writeErr, syncErr error
	}{
		{"sync fails", nil, syscall.EIO},
		{"write fails", syscall.ENOSPC, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ff.set(tc.writeErr, tc.syncErr)
			r := storetest.Sample(2)
			err := a.Begin(ctx, r)
			if !errors.Is(err, audit.ErrUnavailable) {
				t.Fatalf("Begin with the spool's %s: %v, want audit.ErrUnavailable", tc.name, err)
			}
			if a.Ready() == nil {
				t.Fatal("Ready while the spool cannot sync")
			}
			ff.set(nil, nil)
			storetest.Eventually(t, "recovery", func() bool { return a.Ready() == nil })
			r = storetest.Sample(3)
			if err := a.Begin(ctx, r); err != nil {
				t.Fatalf("Begin after recovery: %v", err)
			}
			if !syncedAfter(ff.snapshot(), r.ID) {
				t.Fatal("Begin after recovery returned before its sync")
			}
		})
	}
}

// syncedAfterWrite reports whether the ops after from hold a Write
// containing id, and whether a Datasync follows it.
func syncedAfterWrite(ops []fileOp, from int, id string) (written, synced bool) {
	for _, op := range ops[from:] {
		switch {
		case !op.sync && bytes.Contains(op.data, []byte(id)):
			written = true
		case op.sync && written:
			return true, true
		}
	}
	return written, false
}

// An outcome nobody waits on is written at once (a crash keeps it: the
// kernel has it) and synced later: by the lazy timer, by a query that
// must see it, or at Close. The decision record stays synced before Begin
// returns (TestBeginWaitsForSpoolSync).
func TestOutcomesAreSyncedLazily(t *testing.T) {
	for _, tc := range []struct {
		name string
		sync func(t *testing.T, a *audit.Auditor)
	}{
		{"a query syncs them", func(t *testing.T, a *audit.Auditor) {
			if err := a.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
		}},
		{"Close syncs them", func(t *testing.T, a *audit.Auditor) {
			if err := a.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ff := &faultFiles{}
			path := filepath.Join(t.TempDir(), "audit.db")
			a := openSpooled(t, path, func(o *audit.Options) {
				audit.SetOpenSpoolFile(o, ff.open)
				audit.SetLazySync(o, time.Hour)
			})
			defer a.Close(context.Background())
			r := storetest.Sample(1)
			if err := a.Begin(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			from := len(ff.snapshot())
			r.TimeEnd, r.Status = r.TimeStart.Add(time.Second), 200
			a.End(r)
			storetest.Eventually(t, "the outcome's write", func() bool {
				w, _ := syncedAfterWrite(ff.snapshot(), from, r.ID)
				return w
			})
			if _, synced := syncedAfterWrite(ff.snapshot(), from, r.ID); synced {
				t.Fatal("the outcome was synced at once: End should cost a write, not an fdatasync")
			}
			tc.sync(t, a)
			if _, synced := syncedAfterWrite(ff.snapshot(), from, r.ID); !synced {
				t.Fatal("the outcome is still not synced")
			}
		})
	}
}
