package registry

import (
	"regexp"
	"strings"
	"testing"
)

// istioMessages are the formats of the messages of Istio's validation
// webhook that Sluice emits, copied verbatim from istio/istio at
// 86c9f01fd735 (2026-08-22): pkg/config/validation/validation.go,
// pkg/config/validation/agent/validation.go and
// pkg/config/visibility/visibility.go. Two of them lack a space between
// "generated"/"hosts" and "from"/"field"; so does Istio.
func istioMessages() []string {
	return []string{
		// ValidateServiceEntry
		"service entry must have at least one host",
		"invalid host %s",
		"partial wildcard %q not allowed",
		"CIDR addresses are allowed only for NONE/STATIC resolution types",
		"service entry port name %q already defined",
		"service entry port %d already defined",
		"invalid port name: %s",
		"unsupported protocol: %s",
		"no endpoints should be provided for resolution type none",
		"workloadSelector should not be set when resolution mode is NONE",
		"hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode %s, %v",
		"there must only be 0 or 1 endpoint for resolution mode %s",
		"endpoint address %q is not a valid FQDN or an IP address",
		"endpoint port %v is not defined by the service entry",
		"service entry can not have more than one host specified simultaneously with address and tcp port",
		"at least one wildcard host must be provided for resolution type %s",
		"host must be wildcarded for resolution mode %s",
		"addresses cannot be set for resolution type %s. HTTP route domains will only be generatedfrom the hosts field values",
		"endpoints cannot be set for resolution type %s. Destination IP address determined from hostsfield values",
		"only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type %s",
		"unsupported resolution type %s",
		"multiple hosts provided with non-HTTP, non-TLS ports",
		"only one of WorkloadSelector or Endpoints is allowed in Service Entry",
		"service entry port may not be null",
		"endpoint cannot be nil",
		"ports cannot be nil",
		"port cannot be nil",
		"addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not enabled",
		"location MESH_INTERNAL with resolution type %s is not supported when using waypoints",
		// validateWorkloadEntry, ValidateUnixAddress
		"address is required",
		"address is unset with network %q",
		"unix address must not be empty",
		"%s is not an absolute path to a file",
		"unix endpoint %s must not include ports",
		"endpoint address %q is not a valid IP address",
		"exactly 1 service port required for unix endpoints",
		// agent: ValidateWildcardDomain, ValidateFQDN, ValidatePort, ValidateIPSubnet
		"domain name %q invalid (label %q invalid)",
		"domain name %q invalid (top level domain %q cannot be all-numeric)",
		"domain name %q too long (max 255)",
		"empty domain name not allowed",
		"port number %d must be in the range 1..65535",
		"%v is not a valid CIDR block",
		"%v is not a valid IP",
		// validateExportTo, visibility.Instance.Validate
		"duplicate entries in exportTo for entry %s",
		"duplicate entries in exportTo: . and current namespace %s",
		"exportTo ~ (none) is not allowed for Istio configuration objects",
		"only .,*, or a valid DNS 1123 label is allowed as exportTo entry",
		"destination rule with workload selector cannot have exportTo beyond current namespace",
		"destination rule with workload selector cannot have multiple entries in exportTo",
		"cannot have both public (*) and non-public exportTo values for a resource",
		"cannot export service entry to no one (~) and someone",
		// ValidateDestinationRule, validateTrafficPolicy, validatePortTrafficPolicies, validateSubsetName
		"traffic policy must have at least one field",
		"tunnel and proxyProtocol must not be set together",
		"portTrafficPolicy must have valid port",
		"port traffic policy must have at least one field",
		"duplicate subset names: %s",
		"subset name cannot be empty",
		"subset name is invalid: %s",
		// agent.ValidateTLS
		"cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true",
		"cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true",
		"cannot specify client certificates or CA certificate or CA CRL If credentialName is set",
		"client certificate required for mutual tls",
		"private key required for mutual tls",
		"invalid configmap:// credentialName: invalid resource name %q. Expected namespace and name",
		"invalid configmap:// credentialName: invalid resource name %q. Expected namespace",
		"invalid configmap:// credentialName: invalid resource name %q. Expected name",
		"invalid configmap:// credentialName: namespace must match the configuration namespace %q",
		// agent.ValidateDuration, ValidatePercent, agent.ValidateIPAddress
		"duration must be greater than 1ms",
		"only durations to ms precision are supported",
		"percentage %v is not in range 0..100",
		// validateOutlierDetection
		"outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead",
		"outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false",
		// validateConnectionPool
		"connection pool must have at least one field",
		"http1 max pending requests must be non-negative",
		"http2 max requests must be non-negative",
		"max requests per connection must be non-negative",
		"max retries must be non-negative",
		"use client protocol must not be true when H2UpgradePolicy is UPGRADE",
		"max concurrent streams must be non-negative",
		"http2 keepalive interval is required",
		"http2 keepalive timeout is required",
		"max connections must be non-negative",
		// validateLoadBalancer, agent.ValidateLocalityLbSetting, agent.ValidateZoneAwareLbSetting
		"name required for HttpCookie",
		"cookie attribute name cannot be empty",
		"duplicate cookie attribute name: %s",
		"consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead",
		"only one of MinimumRingSize or Maglev/Ringhash can be specified",
		"tableSize must be set for maglev",
		"tableSize must be less than 5000011 for maglev",
		"tableSize must be a prime number for maglev",
		"only one of localityLbSetting and zoneAwareLbSetting can be set",
		"duration is required",
		"minimumPercent value should be less than or equal to 100",
		"aggression should be greater than 0",
		"can not simultaneously specify 'distribute' and 'failover'",
		"locality weight must be in range [1, 100]",
		"total locality weight %v != 100",
		"outlier detection policy must be provided for failover",
		"locality lb failover settings must specify different regions",
		"locality lb failover only specify region",
		"locality lb failover region should not contain '*' wildcard",
		"locality %s wildcard '*' number can not exceed 1 and must be in the end",
		"locality %s must not contain empty region/zone/subzone info",
		"locality %s overlap with previous specified ones",
		"can not simultaneously set 'failover' and topology label '%s' in 'failover_priority'",
		"'failover_priority' for zone aware lb must not use topology label '%s'; region- and zone-level routing are handled automatically",
		"zone aware lb failover settings must specify different regions",
		"zone aware lb failover only specifies region; zone and subzone failover are handled automatically",
		"zone aware lb failover region should not contain '*' wildcard",
		// validateTunnelSettings
		`tunnel protocol must be "CONNECT" or "POST"`,
		"tunnel target host must be valid FQDN or IP address: %s; %s",
		"tunnel target port is invalid: %s",
		// labels.Instance.Validate, validateWorkloadSelector
		"invalid tag key: %q",
		"invalid tag value: %q",
		"empty key is not supported in selector: %q",
		"wildcard is not supported in selector: %q",
		"workload selector specified without labels",
		"service entry: %s, will be applied to all services in namespace",
		// ValidateVirtualService, validateHTTPRoute, validateHTTPRouteMatchRequest,
		// validateStringMatch, validateGatewayNames, agent.ValidateHTTPRetry,
		// validateHTTPRouteDestinations, validateDestination, validateTLSRoute, validateTCPRoute
		"delegate virtual service must have no gateways specified",
		"delegate virtual service must have no tls route specified",
		"delegate virtual service must have no tcp route specified",
		"wildcard host * is not allowed for virtual services bound to the mesh gateway",
		"duplicate hosts in virtual service: %s & %s",
		"http, tcp or tls must be provided in virtual service",
		"using legacy gatewayName format %q; prefer the <namespace>/<name> format: %q",
		"config namespace and gateway name cannot be empty",
		"invalid value for namespace: %q",
		"invalid value for gateway name: %q",
		"HTTP route cannot contain both route and redirect",
		"HTTP route cannot contain both fault and redirect",
		"HTTP route rule cannot contain both rewrite and redirect",
		"HTTP route rule cannot contain both direct_response and redirect",
		"HTTP route cannot contain both route and direct_response",
		"HTTP route cannot contain both fault and direct_response",
		"HTTP route rule cannot contain both rewrite and direct_response",
		"HTTP route, redirect or direct_response is required",
		"HTTP route cannot contain both mirror and mirrors",
		"%q: prefix string match should not be empty",
		"%q: regex string match should not be empty",
		"%q: regex is too large, max length allowed is 1024",
		"%q: %v; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)",
		"sourceNamespace match %s is invalid",
		"attempts cannot be negative",
		"http retry policy configured when attempts are set to 0 (disabled)",
		"%q is not a valid retryOn policy",
		"destination is required",
		"weight %d < 0",
		"total destination weight = 0",
		"invalid destination host %s",
		"TLS route must have at least one match condition",
		"TLS match must have at least one SNI host",
		"TLS route is required",
		"TCP route is required",
		"JWT claim based routing (key: %s) is only supported for gateway, found no gateways: %v",
		"header name cannot be empty",
		"header name %s is not a valid header name",
		// validateHTTPRouteConflict, validateHTTPRouteMatchRequest,
		// validateTLSMatch, validateSniHost,
		// ValidateWildcardDomainForVirtualServiceBoundToGateway
		"root HTTP route %s must not specify redirect",
		"root HTTP route %s must not specify route",
		"delegate HTTP route cannot contain delegate",
		"header match %v cannot be null",
		"using an IP address (%q) goes against SNI spec and most clients do not support this",
		"SNI host %q is not a compatible subset of any of the virtual service hosts: [%s]",
		"domain name %s invalid, should follow '%s' format",
		"domain name %q invalid (label %q invalid). should follow %s format",
		// validateHTTPRoute: header edits (ValidateHTTPHeaderWithAuthorityOperationName,
		// ValidateHTTPHeaderOperationName, ValidateHTTPHeaderValue, validateHeaderValue,
		// validateAuthorityRewrite)
		`invalid header %q: header cannot have ":" prefix`,
		`invalid header %q: cannot set Host header`,
		"header value configuration %s is invalid",
		"header value configuration: invalid header configuration. Un-escaped %",
		"header value configuration: invalid header configuration. Expecting ',', ']', or whitespace",
		`header value configuration: invalid header configuration. Expecting '"'`,
		"header value configuration: invalid header configuration. Un-terminated backslash in JSON string",
		"header value configuration: invalid header configuration. Expecting ')' or whitespace after '{}', but found '{}'",
		"header value configuration: invalid header configuration. Expecting '%' or whitespace after",
		"header value configuration: invalid header configuration. Un-terminated variable expression '%s'",
		"authority header cannot be set multiple times: have %q, attempting to set %q",
		// validateCORSPolicy, validateAllowOrigins, validateCORSHTTPMethod
		"'%v' is not a valid match type for CORS allow origins",
		"%q is not a supported HTTP method",
		"max_age duration is accurate only to seconds precision",
		// validateHTTPFaultInjection, validatePercentage, validateHTTPStatus, validateGRPCStatus
		"HTTP fault injection must have an abort and/or a delay",
		"HTTP/2 abort fault injection not supported yet",
		"abort configured, but error type not set",
		"HTTP status %d is not in range 200-599",
		"gRPC status %q is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example 'NOT_FOUND'",
		"exponentialDelay not supported yet",
		"percentage %v is neither 0.0, nor in range [0.0001, 100.0]",
		// validateHTTPRoute mirrors, validateHTTPMirrors
		"mirror_percent must have a max value of 100 (it has %d)",
		`using deprecated setting "mirrorPercent", use "mirrorPercentage" instead`,
		"mirror_percentage must have a max value of 100 (it has %f)",
		"mirror_percentage must have a min value of 0 (it has %f)",
		"mirror cannot be null",
		"destination is required for mirrors",
		"mirror percentage must have a max value of 100 (it has %f)",
		"mirror percentage must have a min value of 0 (it has %f)",
		// validateHTTPRedirect, validateHTTPDirectResponse
		"redirect may only specify one of uri or prefix_rewrite",
		"redirect prefix_rewrite requires all URI matches to use prefix match type",
		"redirect must specify URI, authority, scheme, or port",
		"%d is not a valid redirect code, must be 3xx",
		`invalid redirect scheme, must be "http" or "https"`,
		"large direct_responses may impact control plane performance, must be less than 1MB",
		"large direct_responses may impact control plane performance",
		// validateHTTPRewrite, validateURIRegexRewrite, validateStringRegexp.
		// Istio joins the last two with a newline (errors.Join); Sluice
		// with ": ", to keep a finding on one line.
		"rewrite may only contain one of URI or UriRegexRewrite",
		"rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or UriRegexRewrite may be specified",
		"UriRegexRewrite has errors: UriRegexRewrite requires both Rewrite and Match fields to be specified",
		"UriRegexRewrite has errors: %q: %v; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)",
		"UriRegexRewrite has errors: %q: regex is too large, max length allowed is 1024",
		// analyzeUnreachableHTTPRules, …TCPRules, …TLSRules
		// (rule and match are routeName/requestName: "#2", or a name
		// quoted with %q)
		"virtualService rule %v not used (%s)",
		"virtualService rule %q not used (%s)",
		"virtualService rule %v match %v is not used (duplicate/overlapping match in rule %v)",
		"virtualService rule %v match %q is not used (duplicate/overlapping match in rule %v)",
	}
}

// sluiceMessages are Sluice's own: what Istio leaves to the CRD schema
// (sizes, enums, unknown keys, types: the API server's wording differs
// and names no line), and what only Sluice checks because it loads
// certificates and picks one DestinationRule itself.
func sluiceMessages() []string {
	return []string{
		"must have at most %d items",
		"unsupported location %s (want MESH_EXTERNAL or MESH_INTERNAL)",
		"unsupported tls mode %s (want DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL)",
		"unknown key %q (known keys: %s)",
		"expected a list, got %q", // yamlx: a scalar, quoted
		"no ports: the entry declares no reachable destination",
		"port %d has more than one port-level policy; the first applies",
		"port %d is not a port number (1..65535): this policy applies to no port",
		"ISTIO_MUTUAL is for hops inside the mesh; sluice does not originate Istio mTLS and sends plain traffic on this route",
		"credential %q not found: mount the Secret at %s",
		"open %s: no such file or directory",
		"no ServiceEntry declares host %s; this DestinationRule has no effect in sluice",
		// The CRD schema's enums, one-of groups, integer ranges and
		// duration syntax.
		"unsupported value %q (want %s)",
		"only one of %s may be set",
		"%d is out of range 0..4294967295",
		"%d is out of range 100..599",
		"%d is out of range -2147483648..2147483647",
		"invalid base64 %q",
		"%v is less than the minimum 0",
		"invalid duration %q",
		// A field set that Sluice does not apply.
		"not applied by sluice: %s has no effect on calls through the gateway",
		"subset %s is not defined by a DestinationRule for host %s",
		"port %d is not declared by ServiceEntry %s for host %s",
		"no ServiceEntry declares hosts %s with a port it routes (HTTP for http rules, TLS or TCP for tls and tcp rules); this VirtualService has no effect in sluice",
		"not applied by sluice: workloadSelector selects sidecars and gateways by label; sluice applies this rule to every call through the gateway",
		"workloadSelector %s does not select this gateway (registry.kubernetes.pod_labels %s); this DestinationRule does not apply",
	}
}

// formatRegexp matches what fmt makes of format (verbs %s %q %v %d %f). A
// %s or %v does not match text in quotes, so that a %q where Istio has
// %v (or the reverse) is caught.
func formatRegexp(format string) *regexp.Regexp {
	const plain = `(|[^"].*)`
	re := regexp.QuoteMeta(format)
	re = strings.NewReplacer("%s", plain, "%v", plain, "%d", "-?[0-9]+", "%f", `-?[0-9]+\.[0-9]{6}`, "%q", `".*"`).Replace(re)
	return regexp.MustCompile("^" + re + "$")
}

// TestPinnedMessagesAreIstios guards the fidelity of the validation
// tests: every message they pin is one of Istio's, or one of the few
// listed as Sluice's own. A test that pinned a message of Sluice's
// invention as if it were Istio's (as "duplicate entries in exportTo: ns"
// once was) fails here.
func TestPinnedMessagesAreIstios(t *testing.T) {
	var known []*regexp.Regexp
	for _, f := range append(istioMessages(), sluiceMessages()...) {
		known = append(known, formatRegexp(f))
	}
	var pinned []string
	for _, c := range serviceEntryCases() {
		pinned = append(append(pinned, c.errs...), c.warns...)
	}
	for _, c := range destinationRuleCases() {
		pinned = append(append(pinned, c.errs...), c.warns...)
	}
	for _, c := range istioTrafficPolicyCases() {
		pinned = append(append(pinned, c.errs...), c.warns...)
	}
	for _, c := range istioVirtualServiceCases() {
		pinned = append(append(pinned, c.errs...), c.warns...)
	}
	for _, c := range istioAgentCases() {
		pinned = append(append(pinned, c.errs...), c.warns...)
	}
	for _, cases := range istioDRTables() {
		for _, c := range cases {
			pinned = append(append(pinned, c.errs...), c.warns...)
		}
	}
	for _, c := range istioServiceEntryCases() {
		pinned = append(append(pinned, c.errs...), c.warns...)
	}
	for _, cases := range istioVSTables() {
		for _, c := range cases {
			pinned = append(append(pinned, c.errs...), c.warns...)
		}
	}
	for _, p := range pinned {
		_, msg, _ := strings.Cut(p, ": ") // "field: message"
		ok := false
		for _, re := range known {
			ok = ok || re.MatchString(msg)
		}
		if !ok {
			t.Errorf("pinned message is neither Istio's nor listed as Sluice's own: %q", msg)
		}
	}
}

func TestFormatRegexp(t *testing.T) {
	tests := []struct {
		format, msg string
		want        bool
	}{
		{"invalid host %s", "invalid host *", true},
		{"%v is not a valid IP", "10.0.0.300 is not a valid IP", true},
		{"%v is not a valid IP", `"10.0.0.300" is not a valid IP`, false}, // %q where Istio has %v
		{"%v is not a valid IP", " is not a valid IP", true},
		{"endpoint address %q is not a valid IP address", "endpoint address db is not a valid IP address", false},
		{"service entry port %d already defined", "service entry port x already defined", false},
		{"duplicate entries in exportTo for entry %s", "duplicate entries in exportTo: ns", false},
	}
	for _, tc := range tests {
		if got := formatRegexp(tc.format).MatchString(tc.msg); got != tc.want {
			t.Errorf("%q ~ %q = %v, want %v", tc.format, tc.msg, got, tc.want)
		}
	}
}
