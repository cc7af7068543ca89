// Command floor is the naive forward proxy that bench/egress puts beside
// Sluice as a floor: net/http's server, Transport.RoundTrip for
// absolute-URI requests and io.Copy for CONNECT tunnels, and nothing else
// (no policy, no records, no logs). Whatever Sluice spends per call above
// this is the price of what it does; where Sluice spends less, its own
// data path is leaner than net/http's defaults.
//
//	floor -listen 127.0.0.1:33140
//	floor -lean -listen 127.0.0.1:33141   # the lean floor (lean.go)
//
// It refuses to listen anywhere but loopback: it is an open proxy.
package main

import (
	"context"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:33140", "loopback address to listen on")
	lean := flag.Bool("lean", false, "no net/http server or Transport: a read-forward-write loop per connection (lean.go)")
	flag.Parse()
	ap, err := netip.ParseAddrPort(*listen)
	if err != nil || !ap.Addr().IsLoopback() {
		log.Fatalf("floor: -listen %q: a loopback address and port, please (this is an open proxy)", *listen)
	}
	if *lean {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		if err := serveLean(ctx, *listen); err != nil {
			log.Fatal(err)
		}
		return
	}
	p := &proxy{tr: &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}}
	srv := &http.Server{Addr: *listen, Handler: p, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// proxy forwards absolute-URI requests and tunnels CONNECTs.
type proxy struct{ tr *http.Transport }

// hopByHop are the headers a proxy must not forward (RFC 9110 §7.6.1).
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.tunnel(w, r)
		return
	}
	if !r.URL.IsAbs() {
		http.Error(w, "absolute URI required", http.StatusBadRequest)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	for _, h := range hopByHop {
		out.Header.Del(h)
	}
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for _, h := range hopByHop {
		resp.Header.Del(h)
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func (p *proxy) tunnel(w http.ResponseWriter, r *http.Request) {
	up, err := net.DialTimeout("tcp", r.Host, 10*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "no hijack", http.StatusInternalServerError)
		return
	}
	client, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	_, _ = client.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	if n := buf.Reader.Buffered(); n > 0 {
		b, _ := buf.Reader.Peek(n)
		_, _ = up.Write(b)
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(client, up)
		if c, ok := client.(*net.TCPConn); ok {
			_ = c.CloseWrite()
		}
		close(done)
	}()
	_, _ = io.Copy(up, client)
	if c, ok := up.(*net.TCPConn); ok {
		_ = c.CloseWrite()
	}
	<-done
	client.Close()
	up.Close()
}
