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
