// Package fold turns floods of identical events into one record with a
// count. The first event of a key in a window is recorded at once (the
// caller does it); repeats within the window are counted and handed to
// the emit function, once per key, when the window ends. Memory is
// bounded: beyond max keys, events are not folded (each is recorded), so
// a flood of distinct keys costs records but never unbounded memory.
package fold

import (
	"context"
	"sync"
	"time"
)

// Folder folds events by key K.
type Folder[K comparable] struct {
	window time.Duration
	max    int
	emit   func(k K, first, last time.Time, count int)

	mu   sync.Mutex
	keys map[K]*entry
}

// entry counts the repeats of one key since its last record.
type entry struct {
	extra       int       // repeats not yet emitted
	first, last time.Time // of those repeats
	seen        time.Time // last event, for expiry
}

// New returns a Folder; emit is called from Flush, without the lock held.
func New[K comparable](window time.Duration, max int, emit func(k K, first, last time.Time, count int)) *Folder[K] {
	return &Folder[K]{window: window, max: max, emit: emit, keys: make(map[K]*entry)}
}

// Add notes one event at now. It returns true when the event is the first
// of its key in the window (or cannot be folded): the caller records it
// now. Otherwise it is counted and emitted later.
func (f *Folder[K]) Add(k K, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e := f.keys[k]; e != nil {
		if e.extra == 0 {
			e.first = now
		}
		e.extra++
		e.last, e.seen = now, now
		return false
	}
	if len(f.keys) < f.max {
		f.keys[k] = &entry{seen: now}
	}
	return true
}

// Flush emits one event per key with repeats, and forgets keys idle for
// a whole window (every key when final).
func (f *Folder[K]) Flush(now time.Time, final bool) {
	type out struct {
		k           K
		first, last time.Time
		n           int
	}
	var outs []out
	f.mu.Lock()
	for k, e := range f.keys {
		if e.extra > 0 {
			outs = append(outs, out{k, e.first, e.last, e.extra})
			e.extra = 0
		}
		if final || now.Sub(e.seen) >= f.window {
			delete(f.keys, k)
		}
	}
	f.mu.Unlock()
	for _, o := range outs {
		f.emit(o.k, o.first, o.last, o.n)
	}
}

// Run flushes every window until ctx ends, then flushes everything.
func (f *Folder[K]) Run(ctx context.Context) {
	t := time.NewTicker(f.window)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			f.Flush(now, false)
		case <-ctx.Done():
			f.Flush(time.Now(), true)
			return
		}
	}
}
