package main

import (
	"bufio"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"
)

// serveLean is the -lean floor: no net/http server and no Transport. One
// goroutine per client connection reads a request (http.ReadRequest),
// writes it on a pooled upstream connection (Request.Write), reads the
// response (http.ReadResponse) and writes it back (Response.Write). It
// measures what a data path built that way could cost, with nothing of
// what Sluice does per call; #18's design note compares the two floors.
// Only absolute-URI requests without a body, and CONNECT.
func serveLean(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	p := &leanPool{idle: map[string][]*leanConn{}}
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go p.serve(c)
	}
}

type leanConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

type leanPool struct {
	mu   sync.Mutex
	idle map[string][]*leanConn
}

func (p *leanPool) get(addr string) (*leanConn, error) {
	p.mu.Lock()
	if l := p.idle[addr]; len(l) > 0 {
		u := l[len(l)-1]
		p.idle[addr] = l[:len(l)-1]
		p.mu.Unlock()
		return u, nil
	}
	p.mu.Unlock()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return &leanConn{c: c, br: bufio.NewReader(c), bw: bufio.NewWriter(c)}, nil
}

func (p *leanPool) put(addr string, u *leanConn) {
	p.mu.Lock()
	p.idle[addr] = append(p.idle[addr], u)
	p.mu.Unlock()
}

func (p *leanPool) serve(c net.Conn) {
	defer c.Close()
	br, bw := bufio.NewReader(c), bufio.NewWriter(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if req.Method == http.MethodConnect {
			tunnelLean(c, br, req.Host)
			return
		}
		if !req.URL.IsAbs() || req.ContentLength != 0 {
			bw.WriteString("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			bw.Flush()
			return
		}
		addr := req.URL.Host
		if req.URL.Port() == "" {
			addr += ":80"
		}
		for _, h := range hopByHop {
			req.Header.Del(h)
		}
		u, err := p.get(addr)
		if err != nil {
			bw.WriteString("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
			bw.Flush()
			continue
		}
		resp, err := roundTripLean(u, req)
		if err != nil {
			u.c.Close()
			return
		}
		keep := !resp.Close
		for _, h := range hopByHop {
			resp.Header.Del(h)
		}
		werr := resp.Write(bw)
		_, _ = io.Copy(io.Discard, resp.Body)
		if keep && werr == nil {
			p.put(addr, u)
		} else {
			u.c.Close()
		}
		if werr != nil {
			return
		}
		if br.Buffered() == 0 {
			if bw.Flush() != nil {
				return
			}
		}
	}
}

func roundTripLean(u *leanConn, req *http.Request) (*http.Response, error) {
	if err := req.Write(u.bw); err != nil {
		return nil, err
	}
	if err := u.bw.Flush(); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(u.br, req)
	if err != nil {
		log.Printf("lean: %v", err)
	}
	return resp, err
}

// tunnelLean dials host and splices it with the client, as the floor's
// tunnel does.
func tunnelLean(c net.Conn, br *bufio.Reader, host string) {
	up, err := net.DialTimeout("tcp", host, 10*time.Second)
	if err != nil {
		_, _ = c.Write([]byte("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"))
		return
	}
	defer up.Close()
	if _, err := c.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(c, up)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		close(done)
	}()
	_, _ = io.Copy(up, br) // br holds whatever the client sent after CONNECT
	if tc, ok := up.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	<-done
}
