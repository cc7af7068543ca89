package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// echoed is what the echo upstream answers: everything it received.
type echoed struct {
	Method   string              `json:"method"`
	Host     string              `json:"host"`
	Path     string              `json:"path"`
	Header   map[string][]string `json:"header"`
	Body     string              `json:"body"`
	TLS      bool                `json:"tls"`
	ClientCN string              `json:"client_cn"`
}

// upstream is a loopback echo server that also logs every
// Sluice-Request-Id it receives.
type upstream struct {
	srv  *httptest.Server
	Port int
	mu   sync.Mutex
	ids  []string
}

func (u *upstream) handler(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if id := r.Header.Get("Sluice-Request-Id"); id != "" {
		u.mu.Lock()
		u.ids = append(u.ids, id)
		u.mu.Unlock()
	}
	e := echoed{Method: r.Method, Host: r.Host, Path: r.URL.Path, Header: r.Header, Body: string(body), TLS: r.TLS != nil}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		e.ClientCN = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	if strings.HasPrefix(r.URL.Path, "/status/") {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		w.WriteHeader(code)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "X-Upstream-Hop")
	w.Header().Set("X-Upstream-Hop", "must-not-reach-the-caller")
	_ = json.NewEncoder(w).Encode(e)
}

// IDs returns the request ids seen so far.
func (u *upstream) IDs() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.ids...)
}

// startUpstream starts a plain HTTP echo server on 127.0.0.1.
func startUpstream(t testing.TB) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(u.handler))
	t.Cleanup(u.srv.Close)
	u.Port = u.srv.Listener.Addr().(*net.TCPAddr).Port
	return u
}

// startTLSUpstream starts an HTTPS echo server with cert; clientCAs, when
// set, makes it demand client certificates.
func startTLSUpstream(t testing.TB, cert tls.Certificate, clientCAs *testCA) *upstream {
	u := &upstream{}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(u.handler))
	u.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	if clientCAs != nil {
		u.srv.TLS.ClientCAs, u.srv.TLS.ClientAuth = clientCAs.Pool, tls.RequireAndVerifyClientCert
	}
	u.srv.StartTLS()
	t.Cleanup(u.srv.Close)
	u.Port = u.srv.Listener.Addr().(*net.TCPAddr).Port
	return u
}

// zoneUpstream is a loopback DNS server (UDP and TCP) answering from zone
// records; other names get NXDOMAIN.
type zoneUpstream struct {
	Addr    string
	queries atomic.Int64
	rrs     map[string][]dns.RR // "name. TYPE"
}

func startZoneUpstream(t testing.TB, records ...string) *zoneUpstream {
	t.Helper()
	z := &zoneUpstream{rrs: map[string][]dns.RR{}}
	names := map[string]bool{}
	for _, l := range records {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("record %q: %v", l, err)
		}
		n := strings.ToLower(rr.Header().Name)
		names[n] = true
		k := n + " " + dns.TypeToString[rr.Header().Rrtype]
		z.rrs[k] = append(z.rrs[k], rr)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		z.queries.Add(1)
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		n := strings.ToLower(q.Name)
		m.Answer = z.rrs[n+" "+dns.TypeToString[q.Qtype]]
		if !names[n] {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	port := FreePort(t)
	z.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	pc, err := net.ListenPacket("udp", z.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", z.Addr)
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return z
}
