package egress

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/lb"
)

// connCounter is an upstream that counts the connections requests came on.
type connCounter struct {
	mu    sync.Mutex
	conns map[string]int
}

func newConnCounter(t *testing.T, state func(net.Conn, http.ConnState)) (*httptest.Server, *connCounter) {
	cc := &connCounter{conns: map[string]int{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		cc.mu.Lock()
		cc.conns[r.RemoteAddr]++
		cc.mu.Unlock()
	}))
	srv.Config.ConnState = state
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, cc
}

func (cc *connCounter) count() (conns int, perConn []int) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for _, n := range cc.conns {
		perConn = append(perConn, n)
	}
	return len(cc.conns), perConn
}

// poolRequest sends one request through the pool transport of cfg.
func poolRequest(t *testing.T, ts *transports, cfg *lb.Config, addr, method string) {
	t.Helper()
	plan := &dialPlan{addrs: []dialAddr{{network: "tcp", addr: addr}}, pool: &cfg.Pool}
	var body io.Reader
	if method == "POST" {
		body = strings.NewReader("payload")
	}
	req, _ := http.NewRequestWithContext(withPlan(context.Background(), plan), method, "http://"+addr+"/", body)
	resp, err := ts.withPool(ts.plain, cfg).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func TestMaxRequestsPerConnection(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			srv, cc := newConnCounter(t, nil)
			ts := newTransports(&dialer{timeout: time.Second}, time.Minute, time.Second)
			cfg := &lb.Config{Pool: lb.PoolConfig{MaxRequestsPerConnection: 2}}
			for range 6 {
				poolRequest(t, ts, cfg, srv.Listener.Addr().String(), method)
			}
			if n, per := cc.count(); n != 3 {
				t.Fatalf("6 requests, 2 per connection: %d connections %v, want 3", n, per)
			}
		})
	}
}

func TestMaxConnectionDuration(t *testing.T) {
	closed := make(chan struct{}, 10)
	srv, cc := newConnCounter(t, func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	})
	ts := newTransports(&dialer{timeout: time.Second}, time.Minute, time.Second)
	cfg := &lb.Config{Pool: lb.PoolConfig{MaxConnectionDuration: 200 * time.Millisecond}}
	addr := srv.Listener.Addr().String()
	poolRequest(t, ts, cfg, addr, "GET")
	poolRequest(t, ts, cfg, addr, "GET") // same connection, still young
	select {
	case <-closed: // the idle connection is closed once its time is up
	case <-time.After(2 * time.Second):
		t.Fatal("the expired idle connection was not closed")
	}
	poolRequest(t, ts, cfg, addr, "GET")
	if n, per := cc.count(); n != 2 {
		t.Fatalf("%d connections %v, want 2: a new one after maxConnectionDuration", n, per)
	}
}

func TestPoolIdleTimeoutsAndKeepalive(t *testing.T) {
	ts := newTransports(&dialer{timeout: time.Second}, time.Minute, time.Second)
	cfg := &lb.Config{Pool: lb.PoolConfig{IdleTimeout: 3 * time.Second, TCPIdleTimeout: 5 * time.Second}}
	if pt, ok := ts.withPool(ts.plain, cfg).(*poolTransport); !ok || pt.tr.IdleConnTimeout != 3*time.Second {
		t.Fatalf("idle timeout not applied: %+v", ts.withPool(ts.plain, cfg))
	}
	if ts.withPool(ts.plain, &lb.Config{Pool: lb.PoolConfig{MaxConnections: 5}}) != ts.plain {
		t.Fatal("a pool without connection settings got a transport of its own")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	pool := &lb.PoolConfig{KeepAlive: true, KeepAliveTime: 42 * time.Second, KeepAliveInterval: 7 * time.Second, KeepAliveProbes: 3}
	d := &dialer{timeout: time.Second}
	c, err := d.dial(context.Background(), &dialPlan{addrs: []dialAddr{{network: "tcp", addr: ln.Addr().String()}}, pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, _ := c.(*net.TCPConn).SyscallConn()
	var idle, intvl, cnt int
	_ = raw.Control(func(fd uintptr) {
		idle, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		intvl, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL)
		cnt, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT)
	})
	if idle != 42 || intvl != 7 || cnt != 3 {
		t.Fatalf("keepalive idle %d interval %d probes %d, want 42 7 3", idle, intvl, cnt)
	}
}

// TestTunnelConnectionLimits: a tunnel's upstream is closed after
// maxConnectionDuration, and after tcp.idleTimeout without a byte.
func TestTunnelConnectionLimits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	d := &dialer{timeout: time.Second}
	open := func(pool *lb.PoolConfig) (net.Conn, time.Time) {
		c, err := d.dial(context.Background(), &dialPlan{addrs: []dialAddr{{network: "tcp", addr: ln.Addr().String()}}, pool: pool, tunnel: true})
		if err != nil {
			t.Fatal(err)
		}
		return c, time.Now()
	}
	// Busy all along, yet closed at 300ms.
	c, start := open(&lb.PoolConfig{MaxConnectionDuration: 300 * time.Millisecond})
	buf := make([]byte, 1)
	for {
		if _, err := c.Write([]byte("x")); err != nil {
			break
		}
		if _, err := c.Read(buf); err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
		if time.Since(start) > 3*time.Second {
			t.Fatal("tunnel outlived maxConnectionDuration")
		}
	}
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Fatalf("closed after %v", took)
	}
	// Kept open by traffic, then closed once idle for 300ms.
	c, start = open(&lb.PoolConfig{TCPIdleTimeout: 300 * time.Millisecond})
	var idleFrom time.Time
	for i := range 10 {
		if i > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatalf("closed while busy, after %v: %v", time.Since(start), err)
		}
		_, _ = c.Read(buf)
		idleFrom = time.Now()
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Fatal("read after idle")
	}
	if idle := time.Since(idleFrom); idle < 250*time.Millisecond || idle > 2*time.Second {
		t.Fatalf("closed after %v idle, want about 300ms", idle)
	}
}
