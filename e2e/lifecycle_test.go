package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Oversized request headers get 431; a caller that trickles its headers
// (slowloris) is cut off after limits.header_timeout; connections over
// limits.max_connections are refused at once.
func TestLimits(t *testing.T) {
	up := startUpstream(t)
	g := StartGateway(t, Options{
		Config: "limits: {max_header_bytes: 4096, header_timeout: 1s, max_connections: 20}\n",
		Files:  map[string]string{"registry/api.yaml": staticSE("api", "api.test.example", 80, "HTTP", up.Port)},
	})
	status, _, _, _ := curl(t, "-x", "http://"+g.Proxy, "http://api.test.example/", "-H", "X-Big: "+strings.Repeat("a", 10000))
	if status != 431 {
		t.Errorf("oversized headers: %d, want 431", status)
	}
	c, err := net.Dial("tcp", g.Proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET http://api.test.example/ HTTP/1.1\r\nHost: api.test.example\r\nX-Slow: ")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(c)
	if err != nil || time.Since(start) > 4*time.Second {
		t.Errorf("slow headers not cut off: %v after %s", err, time.Since(start))
	}
	var conns []net.Conn
	for i := 0; i < 20; i++ {
		c, err := net.Dial("tcp", g.Proxy)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	time.Sleep(200 * time.Millisecond)
	extra, err := net.Dial("tcp", g.Proxy)
	if err == nil {
		_ = extra.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, rerr := extra.Read(make([]byte, 1))
		if n != 0 || rerr == nil {
			t.Errorf("connection over the limit stayed open")
		}
		extra.Close()
	}
	for _, c := range conns {
		c.Close()
	}
	time.Sleep(200 * time.Millisecond)
	if status, _, _, _ := curl(t, "-x", "http://"+g.Proxy, "http://api.test.example/"); status != 200 {
		t.Errorf("after the burst: %d", status)
	}
}

// SIGTERM drains: a call in flight finishes, new connections are refused,
// the process exits 0 before the deadline.
func TestGracefulDrain(t *testing.T) {
	slow := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(1500 * time.Millisecond)
		_, _ = io.WriteString(w, "done")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = slow.Serve(ln) }()
	defer slow.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	g := StartGateway(t, Options{
		Config: "limits: {drain_timeout: 10s}\n",
		Files:  map[string]string{"registry/slow.yaml": staticSE("slow", "slow.test.example", 80, "HTTP", port)},
	})
	var wg sync.WaitGroup
	var status int
	var body string
	wg.Add(1)
	go func() {
		defer wg.Done()
		status, body, _, _ = curl(t, "-x", "http://"+g.Proxy, "http://slow.test.example/")
	}()
	time.Sleep(500 * time.Millisecond)
	g.Signal(syscall.SIGTERM)
	wg.Wait()
	if status != 200 || !strings.Contains(body, "done") {
		t.Errorf("in-flight call during drain: %d %q", status, body)
	}
	if !g.Exited(15 * time.Second) {
		t.Fatal("gateway did not exit after draining")
	}
	if code := g.ExitCode(); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// registry.mode: report lets undeclared destinations through and records
// them as would-deny (decision deny, enforced false).
func TestRegistryReportMode(t *testing.T) {
	up := startUpstream(t)
	g := StartGateway(t, Options{
		Config: "registry: {mode: report}\n",
		Files:  map[string]string{"registry/other.yaml": staticSE("other", "other.test.example", 80, "HTTP", up.Port)},
	})
	// 127.0.0.1 is forbidden for undeclared destinations even in report
	// mode: that refusal is enforced, and recorded as one.
	status, body, _, _ := curl(t, "-x", "http://"+g.Proxy, fmt.Sprintf("http://127.0.0.1:%d/", up.Port), "-D", "-")
	if status != 403 || !strings.Contains(body, "forbidden_address") {
		t.Errorf("undeclared loopback in report mode: %d %s", status, body)
	}
	waitRecord(t, g, url.Values{"decision": {"deny"}}, "forbidden record", func(r record) bool {
		return r.str("reason") == "forbidden_address" && r["enforced"] == true && r.str("host") == "127.0.0.1"
	})
	// An undeclared name is let through (it then fails to resolve: no
	// network here) and recorded as a would-deny.
	curl(t, "-x", "http://"+g.Proxy, "http://undeclared.test.example/")
	waitRecord(t, g, url.Values{"decision": {"deny"}}, "would-deny record", func(r record) bool {
		return r.str("reason") == "undeclared_destination" && r["enforced"] == false && r.str("host") == "undeclared.test.example"
	})
}

// A registry reload does not drop connections: a keep-alive tunnel opened
// before the reload keeps working after it, and new calls see the new set.
func TestReloadKeepsConnections(t *testing.T) {
	ca := newCA(t, "test-ca")
	up := startTLSUpstream(t, ca.issue("s", false, "secure.test.example"), nil)
	g := StartGateway(t, Options{Files: map[string]string{"registry/secure.yaml": staticSE("secure", "secure.test.example", 443, "HTTPS", up.Port)}})
	proxy, _ := url.Parse("http://" + g.Proxy)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy),
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool}, MaxConnsPerHost: 1}}
	get := func() error {
		resp, err := client.Get("https://secure.test.example/x")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	if err := get(); err != nil {
		t.Fatal(err)
	}
	// Reload with the destination removed: the open tunnel goes on, new
	// tunnels are refused.
	g.WriteRegistry("secure.yaml", staticSE("other", "other.test.example", 443, "HTTPS", up.Port))
	Eventually(t, 10*time.Second, "the reload", func() bool {
		_, body := g.AdminGet("/v1/registry")
		return strings.Contains(string(body), `"generation": 2`)
	})
	for i := 0; i < 3; i++ {
		if err := get(); err != nil {
			t.Fatalf("request %d on the tunnel opened before the reload: %v", i, err)
		}
	}
	if status, _ := rawConnect(t, g.Proxy, "secure.test.example:443"); status != 403 {
		t.Errorf("new tunnel after the reload: %d, want 403", status)
	}
}
