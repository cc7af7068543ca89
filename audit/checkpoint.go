package audit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/audit/tlog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/mod/sumdb/note"
)

// Checkpoints: with audit.checkpoint_key, the Auditor signs its
// gateway's log (a C2SP tlog-checkpoint: origin = the gateway id, size,
// root; a C2SP signed note, Ed25519) every audit.checkpoint_interval when
// it has grown, at start and at shutdown; keeps each in the store
// (LogStore.AddCheckpoint), where /v1/audit/checkpoint and `sluice audit
// verify` find them; and copies each to audit.checkpoint_file and
// audit.checkpoint_url, out of the reach of whoever can write the store.

// checkpointer is the Auditor's checkpoint state.
type checkpointer struct {
	signer note.Signer
	ls     LogStore
	file   string
	url    string
	client *http.Client

	mu   sync.Mutex // one checkpoint at a time; guards last
	last tlog.Checkpoint
}

// ckptOp asks the writer goroutine to store a checkpoint (a store without
// a spool is written by that goroutine only).
type ckptOp struct {
	size   int64
	note   []byte
	result chan error
}

// openCheckpointer reads the signing key when audit.checkpoint_key is set.
func (a *Auditor) openCheckpointer() error {
	key := a.opts.Config.CheckpointKey
	if key == "" {
		return nil
	}
	ls, ok := a.store.(LogStore)
	if !ok {
		return fmt.Errorf("audit: audit.checkpoint_key: the store %q keeps no transparency log to sign", a.opts.Config.Store)
	}
	if err := tlog.CheckOrigin(a.opts.Gateway); err != nil {
		return fmt.Errorf("audit: the gateway id is the origin of its log: %w", err)
	}
	signer, err := tlog.ReadSigner(key)
	if err != nil {
		return fmt.Errorf("audit: audit.checkpoint_key: %w", err)
	}
	a.ckpt = &checkpointer{signer: signer, ls: ls, file: a.opts.Config.CheckpointFile, url: a.opts.Config.CheckpointURL,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}}
	return nil
}

// checkpoints takes a checkpoint at once and then every interval until
// ctx ends (Close takes the last one).
func (a *Auditor) checkpoints(ctx context.Context, interval time.Duration) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := a.Checkpoint(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("audit: checkpoint", "err", err)
		}
		t.Reset(interval)
	}
}

// Checkpoint signs the gateway's log as the store has it now, if it grew
// since the last checkpoint, stores the checkpoint and copies it out. It
// does nothing without audit.checkpoint_key.
func (a *Auditor) Checkpoint(ctx context.Context) error {
	c := a.ckpt
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fail := func(copyTo string, err error) error {
		a.ins.checkpointErrors.Add(context.Background(), 1, metric.WithAttributes(attribute.String("copy", copyTo)))
		return err
	}
	lr, err := c.ls.LogSnapshot(ctx)
	if err != nil {
		return fail("store", err)
	}
	size, root, err := LogHead(ctx, lr, a.opts.Gateway)
	_ = lr.Close()
	if err != nil {
		return fail("store", err)
	}
	cp := tlog.Checkpoint{Origin: a.opts.Gateway, Size: size, Root: root}
	if size == 0 || cp == c.last {
		return nil
	}
	msg, err := tlog.Sign(cp, c.signer)
	if err != nil {
		return fail("store", err)
	}
	if err := a.storeCheckpoint(ctx, size, msg); err != nil {
		return fail("store", fmt.Errorf("storing the checkpoint of %d records: %w", size, err))
	}
	c.last = cp
	a.ins.checkpoints.Add(context.Background(), 1)
	var errs []string
	if c.file != "" {
		if err := appendCheckpoint(c.file, msg); err != nil {
			errs = append(errs, fail("file", err).Error())
		}
	}
	if c.url != "" {
		if err := c.post(ctx, msg); err != nil {
			errs = append(errs, fail("url", err).Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("the checkpoint of %d records is stored, not copied: %s", size, strings.Join(errs, "; "))
	}
	return nil
}

// storeCheckpoint keeps a checkpoint in the store: under storeMu when the
// ingester writes the store, else on the writer goroutine (or directly
// once it has stopped).
func (a *Auditor) storeCheckpoint(ctx context.Context, size int64, msg []byte) error {
	if a.spool != nil || a.writerStopped() {
		a.storeMu.Lock()
		defer a.storeMu.Unlock()
		return a.ckpt.ls.AddCheckpoint(ctx, a.opts.Gateway, size, msg)
	}
	op := &ckptOp{size: size, note: msg, result: make(chan error, 1)}
	select {
	case a.ckptOps <- op:
	case <-a.done:
		return a.storeCheckpoint(ctx, size, msg)
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-op.result
}

// writerStopped reports whether the writer goroutine has exited.
func (a *Auditor) writerStopped() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// appendCheckpoint appends msg and a blank line to the file at path and
// syncs it.
func appendCheckpoint(path string, msg []byte) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(append(make([]byte, 0, len(msg)+1), msg...), '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit.checkpoint_file %s: %w", path, err)
	}
	return nil
}

// post sends msg to the checkpoint URL.
func (c *checkpointer) post(ctx context.Context, msg []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(msg))
	if err != nil {
		return fmt.Errorf("audit.checkpoint_url: %w", err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("audit.checkpoint_url: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("audit.checkpoint_url %s: %s", c.url, resp.Status)
	}
	return nil
}

// LogStore is the store as a LogStore, nil when it keeps no logs.
func (a *Auditor) LogStore() LogStore {
	ls, _ := a.store.(LogStore)
	return ls
}

// Gateway is this gateway's id: the origin of its log.
func (a *Auditor) Gateway() string { return a.opts.Gateway }
