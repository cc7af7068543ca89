// Package vocab is Sluice's vocabulary, written once: the reason codes of
// denials and failures, the listener names, the call kinds, the identity
// sources, the decisions and the record events (docs/contract.md §5, §7,
// §8). Every package that decides, records, answers or counts uses these
// names; adding a reason is one line here and the place that decides.
package vocab

import "net/http"

// Reason says why a call was denied, or why an allowed call failed. It is
// the Sluice-Reason header, the deny body's "reason", the record's reason
// and the metrics' reason label.
type Reason string

// The reason codes (docs/contract.md §7).
const (
	// Refusals: the gateway decided not to let the call out.
	UndeclaredDestination Reason = "undeclared_destination" // no ServiceEntry declares the host
	UndeclaredPort        Reason = "undeclared_port"        // the host is declared, the port is not
	PolicyDenied          Reason = "policy_denied"          // data.sluice.egress.allow is false
	PolicyError           Reason = "policy_error"           // the policy could not decide
	ForbiddenAddress      Reason = "forbidden_address"      // every address is private, reserved or the gateway
	SNIMismatch           Reason = "sni_mismatch"           // the ClientHello names another host, or none
	HostMismatch          Reason = "host_mismatch"          // a request in an HTTP tunnel names another host
	IdentityRequired      Reason = "identity_required"      // identity.required and the caller has none
	AuditUnavailable      Reason = "audit_unavailable"      // the record cannot be written (on_failure: deny)
	BadRequest            Reason = "bad_request"            // malformed: not a host name, bad SNI, too slow a body, …
	NoRoute               Reason = "no_route"               // a VirtualService applies to the destination and none of its rules matches (Envoy's NR, 404)

	// Failures: the call was allowed and could not be completed.
	DNSFailure          Reason = "dns_failure"          // the destination's name did not resolve
	UpstreamUnreachable Reason = "upstream_unreachable" // connect failed, or the upstream went away
	UpstreamTLSError    Reason = "upstream_tls_error"   // the upstream's certificate or handshake failed
	UpstreamTimeout     Reason = "upstream_timeout"     // connect or request timed out
	UpstreamOverflow    Reason = "upstream_overflow"    // the destination's connection pool and pending queue are full
)

// Reasons of a refused request to the admin API, recorded in the
// audit_read trail (docs/contract.md §8). Not a call's reasons: Reasons
// does not list them.
const (
	AdminUnauthorized Reason = "admin_unauthorized" // 401: no token, or one that is neither the admin nor the auditor token
	AdminForbidden    Reason = "admin_forbidden"    // 403: the token's role may not use the path
)

// Reasons lists every reason code, refusals first.
func Reasons() []Reason {
	return []Reason{
		UndeclaredDestination, UndeclaredPort, PolicyDenied, PolicyError, ForbiddenAddress, SNIMismatch, HostMismatch,
		IdentityRequired, AuditUnavailable, BadRequest, NoRoute, DNSFailure, UpstreamUnreachable, UpstreamTLSError, UpstreamTimeout,
		UpstreamOverflow,
	}
}

// Status is the HTTP status a reason answers with.
func (r Reason) Status() int {
	switch r {
	case AuditUnavailable, UpstreamOverflow:
		return http.StatusServiceUnavailable
	case DNSFailure, UpstreamUnreachable, UpstreamTLSError:
		return http.StatusBadGateway
	case UpstreamTimeout:
		return http.StatusGatewayTimeout
	case BadRequest:
		return http.StatusBadRequest
	case NoRoute:
		return http.StatusNotFound
	}
	return http.StatusForbidden
}

// Refusal reports whether the reason is the gateway's own decision (a
// denial on record) rather than a failure of an allowed call.
func (r Reason) Refusal() bool {
	switch r {
	case DNSFailure, UpstreamUnreachable, UpstreamTLSError, UpstreamTimeout, UpstreamOverflow:
		return false
	}
	return r != ""
}

// String returns the code.
func (r Reason) String() string { return string(r) }

// Listener names, as recorded.
const (
	ListenerProxy = "proxy" // HTTP_PROXY: absolute-URI requests and CONNECT
	ListenerHTTP  = "http"  // DNS-steered plain HTTP, routed by Host
	ListenerTLS   = "tls"   // DNS-steered TLS, routed by SNI
	ListenerDNS   = "dns"   // the DNS proxy
	ListenerCheck = "check" // `sluice check`: nothing is sent
	ListenerAdmin = "admin" // the admin API and console: reads of the records
)

// Call kinds, as in the policy input and the record.
const (
	KindHTTP    = "http"    // one HTTP request
	KindConnect = "connect" // one CONNECT tunnel
	KindTLS     = "tls"     // one TLS connection on the tls listener
	KindDNS     = "dns"     // one DNS query
	KindRead    = "read"    // one read of the records (GET /v1/audit, /v1/cost, the console)
)

// Identity sources, strongest first (docs/contract.md §5).
const (
	IdentityMTLS      = "mtls"       // client certificate on the proxy listener
	IdentityXFCC      = "xfcc"       // X-Forwarded-Client-Cert from a trusted sidecar
	IdentityCIDR      = "cidr"       // identity.sources maps the source address
	IdentityProxyAuth = "proxy_auth" // a Proxy-Authorization user (not verified)
	IdentityNone      = "none"
	// IdentityAdminToken: the bearer token of an admin API read; the
	// record's source_workload is the token's role.
	IdentityAdminToken = "admin_token"
)

// Decisions, as recorded.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)

// Record events.
const (
	EventOutboundCall = "outbound_call"
	EventDNSQuery     = "dns_query"
	// EventAuditRead is a read of the records themselves, through the
	// admin API or the console: who (role, address), when, and which
	// filter (in path, as a query string). PCI DSS v4.0 10.2.1.3 asks
	// that every access to audit logs be captured.
	EventAuditRead = "audit_read"
)

// Events lists the record events.
func Events() []string { return []string{EventOutboundCall, EventDNSQuery, EventAuditRead} }

// Roles of the admin API's bearer tokens (admin.token,
// admin.auditor_token), as recorded in an audit_read record's
// source_workload.
const (
	RoleAdmin     = "admin"     // admin.token: everything
	RoleAuditor   = "auditor"   // admin.auditor_token: records, cost, registry, console
	RoleAnonymous = "anonymous" // no token configured (loopback only)
)
