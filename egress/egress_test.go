package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/canon"
	"github.com/sluicehq/sluice/internal/vocab"

	"github.com/sluicehq/sluice/dnsproxy"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/netguard"
)

func TestStripHopByHop(t *testing.T) {
	h := http.Header{"Connection": {"X-A, close"}, "X-A": {"1"}, "Keep-Alive": {"5"}, "Te": {"trailers"},
		"Proxy-Authorization": {"Basic x"}, "Proxy-Connection": {"keep-alive"}, "Upgrade": {"h2c"}, "X-Keep": {"yes"}}
	stripHopByHop(h)
	if !reflect.DeepEqual(h, http.Header{"X-Keep": {"yes"}}) {
		t.Errorf("got %v", h)
	}
	ws := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}
	stripHopByHop(ws)
	if ws.Get("Upgrade") != "websocket" || ws.Get("Connection") != "Upgrade" {
		t.Errorf("websocket upgrade lost: %v", ws)
	}
}

func TestIdentify(t *testing.T) {
	x := newIdentifier(config.Identity{TrustXFCCFrom: []string{"10.0.0.0/8"},
		Sources: []config.Source{{CIDR: "10.1.0.0/16", Workload: "checkout"}, {CIDR: "10.1.2.0/24", Workload: "billing"}}})
	spiffe, _ := url.Parse("spiffe://td/ns/shop/sa/api")
	mtls := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{URIs: []*url.URL{spiffe}}}}
	basic := http.Header{"Proxy-Authorization": {"Basic Y2k6c2VjcmV0"}} // ci:secret
	xfcc := http.Header{"X-Forwarded-Client-Cert": {`By=spiffe://td/ns/egress/sa/gw;Hash=x;URI=spiffe://td/ns/a/sa/first,By=spiffe://td/ns/egress/sa/gw;Subject="CN=a,O=b";URI=spiffe://td/ns/shop/sa/last`}}
	tests := []struct {
		name   string
		ip     string
		state  *tls.ConnectionState
		h      http.Header
		id     string
		source string
		wl     string
	}{
		{"mtls wins", "10.1.2.3", mtls, xfcc, "spiffe://td/ns/shop/sa/api", "mtls", "billing"},
		{"trusted xfcc: last element", "10.9.9.9", nil, xfcc, "spiffe://td/ns/shop/sa/last", "xfcc", "last"},
		{"untrusted xfcc ignored", "192.168.1.1", nil, xfcc, "", "none", ""},
		{"most specific cidr", "10.1.2.3", nil, nil, "billing", "cidr", "billing"},
		{"cidr beats proxy auth", "10.1.9.9", nil, basic, "checkout", "cidr", "checkout"},
		{"proxy auth when nothing better", "192.168.1.1", nil, basic, "ci", "proxy_auth", ""},
		{"none", "192.168.1.1", nil, http.Header{}, "", "none", ""},
	}
	for _, tc := range tests {
		got := x.identify(netip.MustParseAddr(tc.ip), tc.state, tc.h)
		if got.ID != tc.id || got.Source != tc.source || got.Workload != tc.wl {
			t.Errorf("%s: got %+v", tc.name, got)
		}
	}
}

func TestSNICheck(t *testing.T) {
	tests := []struct {
		host, sni string
		err       error
		reason    vocab.Reason
	}{
		{"api.example.com", "API.example.com", nil, ""},
		{"api.example.com", "evil.example.com", nil, vocab.SNIMismatch},
		{"api.example.com", "", nil, vocab.SNIMismatch},
		{"203.0.113.7", "", nil, ""},
		{"api.example.com", "", errors.New("not TLS"), vocab.SNIMismatch},
		// RFC 6066: a host name, without a trailing dot, a port or an address.
		{"api.example.com", "api.example.com.", nil, vocab.BadRequest},
		{"api.example.com", "api.example.com:443", nil, vocab.BadRequest},
		{"api.example.com", "api..example.com", nil, vocab.BadRequest},
		{"203.0.113.7", "203.0.113.7", nil, vocab.BadRequest},
	}
	for _, tc := range tests {
		host, err := canon.ParseHost(tc.host)
		if err != nil {
			t.Fatal(err)
		}
		if _, r, _ := sniCheck(host, tc.sni, tc.err); r != tc.reason {
			t.Errorf("sniCheck(%q, %q) = %q, want %q", tc.host, tc.sni, r, tc.reason)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want vocab.Reason
	}{
		{&netguard.ForbiddenError{}, vocab.ForbiddenAddress},
		{fmt.Errorf("lookup: %w", dnsproxy.ErrNotFound), vocab.DNSFailure},
		{&tls.CertificateVerificationError{Err: errors.New("x")}, vocab.UpstreamTLSError},
		{x509.HostnameError{Certificate: &x509.Certificate{}, Host: "h"}, vocab.UpstreamTLSError},
		{&sanError{}, vocab.UpstreamTLSError},
		{context.DeadlineExceeded, vocab.UpstreamTimeout},
		{fail(vocab.UpstreamTimeout, errors.New("connect")), vocab.UpstreamTimeout},
		{errors.New("connection refused"), vocab.UpstreamUnreachable},
	}
	for _, tc := range tests {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestReadClientHello(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		_ = tls.Client(client, &tls.Config{ServerName: "api.example.com", InsecureSkipVerify: true}).Handshake()
	}()
	sni, raw, err := readClientHello(server, 2*time.Second, nil)
	if err != nil || sni != "api.example.com" || len(raw) < 50 || raw[0] != 0x16 {
		t.Fatalf("sni %q raw %d err %v", sni, len(raw), err)
	}
	c2, s2 := net.Pipe()
	go func() { _, _ = c2.Write([]byte("GET / HTTP/1.1\r\n\r\n")); c2.Close() }()
	if _, _, err := readClientHello(s2, time.Second, nil); err == nil {
		t.Error("plain HTTP read as a ClientHello")
	}
}

func TestMatchSANs(t *testing.T) {
	u, _ := url.Parse("spiffe://partner/api")
	c := &x509.Certificate{DNSNames: []string{"API.partner.example"}, URIs: []*url.URL{u}}
	for want, ok := range map[string]bool{"api.partner.example": true, "spiffe://partner/api": true, "other.example": false} {
		if matchSANs(c, []string{want}) != ok {
			t.Errorf("matchSANs(%s) != %v", want, ok)
		}
	}
}

func TestDenyBody(t *testing.T) {
	resp := denyResponse(nil, vocab.UndeclaredPort, "port 22", "01ABC")
	if resp.StatusCode != 403 || resp.Header.Get("Sluice-Reason") != "undeclared_port" {
		t.Errorf("resp %v", resp)
	}
	want := `{"error":"egress_denied","reason":"undeclared_port","detail":"port 22","request_id":"01ABC"}` + "\n"
	if got := string(denyJSON(vocab.UndeclaredPort, "port 22", "01ABC")); got != want {
		t.Errorf("body %s", got)
	}
	// An allowed call that failed upstream is not called a denial.
	want = `{"error":"egress_failed","reason":"dns_failure","detail":"no such host","request_id":"01ABC"}` + "\n"
	if got := string(denyJSON(vocab.DNSFailure, "no such host", "01ABC")); got != want {
		t.Errorf("body %s", got)
	}
}
