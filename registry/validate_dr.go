package registry

import (
	"fmt"
	"strings"
)

// validateDestinationRule applies the rules of Istio's
// ValidateDestinationRule for host, traffic policies, TLS settings,
// subsets, exportTo and the workload selector, in Istio's order and with
// Istio's messages; then it warns, by name, about every field set that
// Sluice does not apply.
func validateDestinationRule(r *Resource) Diagnostics {
	dr := r.DestinationRule
	c := &checker{r: r}
	// Istio accepts host "*" (every host); so does Sluice, as the least
	// specific rule.
	if err := validateWildcardDomain(dr.Host); err != nil {
		c.errf("spec.host", "%v", err)
	}
	c.trafficPolicy("spec.trafficPolicy", dr.TrafficPolicy)
	names := map[string]bool{}
	for i, s := range dr.Subsets {
		f := fmt.Sprintf("spec.subsets[%d]", i)
		if names[s.Name] {
			c.errf(f+".name", "duplicate subset names: %s", s.Name)
		}
		names[s.Name] = true
		if s.Name == "" {
			c.errf(f+".name", "subset name cannot be empty")
		} else if !isDNS1123Label(s.Name) {
			c.errf(f+".name", "subset name is invalid: %s", s.Name)
		}
		c.labels(f+".labels", s.Labels)
		c.trafficPolicy(f+".trafficPolicy", s.TrafficPolicy)
	}
	c.ds = append(c.ds, validateExportTo(r, dr.ExportTo, false, dr.WorkloadSelector != nil)...)
	c.workloadSelector("spec.workloadSelector", dr.WorkloadSelector)
	c.unapplied(dr)
	return c.ds
}

// trafficPolicy is Istio's validateTrafficPolicy: an empty policy, or one
// with both a tunnel and PROXY protocol, is reported alone.
func (c *checker) trafficPolicy(f string, tp *TrafficPolicy) {
	if tp == nil {
		return
	}
	if tp.LoadBalancer == nil && tp.ConnectionPool == nil && tp.OutlierDetection == nil && tp.TLS == nil &&
		len(tp.PortLevelSettings) == 0 && tp.Tunnel == nil && tp.ProxyProtocol == nil && tp.RetryBudget == nil {
		c.errf(f, "traffic policy must have at least one field")
		return
	}
	if tp.Tunnel != nil && tp.ProxyProtocol != nil {
		c.errf(f, "tunnel and proxyProtocol must not be set together")
		return
	}
	c.outlierDetection(f+".outlierDetection", tp.OutlierDetection)
	c.connectionPool(f+".connectionPool", tp.ConnectionPool)
	c.loadBalancer(f+".loadBalancer", tp.LoadBalancer, tp.OutlierDetection)
	c.ds = append(c.ds, validateTLS(c.r, f+".tls", tp.TLS)...)
	if len(tp.PortLevelSettings) > 4096 { // the CRD's list size
		c.errf(f+".portLevelSettings", "must have at most %d items", 4096)
	}
	ports := map[int]bool{}
	for i, pl := range tp.PortLevelSettings {
		pf := fmt.Sprintf("%s.portLevelSettings[%d]", f, i)
		if pl.Port == nil {
			c.errf(pf+".port", "portTrafficPolicy must have valid port")
		} else {
			// Istio takes any uint32 here (validatePortTrafficPolicies does
			// not check the number); a policy for no port is only useless.
			c.uint32Range(pf+".port.number", int64(pl.Port.Number))
			if n := pl.Port.Number; n >= 0 && !validPort(n) {
				c.warnf(pf+".port.number", "port %d is not a port number (1..65535): this policy applies to no port", n)
			}
			if ports[pl.Port.Number] {
				c.warnf(pf+".port.number", "port %d has more than one port-level policy; the first applies", pl.Port.Number)
			}
			ports[pl.Port.Number] = true
		}
		if pl.OutlierDetection == nil && pl.ConnectionPool == nil && pl.LoadBalancer == nil && pl.TLS == nil {
			c.errf(pf, "port traffic policy must have at least one field")
			continue
		}
		c.outlierDetection(pf+".outlierDetection", pl.OutlierDetection)
		c.connectionPool(pf+".connectionPool", pl.ConnectionPool)
		c.loadBalancer(pf+".loadBalancer", pl.LoadBalancer, pl.OutlierDetection)
		c.ds = append(c.ds, validateTLS(c.r, pf+".tls", pl.TLS)...)
	}
	c.tunnel(f+".tunnel", tp.Tunnel)
	c.proxyProtocol(f+".proxyProtocol", tp.ProxyProtocol)
	c.retryBudget(f+".retryBudget", tp.RetryBudget)
}

// validateTLS is Istio's agent.ValidateTLS plus the checks Sluice needs to
// originate: a known mode.
func validateTLS(r *Resource, f string, s *ClientTLSSettings) Diagnostics {
	if s == nil {
		return nil
	}
	var ds Diagnostics
	errf := func(field, format string, a ...any) { ds = append(ds, r.diag(SevError, field, format, a...)) }
	if rest, ok := strings.CutPrefix(s.CredentialName, "configmap://"); ok {
		// credentials.ParseResourceName, then the namespace rule.
		parts := strings.Split(rest, "/")
		switch {
		case len(parts) <= 1:
			errf(f+".credentialName", "invalid configmap:// credentialName: invalid resource name %q. Expected namespace and name", s.CredentialName)
		case parts[0] == "":
			errf(f+".credentialName", "invalid configmap:// credentialName: invalid resource name %q. Expected namespace", s.CredentialName)
		case parts[1] == "":
			errf(f+".credentialName", "invalid configmap:// credentialName: invalid resource name %q. Expected name", s.CredentialName)
		case parts[0] != r.Metadata.Namespace:
			errf(f+".credentialName", "invalid configmap:// credentialName: namespace must match the configuration namespace %q", r.Metadata.Namespace)
		}
	}
	mode := s.Mode // the CRD's enum, upper case only
	switch mode {
	case "", TLSDisable, TLSSimple, TLSMutual:
	case TLSIstioMutual:
		ds = append(ds, r.diag(SevWarning, f+".mode", "ISTIO_MUTUAL is for hops inside the mesh; sluice does not originate Istio mTLS and sends plain traffic on this route"))
	default:
		errf(f+".mode", "unsupported tls mode %s (want DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL)", s.Mode)
	}
	if s.InsecureSkipVerify != nil && *s.InsecureSkipVerify {
		if mode == TLSSimple && (s.CACertificates != "" || s.CredentialName != "" || len(s.SubjectAltNames) > 0) {
			errf(f+".insecureSkipVerify", "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true")
		}
		if mode == TLSMutual && (s.CACertificates != "" || len(s.SubjectAltNames) > 0) {
			errf(f+".insecureSkipVerify", "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true")
		}
	}
	if (mode == TLSSimple || mode == TLSMutual) && s.CredentialName != "" {
		if s.ClientCertificate != "" || s.CACertificates != "" || s.PrivateKey != "" || s.CACrl != "" {
			errf(f+".credentialName", "cannot specify client certificates or CA certificate or CA CRL If credentialName is set")
		}
		return ds
	}
	if mode == TLSMutual {
		if s.ClientCertificate == "" {
			errf(f+".clientCertificate", "client certificate required for mutual tls")
		}
		if s.PrivateKey == "" {
			errf(f+".privateKey", "private key required for mutual tls")
		}
	}
	return ds
}
