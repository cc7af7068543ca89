package policy

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// Run keeps the policy current until ctx ends: it reloads the local paths
// when a file under them changes (the registry's watcher, debounced) and
// polls policy.bundle.url every polling_interval (sooner, with backoff,
// until the first bundle is activated). Each new policy is swapped in only
// when it compiles.
func (e *Engine) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	n := 0
	if len(e.paths) > 0 {
		n++
		go func() {
			err := registry.Watch(ctx, e.paths, e.debounce, func() { _ = e.reload(ctx, "watch") })
			if err != nil {
				err = errors.New("policy: " + err.Error())
				e.log.Error("policy: not watching files; reload with SIGHUP", "err", err)
			}
			errc <- err
		}()
	}
	if e.remote != nil {
		n++
		go func() { errc <- e.pollLoop(ctx) }()
	}
	if n == 0 {
		<-ctx.Done()
		return nil
	}
	var errs []error
	for range n {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// pollLoop polls the bundle server until ctx ends.
func (e *Engine) pollLoop(ctx context.Context) error {
	backoff := time.Second
	for {
		var wait time.Duration
		if e.hasBundle() {
			wait, backoff = e.interval, time.Second
		} else {
			wait = min(backoff, e.interval)
			backoff *= 2
		}
		// ±10% jitter, so replicas do not poll in step.
		wait += time.Duration((rand.Float64()*0.2 - 0.1) * float64(wait))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-e.pollNow:
			t.Stop()
		}
		_ = e.poll(ctx, "bundle")
	}
}

func (e *Engine) hasBundle() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.bundle != nil
}

// poll downloads the remote bundle unless the server says the active one
// is current, and activates it with the local policy. On any failure
// (transport, HTTP status, signature, compile error) the policy in force
// stays, and the failure is logged, counted and shown in Status.
func (e *Engine) poll(ctx context.Context, trigger string) error {
	e.mu.Lock()
	etag := e.etag
	e.mu.Unlock()

	b, newTag, err := e.remote.fetch(ctx, etag)

	e.mu.Lock()
	defer e.mu.Unlock()
	rs := e.status.Remote
	rs.LastCheck = time.Now()
	if errors.Is(err, errNotModified) {
		rs.LastError = ""
		return nil
	}
	if err == nil {
		src := newSource()
		if err = src.addBundle(e.remote.url, b); err == nil {
			src.bundles = nil // shown as Status.Remote
			var p *prepared
			if p, err = e.build(ctx, e.local, src); err == nil {
				e.bundle, e.etag = src, newTag
				rs.Revision, rs.ETag, rs.ActivatedAt, rs.LastError = b.Manifest.Revision, newTag, time.Now(), ""
				e.swap(ctx, trigger, p)
				return nil
			}
		}
	}
	rs.LastError = err.Error()
	return e.failed(ctx, trigger, err)
}
