package logx

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the flusher and the test.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

func TestBuffered(t *testing.T) {
	tests := []struct {
		name   string
		lines  int
		line   string
		wait   time.Duration
		writes int // at most, before Close
	}{
		{"lines gather into one write per interval", 100, "x\n", 150 * time.Millisecond, 1},
		{"64 KiB is written at once", 2000, strings.Repeat("y", 99) + "\n", 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out lockedBuffer
			b := NewBuffered(&out, 50*time.Millisecond)
			for i := 0; i < tt.lines; i++ {
				b.Write([]byte(tt.line))
			}
			time.Sleep(tt.wait)
			if _, n := out.String(); n > tt.writes {
				t.Errorf("%d writes, want at most %d", n, tt.writes)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if s, _ := out.String(); s != strings.Repeat(tt.line, tt.lines) {
				t.Errorf("lost or reordered lines: %d bytes, want %d", len(s), tt.lines*len(tt.line))
			}
		})
	}
}

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestBufferedReportsWriteErrors(t *testing.T) {
	b := NewBuffered(failing{}, time.Hour)
	b.Write([]byte("a\n"))
	if err := b.Close(); err == nil {
		t.Fatal("a failed write was not reported")
	}
}

// blockingWriter holds every Write until release is closed.
type blockingWriter struct {
	lockedBuffer
	entered chan struct{}
	release chan struct{}
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	select {
	case w.entered <- struct{}{}:
	default:
	}
	<-w.release
	return w.lockedBuffer.Write(p)
}

// A flush stuck on a slow disk does not hold up the loggers, and order
// is kept; after Close, lines are written through.
func TestBufferedSlowDisk(t *testing.T) {
	w := &blockingWriter{entered: make(chan struct{}, 1), release: make(chan struct{})}
	b := NewBuffered(w, time.Hour)
	b.Write([]byte("a\n"))
	flushed := make(chan error, 1)
	go func() { flushed <- b.Flush() }()
	<-w.entered // the flush is writing "a"
	wrote := make(chan struct{})
	go func() { b.Write([]byte("b\n")); close(wrote) }()
	select {
	case <-wrote:
	case <-time.After(5 * time.Second):
		t.Fatal("Write waited for the flush's disk write")
	}
	close(w.release)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b.Write([]byte("c\n"))
	if s, _ := w.String(); s != "a\nb\nc\n" {
		t.Errorf("got %q, want a, b, c in order, c written through after Close", s)
	}
}

// A write error of a background flush is returned by the next Write.
func TestBufferedKeepsError(t *testing.T) {
	b := NewBuffered(failing{}, 10*time.Millisecond)
	defer b.Close()
	b.Write([]byte("a\n"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := b.Write([]byte("b\n")); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the flush's write error was never returned")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
