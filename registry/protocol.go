package registry

import "strings"

// Protocol is a ServiceEntry port protocol, normalised to Istio's spelling.
type Protocol string

// The protocols Istio accepts (protocol.Parse, case-insensitive). Empty
// means "sniff".
const (
	ProtoHTTP      Protocol = "HTTP"
	ProtoHTTPS     Protocol = "HTTPS"
	ProtoHTTP2     Protocol = "HTTP2"
	ProtoGRPC      Protocol = "GRPC"
	ProtoGRPCWeb   Protocol = "GRPC-Web"
	ProtoTCP       Protocol = "TCP"
	ProtoTLS       Protocol = "TLS"
	ProtoUDP       Protocol = "UDP"
	ProtoMongo     Protocol = "Mongo"
	ProtoRedis     Protocol = "Redis"
	ProtoMySQL     Protocol = "MySQL"
	ProtoHTTPProxy Protocol = "HTTP_PROXY"
	ProtoUnset     Protocol = ""
)

var protocols = []Protocol{ProtoHTTP, ProtoHTTPS, ProtoHTTP2, ProtoGRPC, ProtoGRPCWeb, ProtoTCP,
	ProtoTLS, ProtoUDP, ProtoMongo, ProtoRedis, ProtoMySQL, ProtoHTTPProxy}

// ParseProtocol returns the canonical protocol for s and whether Istio
// accepts it.
func ParseProtocol(s string) (Protocol, bool) {
	if s == "" {
		return ProtoUnset, true
	}
	for _, p := range protocols {
		if strings.EqualFold(s, string(p)) {
			return p, true
		}
	}
	return Protocol(s), false
}

// IsHTTP reports whether the gateway sees HTTP requests on this port.
func (p Protocol) IsHTTP() bool {
	switch p {
	case ProtoHTTP, ProtoHTTP2, ProtoHTTPProxy, ProtoGRPC, ProtoGRPCWeb:
		return true
	}
	return false
}

// IsTLS reports whether traffic on this port is TLS routed by SNI.
func (p Protocol) IsTLS() bool { return p == ProtoHTTPS || p == ProtoTLS }

// IsTCP reports Istio's TCP class (opaque byte streams).
func (p Protocol) IsTCP() bool {
	switch p {
	case ProtoTCP, ProtoHTTPS, ProtoTLS, ProtoMongo, ProtoRedis, ProtoMySQL:
		return true
	}
	return false
}
