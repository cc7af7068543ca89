package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"

	"github.com/sluicehq/sluice/dnsproxy"
	"github.com/sluicehq/sluice/internal/netguard"
)

// Reason codes of DESIGN section 7. Every denial and every failed call
// carries one, in the Sluice-Reason header and in its audit record.
const (
	ReasonUndeclaredDestination = "undeclared_destination"
	ReasonUndeclaredPort        = "undeclared_port"
	ReasonPolicyDenied          = "policy_denied"
	ReasonPolicyError           = "policy_error"
	ReasonForbiddenAddress      = "forbidden_address"
	ReasonSNIMismatch           = "sni_mismatch"
	ReasonHostMismatch          = "host_mismatch"
	ReasonIdentityRequired      = "identity_required"
	ReasonAuditUnavailable      = "audit_unavailable"
	ReasonDNSFailure            = "dns_failure"
	ReasonUpstreamUnreachable   = "upstream_unreachable"
	ReasonUpstreamTLSError      = "upstream_tls_error"
	ReasonUpstreamTimeout       = "upstream_timeout"
	ReasonBadRequest            = "bad_request"
)

// statusFor is the HTTP status each reason answers with.
func statusFor(reason string) int {
	switch reason {
	case ReasonAuditUnavailable:
		return http.StatusServiceUnavailable
	case ReasonDNSFailure, ReasonUpstreamUnreachable, ReasonUpstreamTLSError:
		return http.StatusBadGateway
	case ReasonUpstreamTimeout:
		return http.StatusGatewayTimeout
	case ReasonBadRequest:
		return http.StatusBadRequest
	}
	return http.StatusForbidden
}

// callError is a failure with its reason code.
type callError struct {
	reason string
	err    error
}

func (e *callError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// fail wraps err with a reason.
func fail(reason string, err error) error { return &callError{reason, err} }

// classify maps an error from dialling or a round trip to a reason code.
func classify(err error) string {
	var ce *callError
	if errors.As(err, &ce) {
		return ce.reason
	}
	var fe *netguard.ForbiddenError
	if errors.As(err, &fe) {
		return ReasonForbiddenAddress
	}
	if errors.Is(err, dnsproxy.ErrNotFound) || errors.Is(err, dnsproxy.ErrUpstream) {
		return ReasonDNSFailure
	}
	var (
		cve   *tls.CertificateVerificationError
		he    x509.HostnameError
		uae   x509.UnknownAuthorityError
		cie   x509.CertificateInvalidError
		alert tls.AlertError
		rhe   tls.RecordHeaderError
		san   *sanError
	)
	if errors.As(err, &cve) || errors.As(err, &he) || errors.As(err, &uae) || errors.As(err, &cie) ||
		errors.As(err, &alert) || errors.As(err, &rhe) || errors.As(err, &san) {
		return ReasonUpstreamTLSError
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return ReasonUpstreamTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ReasonUpstreamTimeout
	}
	if isTLSHandshakeError(err) {
		return ReasonUpstreamTLSError
	}
	return ReasonUpstreamUnreachable
}
