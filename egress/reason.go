package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"

	"github.com/sluicehq/sluice/dnsproxy"
	"github.com/sluicehq/sluice/internal/netguard"
	"github.com/sluicehq/sluice/internal/vocab"
)

// callError is a failure with its reason code.
type callError struct {
	reason vocab.Reason
	err    error
}

func (e *callError) Error() string { return string(e.reason) + ": " + e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// fail wraps err with a reason.
func fail(reason vocab.Reason, err error) error { return &callError{reason, err} }

// classify maps an error from dialling or a round trip to a reason code.
func classify(err error) vocab.Reason {
	var ce *callError
	if errors.As(err, &ce) {
		return ce.reason
	}
	var fe *netguard.ForbiddenError
	if errors.As(err, &fe) {
		return vocab.ForbiddenAddress
	}
	if errors.Is(err, dnsproxy.ErrNotFound) || errors.Is(err, dnsproxy.ErrUpstream) {
		return vocab.DNSFailure
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
		return vocab.UpstreamTLSError
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return vocab.UpstreamTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return vocab.UpstreamTimeout
	}
	if isTLSHandshakeError(err) {
		return vocab.UpstreamTLSError
	}
	return vocab.UpstreamUnreachable
}
