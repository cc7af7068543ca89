package egress

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/vocab"
	"github.com/sluicehq/sluice/registry"
)

// sanError reports an upstream certificate whose SANs match none of the
// DestinationRule's subjectAltNames.
type sanError struct {
	want []string
	got  []string
}

func (e *sanError) Error() string {
	return fmt.Sprintf("upstream certificate SANs %v match none of subjectAltNames %v", e.got, e.want)
}

// originationConfig is the client TLS config for a DestinationRule TLS
// setting (docs/contract.md §2): verify with caCertificates or the system
// pool; SNI = sni or the requested host (left empty here so that the
// transport fills in each request's host); SAN check = subjectAltNames, or
// the SNI when none are given; a client certificate in MUTUAL mode.
func originationConfig(o *registry.TLSOrigination, sans []string) *tls.Config {
	cfg := &tls.Config{
		ServerName: o.SNI,
		RootCAs:    o.RootCAs,
		MinVersion: tls.VersionTLS12,
	}
	if o.ClientCert != nil {
		cfg.Certificates = []tls.Certificate{*o.ClientCert}
	}
	if o.InsecureSkipVerify {
		cfg.InsecureSkipVerify = true
		return cfg
	}
	if len(sans) == 0 && o.CRL == nil {
		return cfg // the standard chain and host name verification
	}
	// Custom verification: the chain as usual, then the SAN list instead of
	// the host name, then the CRL.
	cfg.InsecureSkipVerify = true
	roots, crl := o.RootCAs, o.CRL
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("upstream sent no certificate")
		}
		leaf := cs.PeerCertificates[0]
		opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		if len(sans) == 0 {
			opts.DNSName = cs.ServerName
		}
		chains, err := leaf.Verify(opts)
		if err != nil {
			return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
		}
		if len(sans) > 0 && !matchSANs(leaf, sans) {
			return &sanError{want: sans, got: certSANs(leaf)}
		}
		if crl != nil {
			for _, chain := range chains {
				for _, c := range chain {
					for _, rc := range crl.RevokedCertificateEntries {
						if rc.SerialNumber.Cmp(c.SerialNumber) == 0 {
							return fail(vocab.UpstreamTLSError, fmt.Errorf("upstream certificate %s (serial %s) is revoked by caCrl", c.Subject, c.SerialNumber))
						}
					}
				}
			}
		}
		return nil
	}
	return cfg
}

// matchSANs reports whether any SAN of the certificate equals one of want
// (exact match, as Istio does; DNS SANs case-insensitively).
func matchSANs(c *x509.Certificate, want []string) bool {
	for _, w := range want {
		for _, d := range c.DNSNames {
			if strings.EqualFold(d, w) {
				return true
			}
		}
		for _, u := range c.URIs {
			if u.String() == w {
				return true
			}
		}
		for _, ip := range c.IPAddresses {
			if ip.String() == w {
				return true
			}
		}
		for _, e := range c.EmailAddresses {
			if e == w {
				return true
			}
		}
	}
	return false
}

func certSANs(c *x509.Certificate) []string {
	out := append([]string{}, c.DNSNames...)
	for _, u := range c.URIs {
		out = append(out, u.String())
	}
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

// isTLSHandshakeError recognises handshake failures the tls package
// reports as plain errors.
func isTLSHandshakeError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "tls: ") || strings.Contains(s, "x509: ")
}
