package egress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"
)

// h1Client carries plain-HTTP requests without a body to their upstream
// on the caller's own goroutine: Request.Write, then http.ReadResponse,
// on a pooled keep-alive connection. net/http's Transport hands every
// request to two goroutines of the connection (writeLoop, readLoop) and
// back; profiling (#18) showed those handoffs to be a third of what a
// forwarded call costs. A request with a body, an upgrade, Expect or TLS
// still goes through the Transport (see h1Eligible): they need the
// Transport's concurrent write and read, or HTTP/2.
//
// A connection is used by one request at a time. It goes back to the
// pool when the caller has read the response body to its end, and is
// closed otherwise. There is no background reader: an idle connection the
// upstream has closed is found on its next use, and a request without a
// body is then sent again on a new connection (as the Transport does).
type h1Client struct {
	dial        func(context.Context, *dialPlan) (net.Conn, error)
	idleTimeout time.Duration
	maxPerHost  int

	mu        sync.Mutex
	idle      map[string][]*h1Conn // by upstream host:port, most recent last
	gen       uint64               // bumped by closeIdle: older connections are not pooled again
	lastSweep time.Time
}

// h1Conn is one upstream connection with its buffers.
type h1Conn struct {
	conn  net.Conn
	br    *bufio.Reader
	bw    *bufio.Writer
	key   string
	gen   uint64
	since time.Time // when it was last put back
}

func newH1Client(dial func(context.Context, *dialPlan) (net.Conn, error), idle time.Duration) *h1Client {
	if idle <= 0 {
		idle = 90 * time.Second
	}
	return &h1Client{dial: dial, idleTimeout: idle, maxPerHost: 256, idle: map[string][]*h1Conn{}}
}

// h1Eligible says whether a prepared upstream request may take the
// single-goroutine path: plain HTTP, no body, no upgrade, no Expect.
func h1Eligible(out *http.Request, scheme string) bool {
	return scheme == "http" && (out.Body == nil || out.Body == http.NoBody) && out.ContentLength == 0 &&
		out.Header["Upgrade"] == nil && out.Header["Expect"] == nil
}

// errStaleConn marks a failure on a reused connection before any byte of
// the response: the upstream had closed it while it was idle.
var errStaleConn = errors.New("idle upstream connection was closed")

// RoundTrip sends req and reads the response head. The response body
// keeps the connection until it is read to its end or closed.
func (t *h1Client) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for {
		pc, reused, err := t.conn(ctx, req.URL.Host)
		if err != nil {
			return nil, err
		}
		if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.GotConn != nil {
			trace.GotConn(httptrace.GotConnInfo{Conn: pc.conn, Reused: reused})
		}
		resp, err := t.exchange(ctx, pc, req, reused)
		if errors.Is(err, errStaleConn) && ctx.Err() == nil {
			continue // a bodyless request is safe to send again, on a new connection
		}
		return resp, err
	}
}

// exchange writes req on pc and reads the response head.
func (t *h1Client) exchange(ctx context.Context, pc *h1Conn, req *http.Request, reused bool) (*http.Response, error) {
	// The request's context ends the exchange at any point, body included:
	// a deadline in the past wakes every blocked read and write.
	stop := context.AfterFunc(ctx, func() { _ = pc.conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = pc.conn.Close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("upstream exchange: %w", context.Cause(ctx))
		}
		return nil, err
	}
	if err := req.Write(pc.bw); err != nil {
		return fail(fmt.Errorf("write request upstream: %w", err))
	}
	if err := pc.bw.Flush(); err != nil {
		if reused {
			return fail(errStaleConn)
		}
		return fail(fmt.Errorf("write request upstream: %w", err))
	}
	for {
		resp, err := http.ReadResponse(pc.br, req)
		if err != nil {
			if reused && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err)) {
				return fail(errStaleConn)
			}
			return fail(fmt.Errorf("read response from upstream: %w", err))
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue // an interim response (103 Early Hints): the final one follows
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return fail(errors.New("upstream switched protocols on a request that asked for no upgrade"))
		}
		keep := !resp.Close && !req.Close
		resp.Body = &h1Body{rc: resp.Body, pc: pc, t: t, stop: stop, keep: keep, none: resp.Body == http.NoBody}
		return resp, nil
	}
}

// isReset reports a connection reset by the peer.
func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}

// conn returns an idle connection to key, or dials one by the request's
// plan (the dialer checks every address, as for any call).
func (t *h1Client) conn(ctx context.Context, key string) (*h1Conn, bool, error) {
	now := time.Now()
	t.mu.Lock()
	for l := t.idle[key]; len(l) > 0; l = t.idle[key] {
		pc := l[len(l)-1]
		l[len(l)-1] = nil
		t.idle[key] = l[:len(l)-1]
		if now.Sub(pc.since) < t.idleTimeout {
			t.mu.Unlock()
			return pc, true, nil
		}
		_ = pc.conn.Close()
	}
	gen := t.gen
	t.mu.Unlock()
	c, err := t.dial(ctx, planFrom(ctx))
	if err != nil {
		return nil, false, err
	}
	return &h1Conn{conn: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096), key: key, gen: gen}, false, nil
}

// put returns a connection whose response was read to its end. Now and
// then it also closes the connections idle for longer than idleTimeout.
func (t *h1Client) put(pc *h1Conn) {
	now := time.Now()
	pc.since = now
	t.mu.Lock()
	defer t.mu.Unlock()
	if pc.gen != t.gen || len(t.idle[pc.key]) >= t.maxPerHost {
		_ = pc.conn.Close()
		return
	}
	t.idle[pc.key] = append(t.idle[pc.key], pc)
	if now.Sub(t.lastSweep) < t.idleTimeout/4 {
		return
	}
	t.lastSweep = now
	for k, l := range t.idle {
		kept := l[:0]
		for _, c := range l {
			if now.Sub(c.since) < t.idleTimeout {
				kept = append(kept, c)
			} else {
				_ = c.conn.Close()
			}
		}
		clear(l[len(kept):])
		if len(kept) == 0 {
			delete(t.idle, k)
		} else {
			t.idle[k] = kept
		}
	}
}

// closeIdle closes every idle connection; connections in use are closed
// when their response ends (after a registry reload, new calls dial the
// new endpoints).
func (t *h1Client) closeIdle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen++
	for k, l := range t.idle {
		for _, c := range l {
			_ = c.conn.Close()
		}
		delete(t.idle, k)
	}
}

// h1Body is a response body that gives its connection back to the pool
// at its end, or closes it when abandoned.
type h1Body struct {
	rc   io.ReadCloser
	pc   *h1Conn
	t    *h1Client
	stop func() bool
	keep bool // the connection may carry another request
	none bool // a response without a body (HEAD, 204, 304)
	done bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.release(true)
	} else if err != nil {
		b.release(false)
	}
	return n, err
}

func (b *h1Body) Close() error {
	if !b.done {
		b.release(b.none)
	}
	return nil
}

// release ends the exchange: the connection is pooled when the body was
// read whole, the connection may be kept and the request's context did
// not end it; otherwise it is closed.
func (b *h1Body) release(whole bool) {
	b.done = true
	_ = b.rc.Close()
	if b.stop() && whole && b.keep {
		b.t.put(b.pc)
		return
	}
	_ = b.pc.conn.Close()
}
