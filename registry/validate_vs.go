package registry

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// validateVirtualService applies the rules of Istio's
// ValidateVirtualService (pkg/config/validation/validation.go and
// virtualservice.go) to every field, in Istio's order and with Istio's
// messages (the http features in validate_vs_http.go, tls and tcp routes
// in validate_vs_l4.go, the unreachable-rule warnings in
// validate_vs_rules.go), then warns by name about every field that is
// set and that Sluice does not apply.
func validateVirtualService(r *Resource) Diagnostics {
	vs := r.VirtualService
	c := &checker{r: r}
	if len(vs.Hosts) == 0 {
		if len(vs.Gateways) != 0 {
			c.errf("spec.gateways", "delegate virtual service must have no gateways specified")
		}
		if len(vs.TLS) != 0 {
			c.errf("spec.tls", "delegate virtual service must have no tls route specified")
		}
		if len(vs.TCP) != 0 {
			c.errf("spec.tcp", "delegate virtual service must have no tcp route specified")
		}
	}
	// Istio's appliesToGateway: gateways named, and mesh not among them.
	toGateway := len(vs.Gateways) > 0 && !contains(vs.Gateways, "mesh")
	appliesToMesh := !toGateway
	c.gatewayNames("spec.gateways", vs.Gateways)
	if !toGateway {
		for i, h := range vs.HTTP {
			for j, m := range h.Match {
				for _, hs := range []map[string]*StringMatch{m.Headers, m.WithoutHeaders} {
					for _, key := range sortedKeys(hs) {
						if isJWTClaimRoute(key) {
							c.errf(fmt.Sprintf("spec.http[%d].match[%d]", i, j), "JWT claim based routing (key: %s) is only supported for gateway, found no gateways: %v", key, vs.Gateways)
						}
					}
				}
			}
		}
	}
	allValid := true
	sni := isSNIHost(vs)
	for i, h := range vs.Hosts {
		f := fmt.Sprintf("spec.hosts[%d]", i)
		var err error
		if toGateway {
			err = validateGatewayBoundDomain(sni, h)
		} else {
			err = validateWildcardDomain(h)
		}
		if err != nil {
			if validateIPAddress(h) != nil {
				c.errf(f, "%v", err)
				allValid = false
			}
		} else if appliesToMesh && h == "*" {
			c.errf(f, "wildcard host * is not allowed for virtual services bound to the mesh gateway")
			allValid = false
		}
	}
	if allValid {
		for i := range vs.Hosts {
			for j := i + 1; j < len(vs.Hosts); j++ {
				if hostMatches(vs.Hosts[i], vs.Hosts[j]) {
					c.errf(fmt.Sprintf("spec.hosts[%d]", j), "duplicate hosts in virtual service: %s & %s", vs.Hosts[i], vs.Hosts[j])
				}
			}
		}
	}
	if len(vs.HTTP) == 0 && len(vs.TCP) == 0 && len(vs.TLS) == 0 {
		c.errf("spec", "http, tcp or tls must be provided in virtual service")
	}
	for i := range vs.HTTP {
		c.httpRoute(fmt.Sprintf("spec.http[%d]", i), &vs.HTTP[i], len(vs.Hosts) == 0)
	}
	for i := range vs.TLS {
		c.tlsRoute(fmt.Sprintf("spec.tls[%d]", i), &vs.TLS[i], vs)
	}
	for i := range vs.TCP {
		c.tcpRoute(fmt.Sprintf("spec.tcp[%d]", i), &vs.TCP[i])
	}
	c.ds = append(c.ds, validateExportTo(r, vs.ExportTo, false, false)...)
	c.unreachableRules(vs)
	c.unappliedVS(vs)
	return c.ds
}

// hostMatches is Istio's host.Name.Matches for two VirtualService hosts:
// equal, or one a wildcard covering the other. Like Istio's, it is
// case-sensitive: the webhook does not take A.example.com and
// a.example.com for duplicates.
func hostMatches(a, b string) bool {
	switch {
	case strings.HasPrefix(a, "*") && strings.HasPrefix(b, "*"):
		if len(a) < len(b) {
			return strings.HasSuffix(b[1:], a[1:])
		}
		return strings.HasSuffix(a[1:], b[1:])
	case strings.HasPrefix(a, "*"):
		return strings.HasSuffix(b, a[1:])
	case strings.HasPrefix(b, "*"):
		return strings.HasSuffix(a, b[1:])
	}
	return a == b
}

// gatewayNames is Istio's validateGatewayNames.
func (c *checker) gatewayNames(f string, names []string) {
	for _, g := range names {
		ns, name, ok := strings.Cut(g, "/")
		if !ok {
			if strings.Contains(g, ".") {
				parts := strings.Split(g, ".")
				c.warnf(f, "using legacy gatewayName format %q; prefer the <namespace>/<name> format: %q", g, parts[1]+"/"+parts[0])
			}
			if err := validateFQDN(g); err != nil {
				c.errf(f, "%v", err)
			}
			return
		}
		if ns == "" || name == "" {
			c.errf(f, "config namespace and gateway name cannot be empty")
		}
		if !isDNS1123Label(ns) {
			c.errf(f, "invalid value for namespace: %q", ns)
		}
		if !isDNS1123Label(name) {
			c.errf(f, "invalid value for gateway name: %q", name)
		}
	}
}

// httpRoute is Istio's validateHTTPRoute, in its order. delegate is
// whether the VirtualService is a delegate (it has no hosts).
func (c *checker) httpRoute(f string, h *HTTPRoute, delegate bool) {
	c.httpRouteConflict(f, h, delegate)
	c.httpMatchRequests(f, h)
	c.headerOps(f+".headers", h.Headers)
	c.corsPolicy(f+".corsPolicy", h.CorsPolicy)
	c.fault(f+".fault", h.Fault)
	c.mirrors(f, h)
	c.redirect(f+".redirect", h.Redirect, h.Match)
	c.directResponse(f+".directResponse", h.DirectResponse)
	c.httpRetry(f+".retries", h.Retries)
	c.rewrite(f+".rewrite", h.Rewrite)
	c.authorityRewrite(f, h.Rewrite, h.Headers)
	c.httpRouteDestinations(f+".route", h.Route)
	c.duration(f+".timeout", h.Timeout)
}

// httpRouteConflict is Istio's validateHTTPRouteConflict: a root route
// (one that delegates) may only delegate; a delegate's routes may not
// delegate again; otherwise route, redirect and direct response exclude
// one another.
func (c *checker) httpRouteConflict(f string, h *HTTPRoute, delegate bool) {
	if !delegate && h.Delegate != nil {
		if h.Redirect != nil {
			c.errf(f, "root HTTP route %s must not specify redirect", h.Name)
		}
		if len(h.Route) > 0 {
			c.errf(f, "root HTTP route %s must not specify route", h.Name)
		}
		return
	}
	if delegate && h.Delegate != nil {
		c.errf(f+".delegate", "delegate HTTP route cannot contain delegate")
	}
	switch {
	case h.Redirect != nil:
		if len(h.Route) > 0 {
			c.errf(f, "HTTP route cannot contain both route and redirect")
		}
		if h.Fault != nil {
			c.errf(f, "HTTP route cannot contain both fault and redirect")
		}
		if h.Rewrite != nil {
			c.errf(f, "HTTP route rule cannot contain both rewrite and redirect")
		}
		if h.DirectResponse != nil {
			c.errf(f, "HTTP route rule cannot contain both direct_response and redirect")
		}
	case h.DirectResponse != nil:
		if len(h.Route) > 0 {
			c.errf(f, "HTTP route cannot contain both route and direct_response")
		}
		if h.Fault != nil {
			c.errf(f, "HTTP route cannot contain both fault and direct_response")
		}
		if h.Rewrite != nil {
			c.errf(f, "HTTP route rule cannot contain both rewrite and direct_response")
		}
	case len(h.Route) == 0:
		c.errf(f, "HTTP route, redirect or direct_response is required")
	}
	if h.Mirror != nil && len(h.Mirrors) > 0 {
		c.errf(f, "HTTP route cannot contain both mirror and mirrors")
	}
}

// httpMatchRequests is Istio's validateHTTPRouteMatchRequest.
func (c *checker) httpMatchRequests(f string, h *HTTPRoute) {
	for i, m := range h.Match {
		mf := fmt.Sprintf("%s.match[%d]", f, i)
		for _, name := range sortedKeys(m.Headers) {
			if m.Headers[name] == nil {
				c.errf(mf+".headers."+name, "header match %v cannot be null", name)
			}
			c.headerName(mf+".headers."+name, name)
			c.stringMatch(mf+".headers."+name, m.Headers[name], "headers", false)
		}
		for _, name := range sortedKeys(m.WithoutHeaders) {
			c.headerName(mf+".withoutHeaders."+name, name)
			if sm := m.WithoutHeaders[name]; sm != nil && (sm.Regex == nil || *sm.Regex != "*") {
				c.stringMatch(mf+".withoutHeaders."+name, sm, "withoutHeaders", false)
			}
		}
		c.stringMatch(mf+".uri", m.URI, "uri", true)
		c.stringMatch(mf+".scheme", m.Scheme, "scheme", false)
		c.stringMatch(mf+".method", m.Method, "method", false)
		c.stringMatch(mf+".authority", m.Authority, "authority", false)
		for _, name := range sortedKeys(m.QueryParams) {
			c.stringMatch(mf+".queryParams."+name, m.QueryParams[name], "queryParams", false)
		}
	}
	for i, m := range h.Match {
		mf := fmt.Sprintf("%s.match[%d]", f, i)
		c.uint32Range(mf+".port", m.Port)
		if m.Port != 0 && !validPort(int(m.Port)) {
			c.errf(mf+".port", "port number %d must be in the range 1..65535", m.Port)
		}
		c.labels(mf+".sourceLabels", m.SourceLabels)
		c.gatewayNames(mf+".gateways", m.Gateways)
		if m.SourceNamespace != "" && !isDNS1123Label(m.SourceNamespace) {
			c.errf(mf+".sourceNamespace", "sourceNamespace match %s is invalid", m.SourceNamespace)
		}
	}
}

// stringMatch is Istio's validateStringMatch (uri: validateStringMatchRegexp,
// which allows an empty prefix), plus the CRD's one-of.
func (c *checker) stringMatch(f string, sm *StringMatch, where string, emptyPrefixOK bool) {
	if sm == nil {
		return
	}
	c.oneOf(f, []string{"exact", "prefix", "regex"}, sm.Exact != nil, sm.Prefix != nil, sm.Regex != nil)
	switch {
	case sm.Prefix != nil && *sm.Prefix == "" && !emptyPrefixOK:
		c.errf(f+".prefix", "%q: prefix string match should not be empty", where)
	case sm.Regex != nil:
		c.regex(f+".regex", *sm.Regex, where)
	}
}

// retryOnPolicies are the retryOn values Istio accepts (besides HTTP
// status codes): agent.supportedRetryOnPolicies.
func retryOnPolicies() []string {
	return []string{"5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "retriable-4xx", "refused-stream",
		"retriable-status-codes", "retriable-headers", "envoy-ratelimited", "http3-post-connect-failure",
		"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"}
}

// httpRetry is Istio's agent.ValidateHTTPRetry.
func (c *checker) httpRetry(f string, r *HTTPRetry) {
	if r == nil {
		return
	}
	c.int32Range(f+".attempts", r.Attempts)
	if r.Attempts < 0 {
		c.errf(f+".attempts", "attempts cannot be negative")
	}
	if r.Attempts == 0 && (r.PerTryTimeout != "" || r.RetryOn != "" || r.RetryRemoteLocalities != nil) {
		c.errf(f, "http retry policy configured when attempts are set to 0 (disabled)")
	}
	c.duration(f+".perTryTimeout", r.PerTryTimeout)
	if r.RetryOn != "" {
		known := retryOnPolicies()
		for _, p := range strings.Split(r.RetryOn, ",") {
			i, _ := strconv.Atoi(p)
			ok := http.StatusText(i) != ""
			for _, k := range known {
				ok = ok || p == k
			}
			if !ok {
				c.errf(f+".retryOn", "%q is not a valid retryOn policy", p)
			}
		}
	}
	c.duration(f+".backoff", r.Backoff)
}

// httpRouteDestinations is Istio's validateHTTPRouteDestinations.
func (c *checker) httpRouteDestinations(f string, ds []HTTPRouteDestination) {
	var total int64
	for i, d := range ds {
		df := fmt.Sprintf("%s[%d]", f, i)
		if d.Destination == nil {
			c.errf(df+".destination", "destination is required")
		}
		c.headerOps(df+".headers", d.Headers)
		c.destination(df+".destination", d.Destination)
		c.int32Range(df+".weight", d.Weight)
		if d.Weight < 0 {
			c.errf(df+".weight", "weight %d < 0", d.Weight)
		}
		total += d.Weight
	}
	if len(ds) > 1 && total == 0 {
		c.errf(f, "total destination weight = 0")
	}
}

// routeDestinations is Istio's validateRouteDestinations (TLS and TCP).
func (c *checker) routeDestinations(f string, ds []RouteDestination) {
	var total int64
	for i, d := range ds {
		df := fmt.Sprintf("%s[%d]", f, i)
		if d.Destination == nil {
			c.errf(df+".destination", "destination is required")
		}
		c.destination(df+".destination", d.Destination)
		c.int32Range(df+".weight", d.Weight)
		if d.Weight < 0 {
			c.errf(df+".weight", "weight %d < 0", d.Weight)
		}
		total += d.Weight
	}
	if len(ds) > 1 && total == 0 {
		c.errf(f, "total destination weight = 0")
	}
}

// destination is Istio's validateDestination.
func (c *checker) destination(f string, d *Destination) {
	if d == nil {
		return
	}
	if d.Host == "*" {
		c.errf(f+".host", "invalid destination host %s", d.Host)
	} else if err := validateWildcardDomain(d.Host); err != nil {
		c.errf(f+".host", "%v", err)
	}
	if d.Subset != "" && !isDNS1123Label(d.Subset) {
		c.errf(f+".subset", "subset name is invalid: %s", d.Subset)
	}
	if d.Port != nil && !validPort(d.Port.Number) {
		c.errf(f+".port.number", "port number %d must be in the range 1..65535", d.Port.Number)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// unappliedVS warns about what Sluice does not apply of a VirtualService.
func (c *checker) unappliedVS(vs *VirtualServiceSpec) {
	const msg = "not applied by sluice: %s has no effect on calls through the gateway"
	if len(vs.Hosts) == 0 {
		c.warnf("spec.hosts", msg, "a delegate VirtualService (no hosts)")
	}
	for i, h := range vs.HTTP {
		f := fmt.Sprintf("spec.http[%d]", i)
		for _, x := range []named{{"redirect", h.Redirect != nil}, {"directResponse", h.DirectResponse != nil}, {"delegate", h.Delegate != nil},
			{"rewrite", h.Rewrite != nil}, {"fault", h.Fault != nil}, {"mirror", h.Mirror != nil}, {"mirrors", h.Mirrors != nil},
			{"mirrorPercent", h.MirrorPercent != nil}, {"mirror_percent", h.MirrorPercentAlt != nil}, {"mirrorPercentage", h.MirrorPercentage != nil},
			{"corsPolicy", h.CorsPolicy != nil}, {"headers", h.Headers != nil}} {
			if x.set {
				c.warnf(f+"."+x.name, msg, x.name)
			}
		}
		for j, m := range h.Match {
			mf := fmt.Sprintf("%s.match[%d]", f, j)
			for _, x := range []named{{"scheme", m.Scheme != nil}, {"authority", m.Authority != nil},
				{"sourceLabels", m.SourceLabels != nil}, {"queryParams", m.QueryParams != nil}, {"ignoreUriCase", m.IgnoreURICase},
				{"withoutHeaders", m.WithoutHeaders != nil}, {"sourceNamespace", m.SourceNamespace != ""}, {"gateways", m.Gateways != nil}, {"statPrefix", m.StatPrefix != ""}} {
				if x.set {
					c.warnf(mf+"."+x.name, msg, "match."+x.name)
				}
			}
		}
		for j, d := range h.Route {
			if d.Headers != nil {
				c.warnf(fmt.Sprintf("%s.route[%d].headers", f, j), msg, "route.headers")
			}
		}
		if r := h.Retries; r != nil {
			for _, x := range []named{{"retryRemoteLocalities", r.RetryRemoteLocalities != nil},
				{"retryIgnorePreviousHosts", r.RetryIgnorePreviousHosts != nil}, {"backoff", r.Backoff != ""}} {
				if x.set {
					c.warnf(f+".retries."+x.name, msg, "retries."+x.name)
				}
			}
		}
	}
	c.unappliedL4(vs) // route_tls.go
}

// named is a field name and whether it is set.
type named struct {
	name string
	set  bool
}

// validHeaderName is RFC 7230's token, as Istio's validHeaderNameRegex.
var validHeaderName = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~A-Za-z0-9]+$")

// headerName is Istio's ValidateHTTPHeaderNameOrJwtClaimRoute.
func (c *checker) headerName(f, name string) {
	switch {
	case name == "":
		c.errf(f, "header name cannot be empty")
	case isJWTClaimRoute(name):
	case name == ":method" || name == ":scheme" || name == ":authority" || name == ":path" || name == ":status":
	case !validHeaderName.MatchString(name):
		c.errf(f, "header name %s is not a valid header name", name)
	}
}

// isJWTClaimRoute is jwt.ToRoutingClaim(name).Match: the
// @request.auth.claims.<claim> or @request.auth.claims[<claim>] form.
func isJWTClaimRoute(name string) bool {
	const prefix = "@request.auth.claims"
	if !strings.HasPrefix(strings.ToLower(name), prefix) {
		return false
	}
	rest := name[len(prefix):]
	return strings.HasPrefix(rest, ".") && len(rest) > 1 || strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]") && len(rest) > 2
}
