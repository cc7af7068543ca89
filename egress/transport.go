package egress

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// transports pools upstream connections per TLS profile: one
// http.Transport for plain HTTP and one per DestinationRule TLS setting
// (registry.TLSOrigination.Key). Inside a transport, connections are
// pooled per destination host:port by net/http. Creating a transport per
// request would defeat keep-alive, so they live as long as the gateway.
type transports struct {
	dial   *dialer
	idle   time.Duration
	tlsTO  time.Duration
	plain  *http.Transport
	mu     sync.Mutex
	byKey  map[string]*http.Transport
	system *http.Transport            // https:// absolute URIs without a DestinationRule
	pools  map[poolKey]*poolTransport // routes bounding their connections (pool.go)
	// h1 carries plain-HTTP requests without a body on the caller's
	// goroutine (h1client.go), unless the route bounds its connections.
	h1 *h1Client
}

func newTransports(d *dialer, idle, handshake time.Duration) *transports {
	t := &transports{dial: d, idle: idle, tlsTO: handshake, byKey: map[string]*http.Transport{}}
	t.plain = t.build(nil)
	t.system = t.build(&tls.Config{MinVersion: tls.VersionTLS12})
	t.h1 = newH1Client(d.dial, idle)
	return t
}

func (t *transports) build(tc *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy: nil, // never the environment's proxy
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return t.dial.dial(ctx, planFrom(ctx))
		},
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   t.tlsTO,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       t.idle,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // pass bodies through as they are
		ForceAttemptHTTP2:     tc != nil,
	}
}

// forRoute returns the transport for a route's TLS origination (nil TLS:
// plain HTTP).
func (t *transports) forRoute(o *registry.TLSOrigination, e *registry.Entry) *http.Transport {
	if o == nil {
		return t.plain
	}
	sans := o.SubjectAltNames
	if len(sans) == 0 && e != nil {
		sans = e.SubjectAltNames // ServiceEntry SANs apply when the rule gives none
	}
	key := o.Key
	if len(o.SubjectAltNames) == 0 && len(sans) > 0 {
		key += "|" + strings.Join(sans, ",")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr, ok := t.byKey[key]; ok {
		return tr
	}
	tr := t.build(originationConfig(o, sans))
	t.byKey[key] = tr
	return tr
}

// closeIdle drops idle connections everywhere (after a registry reload, so
// that new calls dial the new endpoints).
func (t *transports) closeIdle() {
	t.plain.CloseIdleConnections()
	t.h1.closeIdle()
	t.system.CloseIdleConnections()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tr := range t.byKey {
		tr.CloseIdleConnections()
	}
	for _, pt := range t.pools {
		pt.tr.CloseIdleConnections()
	}
}
