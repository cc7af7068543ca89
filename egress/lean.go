package egress

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/vocab"
	"golang.org/x/net/http/httpguts"
)

// The proxy and http listeners serve the common request themselves: an
// HTTP/1.1 request without a body, no upgrade and no Expect, whose
// destination parses. One goroutine per connection reads it
// (http.ReadRequest, net/http's own parser), runs the decision pipeline
// (prepare), carries it upstream and writes the response (Response.Write).
// net/http's server costs more per request than everything Sluice does
// for a call besides the record: a context, a background reader to notice
// a closed client, and goproxy's handler (#18 measured the loop at a
// third of the CPU of net/http's server and Transport). On the proxy
// listener an HTTP/1.1 CONNECT is served here too (lean_connect.go).
//
// Everything else goes to net/http's server, where it always went: the
// first request of a connection that is not the common kind (a body, an
// upgrade, HTTP/1.0, a malformed or over-long head) hands the
// whole connection over, its bytes replayed from that request's first
// byte, and net/http serves it (and every later request on it) with the
// handlers, limits and refusal records as before. A request is therefore
// parsed by the same parser either way, and its meaning is computed once,
// by whichever path serves it.

// leanServer runs the loop for one listener.
type leanServer struct {
	g        *Gateway
	listener string
	ln       net.Listener
	handoff  *handoffListener

	// closing and each connection's idle flag are atomics, read and set
	// twice per request without a lock shared by every connection; mu
	// guards only the set of connections (once per connection).
	closing atomic.Bool
	mu      sync.Mutex
	conns   map[*leanConn]struct{}

	bufs connBufPool
}

// leanConn is one connection served by the loop.
type leanConn struct {
	conn net.Conn
	idle atomic.Bool // waiting for a request
}

func newLeanServer(g *Gateway, ln net.Listener, listener string) *leanServer {
	s := &leanServer{g: g, listener: listener, ln: ln, conns: map[*leanConn]struct{}{}}
	s.handoff = &handoffListener{ln: ln, ch: make(chan net.Conn), done: make(chan struct{}), onClose: s.close}
	return s
}

// run accepts connections until the listener closes.
func (s *leanServer) run() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			s.g.log.Warn("accept", "listener", s.listener, "err", err)
			time.Sleep(5 * time.Millisecond)
			continue
		}
		lc := &leanConn{conn: c}
		if !s.track(lc) {
			_ = c.Close()
			return
		}
		go s.serveConn(lc)
	}
}

func (s *leanServer) track(lc *leanConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.conns[lc] = struct{}{}
	return true
}

func (s *leanServer) untrack(lc *leanConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, lc)
}

// setIdle marks a connection waiting for a request (or not) and reports
// whether the server is closing. The flag is set before closing is read,
// and close sets closing before it reads the flags: either close sees the
// connection idle and wakes it, or the connection sees closing.
func (s *leanServer) setIdle(lc *leanConn, idle bool) (closing bool) {
	lc.idle.Store(idle)
	return s.closing.Load()
}

// close stops accepting and wakes the idle connections, which then close;
// busy ones close after their response (Gateway.Shutdown waits for them).
func (s *leanServer) close() {
	s.closing.Store(true)
	s.mu.Lock()
	for lc := range s.conns {
		if lc.idle.Load() {
			_ = lc.conn.SetReadDeadline(time.Unix(1, 0))
		}
	}
	s.mu.Unlock()
	_ = s.ln.Close()
}

// serveConn serves the connection's requests until it closes, idles out,
// or is handed over to net/http.
func (s *leanServer) serveConn(lc *leanConn) {
	g := s.g
	done := g.trackConn(lc.conn)
	handed := false
	defer func() {
		// As net/http's server does, a panic ends this connection, not
		// the gateway.
		if p := recover(); p != nil {
			g.log.Error("panic serving a connection", "listener", s.listener, "remote", lc.conn.RemoteAddr().String(),
				"panic", p, "stack", string(debug.Stack()))
		}
		s.untrack(lc)
		if !handed {
			_ = lc.conn.Close()
		}
		done()
	}()
	lim := g.cfg.Limits
	maxHead := lim.MaxHeaderBytes
	if maxHead <= 0 {
		maxHead = http.DefaultMaxHeaderBytes
	}
	cb := s.bufs.get(lc.conn, maxHead+4096) // net/http's own slack
	defer func() { s.bufs.put(cb, handed) }()
	rec, br := &cb.rec, cb.br
	var bw *bufio.Writer // made for the first request the loop serves: a tunnel needs none
	flush := func() error {
		if bw == nil {
			return nil
		}
		return bw.Flush()
	}
	remote := "" // the caller's address as net/http writes it, when a request needs it
	ctx := context.Background()
	for {
		if s.setIdle(lc, true) {
			_ = flush() // a pipelined response still buffered
			return
		}
		idle := time.Time{}
		if d := lim.IdleTimeout.D(); d > 0 {
			idle = time.Now().Add(d)
		}
		_ = lc.conn.SetReadDeadline(idle)
		if _, err := br.Peek(1); err != nil {
			return // closed, idle too long, or woken to close
		}
		if s.setIdle(lc, false) {
			return
		}
		if d := lim.HeaderTimeout.D(); d > 0 {
			_ = lc.conn.SetReadDeadline(time.Now().Add(d))
		}
		rec.start(br)
		req, err := http.ReadRequest(br)
		if err == nil && s.listener == vocab.ListenerProxy && leanConnect(req, rec.buf) {
			rec.stop()
			s.serveConnect(ctx, lc, br, bw, req)
			return
		}
		var c *call
		if err == nil && leanRequest(req) {
			if remote == "" {
				remote = lc.conn.RemoteAddr().String()
			}
			req.RemoteAddr = remote
			var detail string
			if c, detail = g.httpCall(s.listener, req); detail != "" {
				c = nil
			}
		}
		if c == nil {
			// Not ours: net/http reads the request again from its first
			// byte and answers it (a refusal is recorded there).
			if rec.n == 0 && err != nil {
				return // the caller closed between requests
			}
			if flush() != nil {
				return
			}
			_ = lc.conn.SetDeadline(time.Time{})
			handed = true
			s.handoff.give(&replayConn{Conn: lc.conn, prefix: rec.take()})
			return
		}
		rec.stop()
		_ = lc.conn.SetReadDeadline(time.Time{})
		delete(req.Header, "Host")
		if bw == nil {
			bw = bufio.NewWriterSize(lc.conn, 4096)
		}
		keep := g.forwardLean(ctx, bw, req, c)
		if !keep || req.Close {
			_ = bw.Flush()
			return
		}
		if br.Buffered() == 0 { // nothing pipelined behind it: send now
			if bw.Flush() != nil {
				return
			}
		}
	}
}

// leanRequest says whether the loop serves a request: HTTP/1.1, not
// CONNECT (see leanConnect), no body, no upgrade, no Expect, and a head
// net/http's server would accept (a valid Host, valid header names and
// values: the checks it makes beyond http.ReadRequest). One difference:
// an absolute-URI request without a Host header, which net/http refuses,
// is served (its destination is the URI's either way).
func leanRequest(r *http.Request) bool {
	// http.ReadRequest refuses two Host headers and keeps the one in
	// r.Host (the URI's authority wins for an absolute URI, as RFC 9112
	// says), deleting it from Header.
	return r.Method != http.MethodConnect && r.Host != "" && httpguts.ValidHostHeader(r.Host) && leanHead(r)
}

// leanHead checks what every request the loop serves must be: HTTP/1.1,
// no body, no Upgrade or Expect, valid header names and values.
func leanHead(r *http.Request) bool {
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 ||
		r.Body != http.NoBody || len(r.TransferEncoding) > 0 || r.ContentLength != 0 {
		return false
	}
	if r.Header["Upgrade"] != nil || r.Header["Expect"] != nil {
		return false
	}
	for k, vs := range r.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	return true
}

// forwardLean carries one request of the loop: the pipeline, the round
// trip and the response, then the record. It reports whether the
// connection may carry another request.
func (g *Gateway) forwardLean(ctx context.Context, w *bufio.Writer, r *http.Request, c *call) bool {
	r.URL.Scheme, r.URL.Host = c.scheme, c.authority()
	ctx, span := g.startSpan(ctx, c, r.Header, r.Method)
	r = r.WithContext(ctx)
	f := &forward{c: c}
	out, resp, rt := g.prepare(r, f)
	if resp == nil {
		up, err := rt.RoundTrip(out)
		if err != nil {
			up = nil
		}
		resp = g.upstreamResponse(f, r, up, err)
	}
	body := &countingBody{ReadCloser: resp.Body} // no limits: it only counts
	resp.Body = body
	keep := writeLean(w, resp, r)
	_ = body.Close()
	g.complete(ctx, f, resp.StatusCode, body.count())
	endSpan(span, c, resp.StatusCode, f.failure())
	return keep
}

// writeLean writes a response to the caller as HTTP/1.1. The caller's
// connection stays open whatever the upstream's did: a body whose length
// is known only at its end is sent chunked. A streamed body (chunked,
// server-sent events) is flushed as it comes.
func writeLean(w *bufio.Writer, resp *http.Response, req *http.Request) bool {
	resp.Request = req
	resp.ProtoMajor, resp.ProtoMinor, resp.Proto = 1, 1, "HTTP/1.1"
	resp.Close = false
	stream := resp.ContentLength < 0 || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	if resp.ContentLength < 0 && req.Method != http.MethodHead && !chunked(resp.TransferEncoding) {
		resp.TransferEncoding = []string{"chunked"}
	}
	var dst io.Writer = w
	if stream {
		dst = flushEach{w}
	}
	return resp.Write(dst) == nil
}

func chunked(te []string) bool { return len(te) > 0 && te[0] == "chunked" }

// flushEach flushes after every write, for streamed bodies.
type flushEach struct{ w *bufio.Writer }

func (f flushEach) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.w.Flush()
	}
	return n, err
}

// headRecorder sits under the loop's bufio.Reader and keeps every byte of
// the request being read (with what was already buffered when it began),
// so that the connection can be handed to net/http from that request's
// first byte. Past limit bytes it fails the read, as net/http's own
// header limit does; net/http then reads the same bytes and answers 431.
type headRecorder struct {
	r     io.Reader
	on    bool
	buf   []byte
	n     int // bytes recorded for this request
	limit int
}

var errHeadTooLong = errors.New("request head over the limit")

func (h *headRecorder) Read(p []byte) (int, error) {
	if h.on {
		rem := h.limit - h.n
		if rem <= 0 {
			return 0, errHeadTooLong
		}
		if len(p) > rem {
			p = p[:rem]
		}
	}
	n, err := h.r.Read(p)
	if h.on && n > 0 {
		h.buf = append(h.buf, p[:n]...)
		h.n += n
	}
	return n, err
}

// start records from the next byte br hands out.
func (h *headRecorder) start(br *bufio.Reader) {
	h.on, h.n = true, 0
	h.buf = h.buf[:0]
	if k := br.Buffered(); k > 0 {
		b, _ := br.Peek(k)
		h.buf = append(h.buf, b...)
		h.n = k
	}
}

func (h *headRecorder) stop() { h.on = false }

// take returns the recorded bytes, to be replayed.
func (h *headRecorder) take() []byte {
	h.on = false
	return h.buf
}

// replayConn is a connection handed to net/http: reads return the
// recorded bytes first.
type replayConn struct {
	net.Conn
	prefix []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite keeps half-close reachable for tunnels.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// handoffListener is the listener net/http's server serves: the
// connections the loop hands over. Closing it (http.Server.Shutdown)
// closes the loop's listener too.
type handoffListener struct {
	ln      net.Listener
	ch      chan net.Conn
	done    chan struct{}
	once    sync.Once
	onClose func()
}

func (h *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-h.ch:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *handoffListener) Close() error {
	h.once.Do(func() {
		close(h.done)
		h.onClose()
	})
	return nil
}

func (h *handoffListener) Addr() net.Addr { return h.ln.Addr() }

// give hands a connection to net/http's server (or closes it when the
// server has stopped).
func (h *handoffListener) give(c net.Conn) {
	select {
	case h.ch <- c:
	case <-h.done:
		_ = c.Close()
	}
}
