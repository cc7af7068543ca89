package registry

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"

	"github.com/sluicehq/sluice/internal/canon"
	"github.com/sluicehq/sluice/internal/lb"
)

// Entry is a validated ServiceEntry in the form the gateway uses.
type Entry struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Hosts       []string          `json:"hosts"` // normalised: lower case, no trailing dot
	Addresses   []string          `json:"addresses,omitempty"`
	Ports       []Port            `json:"ports"`
	Location    string            `json:"location"`
	Resolution  string            `json:"resolution"`
	Endpoints   []Endpoint        `json:"endpoints,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// SubjectAltNames are verified on upstream certificates when the
	// DestinationRule gives none.
	SubjectAltNames []string `json:"subjectAltNames,omitempty"`
	Source          Source   `json:"source"`

	prefixes []netip.Prefix // Addresses, parsed (IPs as /32 or /128)
}

// ID is "namespace/name".
func (e *Entry) ID() string { return e.Namespace + "/" + e.Name }

// Port is a declared port.
type Port struct {
	Number     int      `json:"number"`
	Name       string   `json:"name"`
	Protocol   Protocol `json:"protocol"`
	TargetPort int      `json:"targetPort,omitempty"`
}

// DialPort is the port dialled upstream: targetPort, else the number.
func (p Port) DialPort() int {
	if p.TargetPort != 0 {
		return p.TargetPort
	}
	return p.Number
}

// Endpoint is a declared endpoint: an IP (STATIC, or DNS given an IP), a
// name to resolve (DNS), or a unix socket.
type Endpoint struct {
	Address string            `json:"address"`
	Ports   map[string]int    `json:"ports,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	Weight  int               `json:"weight,omitempty"`
	IP      netip.Addr        `json:"-"` // valid when Address is an IP literal
}

// Route is the answer of a lookup: what is declared for one (host, port).
type Route struct {
	Entry *Entry `json:"-"`
	// Host is the declared host that matched (a wildcard pattern, an exact
	// name, or an address for IP-literal destinations).
	Host string `json:"host"`
	Port Port   `json:"port"`
	// TLS is the origination to apply to plain HTTP on this route; nil
	// means none (plain HTTP stays plain, TLS passes through).
	TLS *TLSOrigination `json:"tls,omitempty"`
	// DestinationRule is "namespace/name" of the rule whose TLS applies.
	DestinationRule string `json:"destinationRule,omitempty"`
	// Traffic is the rule's load balancing, connection pool and outlier
	// detection for this port (Istio's precedence applied); nil when it
	// sets none, and then calls take the plain path.
	Traffic *lb.Config `json:"trafficPolicy,omitempty"`
	// Cluster names the state Traffic keeps across calls:
	// "namespace/entry:port".
	Cluster string `json:"cluster,omitempty"`
	// VirtualService is "namespace/name" of the VirtualService whose
	// http rules route this host and port, in order; HTTP its rules.
	VirtualService string     `json:"virtualService,omitempty"`
	HTTP           []HTTPRule `json:"http,omitempty"`
	// L4 are its tls and tcp rules, for a port that is not HTTP: they
	// route passthrough traffic (tunnels, the tls listener).
	L4 []L4Rule `json:"l4,omitempty"`
}

// TLSOrigination is the resolved DestinationRule TLS policy for a route,
// with its certificates already loaded so that a call never reads files.
type TLSOrigination struct {
	Mode string `json:"mode"` // SIMPLE or MUTUAL
	// SNI to send; "" means the requested host.
	SNI string `json:"sni,omitempty"`
	// SubjectAltNames to verify; empty means verify against the SNI.
	SubjectAltNames    []string `json:"subjectAltNames,omitempty"`
	InsecureSkipVerify bool     `json:"insecureSkipVerify,omitempty"`
	CACertificates     string   `json:"caCertificates,omitempty"`
	ClientCertificate  string   `json:"clientCertificate,omitempty"`
	PrivateKey         string   `json:"privateKey,omitempty"`
	CACrl              string   `json:"caCrl,omitempty"`

	// RootCAs verifies the upstream; nil means the system pool.
	RootCAs *x509.CertPool `json:"-"`
	// ClientCert is presented in MUTUAL mode.
	ClientCert *tls.Certificate `json:"-"`
	// CRL lists revoked upstream certificates (caCrl), if given.
	CRL *x509.RevocationList `json:"-"`
	// Key identifies the TLS profile (for connection pools): two routes with
	// equal keys can share upstream connections.
	Key string `json:"-"`
}

// Target is one place a call may be dialled.
type Target struct {
	// Host is a name to resolve through the gateway's resolver; empty
	// when IP or Unix is set.
	Host string
	// IP is a declared address (STATIC endpoint, DNS endpoint given as an
	// IP, or a ServiceEntry address): allowed even when private.
	IP netip.Addr
	// Unix is a unix socket path.
	Unix string
	Port int
	// Weight is the endpoint's weight for load balancing (0: 1).
	Weight int
	// Labels are the endpoint's labels (subsets select by them).
	Labels map[string]string
}

// Declared reports whether the target's address was declared explicitly
// (and so may be private), rather than resolved.
func (t Target) Declared() bool { return t.IP.IsValid() || t.Unix != "" }

// Targets lists where a call to requestHost on this route goes, in order
// of preference. requestHost is the canonical name (or IP literal) the
// caller asked for.
func (r *Route) Targets(requestHost canon.Host) []Target {
	e, p := r.Entry, r.Port
	if ip, ok := requestHost.Addr(); ok {
		// IP-literal destinations are declared by addresses; dial the IP.
		return []Target{{IP: ip, Port: p.DialPort()}}
	}
	switch e.Resolution {
	case ResolutionStatic, ResolutionDNS, ResolutionDNSRoundRobin:
		if len(e.Endpoints) > 0 {
			ts := make([]Target, 0, len(e.Endpoints))
			for _, ep := range e.Endpoints {
				port := p.DialPort()
				if n, ok := ep.Ports[p.Name]; ok {
					port = n
				}
				switch {
				case ep.IP.IsValid():
					ts = append(ts, Target{IP: ep.IP, Port: port, Weight: ep.Weight, Labels: ep.Labels})
				case len(ep.Address) > len(unixAddressPrefix) && ep.Address[:len(unixAddressPrefix)] == unixAddressPrefix:
					ts = append(ts, Target{Unix: ep.Address[len(unixAddressPrefix):], Weight: ep.Weight, Labels: ep.Labels})
				default:
					ts = append(ts, Target{Host: ep.Address, Port: port, Weight: ep.Weight, Labels: ep.Labels})
				}
			}
			return ts
		}
		if e.Resolution == ResolutionStatic {
			return nil
		}
	}
	return []Target{{Host: requestHost.String(), Port: p.DialPort()}}
}
