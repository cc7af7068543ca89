package registry

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The fields of a DestinationRule TLS setting that loadTLS reports on;
// Resource.lateFields notes where they are.
const (
	tlsCredentialName    = "credentialName"
	tlsCACertificates    = "caCertificates"
	tlsClientCertificate = "clientCertificate"
	tlsCACrl             = "caCrl"
)

// tlsFor returns the TLS origination of dr for a port: a port-level entry
// replaces the top-level policy entirely.
func (b *builder) tlsFor(dr *Resource, port int, ds *Diagnostics) *TLSOrigination {
	tp := dr.DestinationRule.TrafficPolicy
	if tp == nil {
		return nil
	}
	settings, field := tp.TLS, "spec.trafficPolicy.tls"
	for i, pl := range tp.PortLevelSettings {
		if pl.Port != nil && pl.Port.Number == port {
			settings, field = pl.TLS, portTLSField(i)
			break
		}
	}
	if settings == nil {
		return nil
	}
	mode := strings.ToUpper(settings.Mode)
	if mode != TLSSimple && mode != TLSMutual {
		return nil
	}
	if o, ok := b.tlsCache[settings]; ok {
		return o
	}
	o, errs := loadTLS(dr, settings, b.opts.CredentialsDir)
	for _, e := range errs {
		*ds = append(*ds, dr.diag(SevError, field+"."+e.field, "%s", e.msg))
	}
	b.tlsCache[settings] = o
	return o
}

type tlsErr struct{ field, msg string }

// loadTLS reads the certificate files of a TLS setting. Relative paths are
// relative to the directory of the YAML file.
func loadTLS(dr *Resource, s *ClientTLSSettings, credDir string) (*TLSOrigination, []tlsErr) {
	o := &TLSOrigination{Mode: strings.ToUpper(s.Mode), SNI: s.SNI, SubjectAltNames: s.SubjectAltNames,
		InsecureSkipVerify: s.InsecureSkipVerify != nil && *s.InsecureSkipVerify}
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(filepath.Dir(dr.Source.File), p)
	}
	o.CACertificates, o.ClientCertificate, o.PrivateKey, o.CACrl = rel(s.CACertificates), rel(s.ClientCertificate), rel(s.PrivateKey), rel(s.CACrl)
	var errs []tlsErr
	if s.CredentialName != "" {
		if credDir == "" {
			credDir = "/etc/sluice/credentials"
		}
		dir := filepath.Join(credDir, s.CredentialName)
		pick := func(names ...string) string {
			for _, n := range names {
				if p := filepath.Join(dir, n); fileExists(p) {
					return p
				}
			}
			return ""
		}
		if !fileExists(dir) {
			errs = append(errs, tlsErr{tlsCredentialName, fmt.Sprintf("credential %q not found: mount the Secret at %s", s.CredentialName, dir)})
			return o, errs
		}
		o.ClientCertificate, o.PrivateKey = pick("tls.crt", "cert"), pick("tls.key", "key")
		o.CACertificates = pick("ca.crt", "cacert")
		if o.CACertificates == "" {
			if p := filepath.Join(credDir, s.CredentialName+"-cacert"); fileExists(p) {
				o.CACertificates = pickIn(p, "ca.crt", "cacert")
			}
		}
		o.CACrl = pick("ca.crl", "crl")
		if o.Mode == TLSMutual && (o.ClientCertificate == "" || o.PrivateKey == "") {
			errs = append(errs, tlsErr{tlsCredentialName, fmt.Sprintf("credential %q at %s has no tls.crt/tls.key (or cert/key)", s.CredentialName, dir)})
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%v|%v|", o.Mode, o.SNI, o.SubjectAltNames, o.InsecureSkipVerify)
	if o.CACertificates != "" {
		pem, err := os.ReadFile(o.CACertificates)
		pool := x509.NewCertPool()
		switch {
		case err != nil:
			errs = append(errs, tlsErr{tlsCACertificates, err.Error()})
		case !pool.AppendCertsFromPEM(pem):
			errs = append(errs, tlsErr{tlsCACertificates, fmt.Sprintf("%s holds no PEM certificate", o.CACertificates)})
		default:
			o.RootCAs = pool
			h.Write(pem)
		}
	}
	if o.Mode == TLSMutual && o.ClientCertificate != "" && o.PrivateKey != "" {
		cert, err := tls.LoadX509KeyPair(o.ClientCertificate, o.PrivateKey)
		if err != nil {
			errs = append(errs, tlsErr{tlsClientCertificate, fmt.Sprintf("loading %s and %s: %v", o.ClientCertificate, o.PrivateKey, err)})
		} else {
			o.ClientCert = &cert
			h.Write(cert.Certificate[0])
		}
	}
	if o.CACrl != "" {
		data, err := os.ReadFile(o.CACrl)
		if err == nil {
			if blk := pemBlock(data); blk != nil {
				data = blk
			}
			o.CRL, err = x509.ParseRevocationList(data)
		}
		if err != nil {
			errs = append(errs, tlsErr{tlsCACrl, err.Error()})
		}
	}
	o.Key = hex.EncodeToString(h.Sum(nil)[:12])
	return o, errs
}

func pickIn(dir string, names ...string) string {
	for _, n := range names {
		if p := filepath.Join(dir, n); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
