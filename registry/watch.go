package registry

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch reloads the registry whenever a file under its paths changes, until
// ctx ends. Directories are watched recursively; a file path is watched
// through its directory, so editors that replace files and Kubernetes
// ConfigMap volumes (which swap a symlink) are seen. Bursts of events are
// folded into one reload after debounce (default 200ms).
func (r *Registry) Watch(ctx context.Context, debounce time.Duration) error {
	return Watch(ctx, r.opts.Paths, debounce, func() { _ = r.Reload(ctx) })
}

// Watch calls reload after changes under paths (files or directories),
// debounced, until ctx ends. The policy engine shares it.
func Watch(ctx context.Context, paths []string, debounce time.Duration, reload func()) error {
	if debounce <= 0 {
		debounce = 200 * time.Millisecond
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("registry: watch: %w", err)
	}
	defer w.Close()
	add := func(p string) {
		st, err := os.Stat(p)
		if err != nil {
			return
		}
		if !st.IsDir() {
			_ = w.Add(filepath.Dir(p))
			return
		}
		_ = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = w.Add(path)
			}
			return nil
		})
	}
	for _, p := range paths {
		add(p)
	}
	var timer *time.Timer
	fire := make(chan struct{}, 1)
	for {
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Has(fsnotify.Create) {
				if st, err := os.Stat(ev.Name); err == nil && st.IsDir() {
					add(ev.Name)
				}
			}
			if ev.Has(fsnotify.Chmod) && !ev.Has(fsnotify.Write) {
				continue
			}
			if timer == nil {
				timer = time.AfterFunc(debounce, func() {
					select {
					case fire <- struct{}{}:
					default:
					}
				})
			} else {
				timer.Reset(debounce)
			}
		case <-fire:
			reload()
		case <-w.Errors:
			// Overflow or a transient error: reload to be safe.
			reload()
		}
	}
}
