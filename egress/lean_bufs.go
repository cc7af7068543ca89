package egress

import (
	"bufio"
	"io"
	"sync"
)

// connBufs are what the loop reads a connection with: its bufio.Reader
// (4 KiB) and the headRecorder under it. They are pooled: a tunnel is a
// new connection each time, and these were the largest share of the
// garbage a tunnel left (#18); net/http's server pools its readers too.
type connBufs struct {
	rec headRecorder
	br  *bufio.Reader
}

// maxPooledHead bounds the head buffer a connection gives back: one that
// grew for a long head is dropped rather than kept.
const maxPooledHead = 8 << 10

// connBufPool lends connBufs to the loop's connections.
type connBufPool struct{ p sync.Pool }

// get returns buffers reading r, failing reads of a head over limit.
func (p *connBufPool) get(r io.Reader, limit int) *connBufs {
	cb, _ := p.p.Get().(*connBufs)
	if cb == nil {
		cb = &connBufs{}
		cb.br = bufio.NewReaderSize(&cb.rec, 4096)
	}
	cb.rec = headRecorder{r: r, limit: limit, buf: cb.rec.buf[:0]}
	cb.br.Reset(&cb.rec)
	return cb
}

// put takes the buffers back once nothing reads them. When the
// connection was handed to net/http, the recorded head is being replayed
// there (replayConn) and stays with it.
func (p *connBufPool) put(cb *connBufs, handed bool) {
	if handed || cap(cb.rec.buf) > maxPooledHead {
		cb.rec.buf = nil
	}
	cb.rec.r = nil
	cb.br.Reset(&cb.rec)
	p.p.Put(cb)
}
