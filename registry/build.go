package registry

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// BuildOptions tune how resources become a snapshot.
type BuildOptions struct {
	// CredentialsDir holds one directory per DestinationRule credentialName
	// (a mounted Kubernetes Secret: tls.crt/tls.key/ca.crt or
	// cert/key/cacert). Default /etc/sluice/credentials.
	CredentialsDir string
}

// Build validates resources as one set and indexes them. It returns the
// snapshot (nil when there is any error) and every finding.
func Build(res []*Resource, opts BuildOptions) (*Snapshot, Diagnostics) {
	var ds Diagnostics
	seen := map[string]*Resource{}
	for _, r := range res {
		id := r.ID()
		if prev, ok := seen[id]; ok && r.Metadata.Name != "" {
			ds = append(ds, r.diag(SevError, "metadata.name", "duplicate %s (first defined in %s doc %d)", id, prev.Source.File, prev.Source.Doc))
			continue
		}
		seen[id] = r
		switch {
		case r.ServiceEntry != nil:
			ds = append(ds, validateServiceEntry(r)...)
		case r.DestinationRule != nil:
			ds = append(ds, validateDestinationRule(r)...)
		}
	}
	if len(ds.Errors()) > 0 {
		return nil, ds
	}

	s := Empty()
	var entries []*Entry
	var sources []*Resource // sources[i] declared entries[i]
	var drs []*Resource
	for _, r := range res {
		if r.ServiceEntry != nil {
			entries = append(entries, newEntry(r))
			sources = append(sources, r)
		} else if r.DestinationRule != nil {
			drs = append(drs, r)
			s.DestinationRules = append(s.DestinationRules, DRSummary{r.Metadata.Name, r.Metadata.Namespace, r.DestinationRule.Host, r.Source})
		}
	}
	s.Entries = entries
	b := &builder{opts: opts, drs: drs, tlsCache: map[*ClientTLSSettings]*TLSOrigination{}, used: map[*Resource]bool{}}
	for i, e := range entries {
		src := sources[i]
		warn := func(format string, a ...any) { ds = append(ds, src.diag(SevWarning, "spec.hosts", format, a...)) }
		routeFor := func(e *Entry, host string, p Port) *Route {
			r := &Route{Entry: e, Host: host, Port: p}
			dr := b.destinationRule(e, host, &ds)
			if dr != nil {
				r.DestinationRule = dr.Metadata.Namespace + "/" + dr.Metadata.Name
				r.TLS = b.tlsFor(dr, p.Number, &ds)
			}
			return r
		}
		for _, h := range e.Hosts {
			s.index(e, h, routeFor, warn)
		}
		s.indexAddresses(e, routeFor, warn)
	}
	for _, dr := range drs {
		if !b.used[dr] {
			ds = append(ds, dr.diag(SevWarning, "spec.host", "no ServiceEntry declares host %s; this DestinationRule has no effect in sluice", dr.DestinationRule.Host))
		}
	}
	if len(ds.Errors()) > 0 {
		return nil, ds
	}
	s.Warnings = ds.Warnings()
	s.LoadedAt = time.Now()
	return s, ds
}

func newEntry(r *Resource) *Entry {
	se := r.ServiceEntry
	e := &Entry{
		Name: r.Metadata.Name, Namespace: r.Metadata.Namespace,
		Addresses: se.Addresses, Location: strings.ToUpper(se.Location), Resolution: normResolution(se.Resolution),
		Labels: r.Metadata.Labels, Annotations: r.Metadata.Annotations, SubjectAltNames: se.SubjectAltNames, Source: r.Source,
	}
	if e.Location == "" {
		e.Location = "MESH_EXTERNAL"
	}
	if e.Labels == nil {
		e.Labels = map[string]string{}
	}
	if e.Annotations == nil {
		e.Annotations = map[string]string{}
	}
	for _, h := range se.Hosts {
		e.Hosts = append(e.Hosts, NormalizeHost(h))
	}
	for _, p := range se.Ports {
		proto, _ := ParseProtocol(p.Protocol)
		e.Ports = append(e.Ports, Port{Number: p.Number, Name: p.Name, Protocol: proto, TargetPort: p.TargetPort})
	}
	for _, ep := range se.Endpoints {
		x := Endpoint{Address: ep.Address, Ports: ep.Ports}
		if ip, err := netip.ParseAddr(ep.Address); err == nil {
			x.IP = ip.Unmap()
		}
		e.Endpoints = append(e.Endpoints, x)
	}
	for _, a := range se.Addresses {
		if p, err := netip.ParsePrefix(a); err == nil {
			e.prefixes = append(e.prefixes, p.Masked())
		} else if ip, err := netip.ParseAddr(a); err == nil {
			ip = ip.Unmap()
			e.prefixes = append(e.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
		}
	}
	return e
}

type builder struct {
	opts     BuildOptions
	drs      []*Resource
	tlsCache map[*ClientTLSSettings]*TLSOrigination
	used     map[*Resource]bool
}

// drHost expands a DestinationRule host the way Istio does: a short name is
// <name>.<namespace>.svc.cluster.local.
func drHost(r *Resource) string {
	h := NormalizeHost(r.DestinationRule.Host)
	if !strings.Contains(h, ".") && !IsWildcard(h) {
		h = h + "." + r.Metadata.Namespace + ".svc.cluster.local"
	}
	return h
}

// destinationRule picks the rule for a ServiceEntry host: an exact host
// first, else the most specific wildcard covering it; among equals, one in
// the entry's namespace, else the first loaded (with a warning).
func (b *builder) destinationRule(e *Entry, host string, ds *Diagnostics) *Resource {
	var best []*Resource
	bestScore := -1
	for _, dr := range b.drs {
		h := drHost(dr)
		score := -1
		switch {
		case h == host:
			score = 1 << 20
		case strings.HasPrefix(h, "*.") && (strings.HasSuffix(host, h[1:]) && len(host) > len(h)-1):
			score = len(h)
		}
		if score < 0 {
			continue
		}
		if score > bestScore {
			best, bestScore = []*Resource{dr}, score
		} else if score == bestScore {
			best = append(best, dr)
		}
	}
	if len(best) == 0 {
		return nil
	}
	pick := best[0]
	for _, dr := range best {
		if dr.Metadata.Namespace == e.Namespace {
			pick = dr
			break
		}
	}
	if len(best) > 1 {
		*ds = append(*ds, pick.diag(SevWarning, "spec.host", "%d DestinationRules apply to host %s; using %s", len(best), host, pick.ID()))
	}
	b.used[pick] = true
	return pick
}

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
			settings, field = pl.TLS, fmt.Sprintf("spec.trafficPolicy.portLevelSettings[%d].tls", i)
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
			errs = append(errs, tlsErr{"credentialName", fmt.Sprintf("credential %q not found: mount the Secret at %s", s.CredentialName, dir)})
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
			errs = append(errs, tlsErr{"credentialName", fmt.Sprintf("credential %q at %s has no tls.crt/tls.key (or cert/key)", s.CredentialName, dir)})
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%v|%v|", o.Mode, o.SNI, o.SubjectAltNames, o.InsecureSkipVerify)
	if o.CACertificates != "" {
		pem, err := os.ReadFile(o.CACertificates)
		pool := x509.NewCertPool()
		switch {
		case err != nil:
			errs = append(errs, tlsErr{"caCertificates", err.Error()})
		case !pool.AppendCertsFromPEM(pem):
			errs = append(errs, tlsErr{"caCertificates", fmt.Sprintf("%s holds no PEM certificate", o.CACertificates)})
		default:
			o.RootCAs = pool
			h.Write(pem)
		}
	}
	if o.Mode == TLSMutual && o.ClientCertificate != "" && o.PrivateKey != "" {
		cert, err := tls.LoadX509KeyPair(o.ClientCertificate, o.PrivateKey)
		if err != nil {
			errs = append(errs, tlsErr{"clientCertificate", fmt.Sprintf("loading %s and %s: %v", o.ClientCertificate, o.PrivateKey, err)})
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
			errs = append(errs, tlsErr{"caCrl", err.Error()})
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

// SortedHosts lists every declared host pattern, for summaries.
func (s *Snapshot) SortedHosts() []string {
	var hs []string
	for h := range s.exact {
		hs = append(hs, h)
	}
	for _, r := range s.wild {
		hs = append(hs, r.pattern)
	}
	for _, r := range s.partial {
		hs = append(hs, r.pattern)
	}
	sort.Strings(hs)
	return hs
}
