package egress

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/sources"
	"github.com/sluicehq/sluice/internal/vocab"
)

// Identity is who is calling.
type Identity struct {
	ID       string     `json:"id"`     // SPIFFE ID, certificate CN, workload or proxy user
	Source   string     `json:"source"` // one of the vocab.Identity* sources
	IP       netip.Addr `json:"ip,omitzero"`
	Workload string     `json:"workload,omitempty"`
}

// identifier turns connection facts into an Identity (docs/contract.md §5,
// issue: caller identity). Precedence: mTLS client certificate on the
// proxy listener, then X-Forwarded-Client-Cert from a trusted mesh
// sidecar, then the identity.sources CIDR map, then a Proxy-Authorization
// Basic user, else none.
type identifier struct {
	trustXFCC []netip.Prefix
	sources   *sources.Map
}

func newIdentifier(c config.Identity) *identifier {
	id := &identifier{sources: sources.New(c.Sources)}
	for _, s := range c.TrustXFCCFrom {
		if p, err := config.ParsePrefix(s); err == nil {
			id.trustXFCC = append(id.trustXFCC, p)
		}
	}
	return id
}

// identify works out the caller. state is the client TLS connection state
// (proxy listener with proxy_tls), h the request headers (nil for the tls
// listener).
func (x *identifier) identify(ip netip.Addr, state *tls.ConnectionState, h http.Header) Identity {
	id := Identity{IP: ip.Unmap(), Source: vocab.IdentityNone}
	id.Workload = x.sources.Workload(id.IP)
	switch {
	case state != nil && len(state.PeerCertificates) > 0:
		id.ID, id.Source = certIdentity(state.PeerCertificates[0]), vocab.IdentityMTLS
	case h != nil && h.Get("X-Forwarded-Client-Cert") != "" && x.trusted(id.IP):
		if u := xfccURI(h.Get("X-Forwarded-Client-Cert")); u != "" {
			id.ID, id.Source = u, vocab.IdentityXFCC
		}
	}
	if id.Source == vocab.IdentityNone && id.Workload != "" {
		id.ID, id.Source = id.Workload, vocab.IdentityCIDR
	}
	if id.Source == vocab.IdentityNone && h != nil {
		if user := basicUser(h.Get("Proxy-Authorization")); user != "" {
			id.ID, id.Source = user, vocab.IdentityProxyAuth
		}
	}
	if id.Workload == "" && strings.HasPrefix(id.ID, "spiffe://") {
		id.Workload = spiffeWorkload(id.ID)
	}
	return id
}

func (x *identifier) trusted(ip netip.Addr) bool {
	for _, p := range x.trustXFCC {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// certIdentity is the first SPIFFE URI SAN, else any URI SAN, else the CN.
func certIdentity(c *x509.Certificate) string {
	for _, u := range c.URIs {
		if u.Scheme == "spiffe" {
			return u.String()
		}
	}
	if len(c.URIs) > 0 {
		return c.URIs[0].String()
	}
	return c.Subject.CommonName
}

// xfccURI returns the URI of the last element of an Envoy
// X-Forwarded-Client-Cert header: the client of the hop that called us.
func xfccURI(v string) string {
	elems := splitQuoted(v, ',')
	if len(elems) == 0 {
		return ""
	}
	for _, kv := range splitQuoted(elems[len(elems)-1], ';') {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && strings.EqualFold(k, "URI") {
			val = strings.Trim(val, `"`)
			if u, err := url.Parse(val); err == nil && u.Scheme != "" {
				return val
			}
		}
	}
	return ""
}

// splitQuoted splits on sep outside double quotes.
func splitQuoted(s string, sep byte) []string {
	var out []string
	inQ, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"' && (i == 0 || s[i-1] != '\\'):
			inQ = !inQ
		case s[i] == sep && !inQ:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// basicUser returns the user of a "Basic" Proxy-Authorization header.
func basicUser(v string) string {
	scheme, cred, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return ""
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return ""
	}
	user, _, _ := strings.Cut(string(b), ":")
	return user
}

// spiffeWorkload takes the service account from a Kubernetes-style SPIFFE
// ID (spiffe://td/ns/NS/sa/SA).
func spiffeWorkload(id string) string {
	parts := strings.Split(id, "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "sa" {
			return parts[i+1]
		}
	}
	return ""
}
