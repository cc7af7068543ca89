package egress

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// scriptedUpstream accepts connections on loopback and answers each
// request read on them with respond's bytes; it counts connections.
type scriptedUpstream struct {
	ln    net.Listener
	conns atomic.Int32
}

func newScriptedUpstream(t *testing.T, respond func(n int, r *http.Request, w *bufio.Writer) (closeAfter bool)) *scriptedUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &scriptedUpstream{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.conns.Add(1)
			go func() {
				defer c.Close()
				br, bw := bufio.NewReader(c), bufio.NewWriter(c)
				for n := 1; ; n++ {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					closeAfter := respond(n, r, bw)
					bw.Flush()
					if closeAfter {
						return
					}
				}
			}()
		}
	}()
	return u
}

func (u *scriptedUpstream) addr() string { return u.ln.Addr().String() }

func testH1Client() *h1Client {
	var d net.Dialer
	return newH1Client(func(ctx context.Context, p *dialPlan) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", p.addrs[0].addr)
	}, time.Minute)
}

func h1Get(t *testing.T, cl *h1Client, ctx context.Context, addr, method string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(withPlan(ctx, &dialPlan{addrs: []dialAddr{{network: "tcp", addr: addr}}}), method, "http://"+addr+"/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	return cl.RoundTrip(req)
}

func TestH1ClientPoolsAndRecovers(t *testing.T) {
	ok := func(body string) func(int, *http.Request, *bufio.Writer) bool {
		return func(_ int, r *http.Request, w *bufio.Writer) bool {
			w.WriteString("HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
			if r.Method != http.MethodHead {
				w.WriteString(body)
			}
			return false
		}
	}
	tests := []struct {
		name    string
		respond func(int, *http.Request, *bufio.Writer) bool
		method  string
		calls   int
		conns   int32 // connections the upstream saw
		body    string
	}{
		{"keep-alive reuses one connection", ok("hello"), http.MethodGet, 3, 1, "hello"},
		{"HEAD has no body and keeps its connection", ok("hello"), http.MethodHead, 3, 1, ""},
		{"204 keeps its connection", func(_ int, _ *http.Request, w *bufio.Writer) bool {
			w.WriteString("HTTP/1.1 204 No Content\r\n\r\n")
			return false
		}, http.MethodGet, 3, 1, ""},
		{"Connection: close is honoured", func(_ int, _ *http.Request, w *bufio.Writer) bool {
			w.WriteString("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
			return true
		}, http.MethodGet, 3, 3, "ok"},
		{"an upstream that closes idle connections is retried on a new one", func(_ int, _ *http.Request, w *bufio.Writer) bool {
			w.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return true // closes without saying so: the next use finds it closed
		}, http.MethodGet, 3, 3, "ok"},
		{"interim responses are skipped", func(_ int, _ *http.Request, w *bufio.Writer) bool {
			w.WriteString("HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return false
		}, http.MethodGet, 2, 1, "ok"},
		{"chunked bodies end cleanly", func(_ int, _ *http.Request, w *bufio.Writer) bool {
			w.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
			return false
		}, http.MethodGet, 3, 1, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newScriptedUpstream(t, tt.respond)
			cl := testH1Client()
			defer cl.closeIdle()
			for i := 0; i < tt.calls; i++ {
				resp, err := h1Get(t, cl, context.Background(), up.addr(), tt.method)
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != tt.body {
					t.Fatalf("call %d: body %q, %v", i, b, err)
				}
				time.Sleep(5 * time.Millisecond) // let a closing upstream's FIN arrive
			}
			if got := up.conns.Load(); got != tt.conns {
				t.Errorf("upstream saw %d connections, want %d", got, tt.conns)
			}
		})
	}
}

func TestH1ClientAbandonedBodyClosesTheConnection(t *testing.T) {
	up := newScriptedUpstream(t, func(_ int, _ *http.Request, w *bufio.Writer) bool {
		w.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789")
		return false
	})
	cl := testH1Client()
	for i := 0; i < 2; i++ {
		resp, err := h1Get(t, cl, context.Background(), up.addr(), http.MethodGet)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 3)
		io.ReadFull(resp.Body, buf)
		resp.Body.Close() // seven bytes left: the connection cannot carry another request
	}
	if got := up.conns.Load(); got != 2 {
		t.Errorf("upstream saw %d connections, want 2", got)
	}
}

func TestH1ClientContextEndsTheExchange(t *testing.T) {
	up := newScriptedUpstream(t, func(_ int, _ *http.Request, w *bufio.Writer) bool {
		w.Flush()
		time.Sleep(2 * time.Second)
		return true
	})
	cl := testH1Client()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := h1Get(t, cl, ctx, up.addr(), http.MethodGet)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("took %s: the deadline did not end the read", el)
	}
	if classify(err) != "upstream_timeout" {
		t.Errorf("classified %q", classify(err))
	}
}

func TestH1Eligible(t *testing.T) {
	get, _ := http.NewRequest(http.MethodGet, "http://a.test/", nil)
	post, _ := http.NewRequest(http.MethodPost, "http://a.test/", strings.NewReader("x"))
	up, _ := http.NewRequest(http.MethodGet, "http://a.test/", nil)
	up.Header.Set("Upgrade", "websocket")
	exp, _ := http.NewRequest(http.MethodGet, "http://a.test/", nil)
	exp.Header.Set("Expect", "100-continue")
	for _, tt := range []struct {
		r      *http.Request
		scheme string
		want   bool
	}{{get, "http", true}, {get, "https", false}, {post, "http", false}, {up, "http", false}, {exp, "http", false}} {
		if got := h1Eligible(tt.r, tt.scheme); got != tt.want {
			t.Errorf("%s %s upgrade=%q expect=%q: %v, want %v", tt.r.Method, tt.scheme, tt.r.Header.Get("Upgrade"), tt.r.Header.Get("Expect"), got, tt.want)
		}
	}
}
