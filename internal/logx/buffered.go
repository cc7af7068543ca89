package logx

import (
	"io"
	"sync"
	"time"
)

// bufferLimit is how much a Buffered gathers before it writes at once,
// whatever the interval.
const bufferLimit = 64 << 10

// Buffered gathers log lines in memory and writes them in one system call
// every interval, or as soon as 64 KiB have gathered. With one access-log
// line per call, a write(2) per line was 5 % of a forwarded call's CPU
// (#18); Squid buffers its access log the same way. The durable account
// of a call is its audit record, not this log: a crash loses at most one
// interval of lines. Close writes what is left.
type Buffered struct {
	// mu guards buf, spare, err and closed; wmu orders the writes to w
	// and is never taken under mu, so loggers append while a flush
	// writes.
	mu     sync.Mutex
	wmu    sync.Mutex
	w      io.Writer
	buf    []byte
	spare  []byte // the other buffer: written out while buf fills
	err    error  // the last write error, returned by the next Write
	closed bool
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// NewBuffered starts a Buffered over w that writes every interval.
func NewBuffered(w io.Writer, interval time.Duration) *Buffered {
	b := &Buffered{w: w, buf: make([]byte, 0, bufferLimit), spare: make([]byte, 0, bufferLimit),
		quit: make(chan struct{}), done: make(chan struct{})}
	go b.run(interval)
	return b
}

// Write appends p (slog hands over one whole line per call); after Close
// it writes p through.
func (b *Buffered) Write(p []byte) (int, error) {
	b.mu.Lock()
	if err := b.err; err != nil {
		b.err = nil
		b.mu.Unlock()
		return 0, err
	}
	b.buf = append(b.buf, p...)
	full := len(b.buf) >= bufferLimit || b.closed
	b.mu.Unlock()
	if full {
		_ = b.flush(false)
	}
	return len(p), nil
}

// Flush writes what has gathered and returns the last write error.
func (b *Buffered) Flush() error { return b.flush(true) }

// flush writes what has gathered; a write error is kept for the next
// Write unless take returns (and clears) it. The buffers are swapped
// under mu and written under wmu only, so a slow disk holds up the next
// flush, not the loggers.
func (b *Buffered) flush(take bool) error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	out := b.buf
	b.buf = b.spare[:0]
	b.mu.Unlock()
	var werr error
	if len(out) > 0 {
		_, werr = b.w.Write(out)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.spare = out[:0]
	if werr != nil {
		b.err = werr
	}
	if !take {
		return nil
	}
	err := b.err
	b.err = nil
	return err
}

func (b *Buffered) run(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = b.flush(false)
		case <-b.quit:
			return
		}
	}
}

// Close stops the ticker and writes what is left. Later writes go
// straight through.
func (b *Buffered) Close() error {
	b.once.Do(func() {
		close(b.quit)
		<-b.done
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
	})
	return b.Flush()
}
