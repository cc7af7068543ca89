package registry

import (
	"strings"
	"testing"
)

// tpSpec is a DestinationRule spec for api.example.com with the given
// trafficPolicy (flow YAML).
func tpSpec(policy string) string {
	return "  host: api.example.com\n  trafficPolicy: " + policy + "\n"
}

// istioTrafficPolicyCases are the cases of Istio's own tables in
// pkg/config/validation/validation_test.go (istio/istio 86c9f01):
// TestValidateTrafficPolicy, TestValidateConnectionPool,
// TestValidateLoadBalancer, TestValidateOutlierDetection and the
// traffic-policy and subset cases of TestValidateDestinationRule, written
// as YAML, each with the findings Istio gives (a case Istio calls valid
// lists no errors). Istio's durationpb values with nanoseconds are written
// as Go durations ("2.000000005s"). Then Sluice's cases for what Istio
// leaves to the CRD schema: unknown keys, enums, one-of groups, ranges.
// Warnings that a field is not applied are checked apart
// (TestUnappliedFieldsWarn); here they are left out.
func istioTrafficPolicyCases() []drCase {
	const f = "spec.trafficPolicy"
	return []drCase{
		// TestValidateTrafficPolicy
		{name: "valid traffic policy", spec: tpSpec("{loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {tcp: {maxConnections: 7}, http: {http2MaxRequests: 11}}, outlierDetection: {minHealthPercent: 20}}")},
		{name: "invalid traffic policy, nil entries", spec: tpSpec("{}"),
			errs: []string{f + ": traffic policy must have at least one field"}},
		{name: "invalid traffic policy, missing port in port level settings", spec: tpSpec("{portLevelSettings: [{loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {tcp: {maxConnections: 7}, http: {http2MaxRequests: 11}}, outlierDetection: {minHealthPercent: 20}}]}"),
			errs: []string{f + ".portLevelSettings[0].port: portTrafficPolicy must have valid port"}},
		{name: "invalid traffic policy, bad connection pool", spec: tpSpec("{loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {}, outlierDetection: {minHealthPercent: 20}}"),
			errs: []string{f + ".connectionPool: connection pool must have at least one field"}},
		{name: "invalid traffic policy, bad max connection duration", spec: tpSpec("{loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {tcp: {maxConnectionDuration: 500ns}}}"),
			errs: []string{f + ".connectionPool.tcp.maxConnectionDuration: duration must be greater than 1ms"}},
		{name: "invalid traffic policy, panic threshold too low", spec: tpSpec("{loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {tcp: {maxConnections: 7}, http: {http2MaxRequests: 11}}, outlierDetection: {minHealthPercent: -1}}"),
			errs: []string{f + ".outlierDetection.minHealthPercent: percentage -1 is not in range 0..100"}},
		{name: "invalid traffic policy, both upgrade and use client protocol set", spec: tpSpec("{connectionPool: {http: {h2UpgradePolicy: UPGRADE, useClientProtocol: true}}}"),
			errs: []string{f + ".connectionPool.http.useClientProtocol: use client protocol must not be true when H2UpgradePolicy is UPGRADE"}},

		// TestValidateConnectionPool
		{name: "valid connection pool, tcp and http", spec: tpSpec("{connectionPool: {tcp: {maxConnections: 7, connectTimeout: 2s}, http: {http1MaxPendingRequests: 2, http2MaxRequests: 11, maxRequestsPerConnection: 5, maxRetries: 4, idleTimeout: 30s, maxConcurrentStreams: 5}}}")},
		{name: "valid connection pool, tcp only", spec: tpSpec("{connectionPool: {tcp: {maxConnections: 7, connectTimeout: 2s}}}")},
		{name: "valid connection pool, http only", spec: tpSpec("{connectionPool: {http: {http1MaxPendingRequests: 2, http2MaxRequests: 11, maxRequestsPerConnection: 5, maxRetries: 4, idleTimeout: 30s, maxConcurrentStreams: 5}}}")},
		{name: "valid connection pool, http only with empty idle timeout", spec: tpSpec("{connectionPool: {http: {http1MaxPendingRequests: 2, http2MaxRequests: 11, maxRequestsPerConnection: 5, maxRetries: 4, maxConcurrentStreams: 5}}}")},
		{name: "valid connection pool, http2 keepalive", spec: tpSpec("{connectionPool: {http: {http2KeepAlive: {interval: 15s, timeout: 5s}}}}")},
		{name: "invalid connection pool, empty", spec: tpSpec("{connectionPool: {}}"),
			errs: []string{f + ".connectionPool: connection pool must have at least one field"}},
		{name: "invalid connection pool, bad max connections", spec: tpSpec("{connectionPool: {tcp: {maxConnections: -1}}}"),
			errs: []string{f + ".connectionPool.tcp.maxConnections: max connections must be non-negative"}},
		{name: "invalid connection pool, bad connect timeout", spec: tpSpec("{connectionPool: {tcp: {connectTimeout: 2.000000005s}}}"),
			errs: []string{f + ".connectionPool.tcp.connectTimeout: only durations to ms precision are supported"}},
		{name: "invalid connection pool, bad max pending requests", spec: tpSpec("{connectionPool: {http: {http1MaxPendingRequests: -1}}}"),
			errs: []string{f + ".connectionPool.http.http1MaxPendingRequests: http1 max pending requests must be non-negative"}},
		{name: "invalid connection pool, bad max requests", spec: tpSpec("{connectionPool: {http: {http2MaxRequests: -1}}}"),
			errs: []string{f + ".connectionPool.http.http2MaxRequests: http2 max requests must be non-negative"}},
		{name: "invalid connection pool, bad max requests per connection", spec: tpSpec("{connectionPool: {http: {maxRequestsPerConnection: -1}}}"),
			errs: []string{f + ".connectionPool.http.maxRequestsPerConnection: max requests per connection must be non-negative"}},
		{name: "invalid connection pool, bad max retries", spec: tpSpec("{connectionPool: {http: {maxRetries: -1}}}"),
			errs: []string{f + ".connectionPool.http.maxRetries: max retries must be non-negative"}},
		{name: "invalid connection pool, bad idle timeout", spec: tpSpec("{connectionPool: {http: {idleTimeout: 30.000000005s}}}"),
			errs: []string{f + ".connectionPool.http.idleTimeout: only durations to ms precision are supported"}},
		{name: "valid connection pool, tcp timeout disabled", spec: tpSpec("{connectionPool: {tcp: {idleTimeout: 0s}}}")},
		{name: "invalid connection pool, bad max concurrent streams", spec: tpSpec("{connectionPool: {http: {maxConcurrentStreams: -1}}}"),
			errs: []string{f + ".connectionPool.http.maxConcurrentStreams: max concurrent streams must be non-negative"}},
		{name: "invalid connection pool, http2 keepalive without interval", spec: tpSpec("{connectionPool: {http: {http2KeepAlive: {timeout: 5s}}}}"),
			errs: []string{f + ".connectionPool.http.http2KeepAlive.interval: http2 keepalive interval is required"}},
		{name: "invalid connection pool, http2 keepalive without timeout", spec: tpSpec("{connectionPool: {http: {http2KeepAlive: {interval: 15s}}}}"),
			errs: []string{f + ".connectionPool.http.http2KeepAlive.timeout: http2 keepalive timeout is required"}},
		{name: "invalid connection pool, bad http2 keepalive interval", spec: tpSpec("{connectionPool: {http: {http2KeepAlive: {interval: 15.000000005s, timeout: 5s}}}}"),
			errs: []string{f + ".connectionPool.http.http2KeepAlive.interval: only durations to ms precision are supported"}},

		// TestValidateLoadBalancer
		{name: "valid load balancer with simple load balancing", spec: tpSpec("{loadBalancer: {simple: ROUND_ROBIN}}")},
		{name: "valid load balancer with consistentHash load balancing", spec: tpSpec("{loadBalancer: {consistentHash: {minimumRingSize: 1024, httpCookie: {name: test, ttl: 1h}}}}"),
			warns: []string{f + ".loadBalancer.consistentHash.minimumRingSize: consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead"}},
		{name: "invalid load balancer with consistentHash load balancing, missing name", spec: tpSpec("{loadBalancer: {consistentHash: {minimumRingSize: 1024, httpCookie: {ttl: 1h}}}}"),
			errs:  []string{f + ".loadBalancer.consistentHash.httpCookie.name: name required for HttpCookie"},
			warns: []string{f + ".loadBalancer.consistentHash.minimumRingSize: consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead"}},
		{name: "invalid load balancer with consistentHash load balancing, maglev not prime", spec: tpSpec("{loadBalancer: {consistentHash: {maglev: {tableSize: 1000}}}}"),
			errs: []string{f + ".loadBalancer.consistentHash.maglev.tableSize: tableSize must be a prime number for maglev"}},
		{name: "valid load balancer with consistentHash load balancing and unique cookie attributes", spec: tpSpec("{loadBalancer: {consistentHash: {httpCookie: {name: test-cookie, ttl: 1h, attributes: [{name: SameSite, value: Strict}, {name: Secure, value: 'true'}, {name: HttpOnly, value: 'true'}]}}}}")},
		{name: "invalid load balancer with consistentHash load balancing and duplicate cookie attribute names", spec: tpSpec("{loadBalancer: {consistentHash: {httpCookie: {name: test-cookie, ttl: 1h, attributes: [{name: SameSite, value: Strict}, {name: SameSite, value: Lax}, {name: Secure, value: 'true'}]}}}}"),
			errs: []string{f + ".loadBalancer.consistentHash.httpCookie.attributes[1].name: duplicate cookie attribute name: SameSite"}},
		{name: "invalid load balancer with consistentHash load balancing and empty cookie attribute name", spec: tpSpec("{loadBalancer: {consistentHash: {httpCookie: {name: test-cookie, ttl: 1h, attributes: [{name: SameSite, value: Strict}, {name: '', value: some-value}, {name: Secure, value: 'true'}]}}}}"),
			errs: []string{f + ".loadBalancer.consistentHash.httpCookie.attributes[1].name: cookie attribute name cannot be empty"}},
		{name: "invalid: localityLbSetting and zoneAwareLbSetting both set", spec: tpSpec("{loadBalancer: {localityLbSetting: {}, zoneAwareLbSetting: {}}}"),
			errs: []string{f + ".loadBalancer: only one of localityLbSetting and zoneAwareLbSetting can be set"}},
		{name: "valid: zoneAwareLbSetting only", spec: tpSpec("{loadBalancer: {zoneAwareLbSetting: {failover: [{from: us-east, to: eu-west}]}}}"),
			warns: []string{f + ".loadBalancer.zoneAwareLbSetting: outlier detection policy must be provided for failover"}},

		// TestValidateOutlierDetection
		{name: "valid outlier detection", spec: tpSpec("{outlierDetection: {interval: 2s, baseEjectionTime: 2s, maxEjectionPercent: 50}}")},
		{name: "invalid outlier detection, bad interval", spec: tpSpec("{outlierDetection: {interval: 2.000000005s}}"),
			errs: []string{f + ".outlierDetection.interval: only durations to ms precision are supported"}},
		{name: "invalid outlier detection, bad base ejection time", spec: tpSpec("{outlierDetection: {baseEjectionTime: 2.000000005s}}"),
			errs: []string{f + ".outlierDetection.baseEjectionTime: only durations to ms precision are supported"}},
		{name: "invalid outlier detection, bad max ejection percent", spec: tpSpec("{outlierDetection: {maxEjectionPercent: 105}}"),
			errs: []string{f + ".outlierDetection.maxEjectionPercent: percentage 105 is not in range 0..100"}},
		{name: "invalid outlier detection, panic threshold too low", spec: tpSpec("{outlierDetection: {minHealthPercent: -1}}"),
			errs: []string{f + ".outlierDetection.minHealthPercent: percentage -1 is not in range 0..100"}},
		{name: "invalid outlier detection, panic threshold too high", spec: tpSpec("{outlierDetection: {minHealthPercent: 101}}"),
			errs: []string{f + ".outlierDetection.minHealthPercent: percentage 101 is not in range 0..100"}},
		{name: "deprecated outlier detection, ConsecutiveErrors", spec: tpSpec("{outlierDetection: {consecutiveErrors: 101}}"),
			warns: []string{f + ".outlierDetection.consecutiveErrors: outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead"}},
		{name: "consecutive local origin errors is set but split local origin errors is not set", spec: tpSpec("{outlierDetection: {consecutiveLocalOriginFailures: 10}}"),
			errs: []string{f + ".outlierDetection.consecutiveLocalOriginFailures: outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false"}},

		// TestValidateDestinationRule (traffic policies and subsets)
		{name: "simple destination rule", spec: "  host: reviews\n  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n"},
		{name: "simple destination rule with empty selector labels", spec: "  host: reviews\n  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n  workloadSelector: {}\n",
			warns: []string{"spec.workloadSelector: workload selector specified without labels"}},
		{name: "missing destination name", spec: "  host: ''\n  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n",
			errs: []string{"spec.host: empty domain name not allowed"}},
		{name: "missing subset name", spec: "  host: reviews\n  subsets: [{name: '', labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n",
			errs: []string{"spec.subsets[0].name: subset name cannot be empty"}},
		{name: "duplicate subset names", spec: "  host: reviews\n  subsets: [{name: foo, labels: {version: v1}}, {name: foo, labels: {version: v2}}]\n",
			errs: []string{"spec.subsets[1].name: duplicate subset names: foo"}},
		{name: "valid traffic policy, top level", spec: "  host: reviews\n  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {tcp: {maxConnections: 7}, http: {http2MaxRequests: 11}}, outlierDetection: {minHealthPercent: 20}}\n  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n"},
		{name: "invalid traffic policy, top level", spec: "  host: reviews\n  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {}, outlierDetection: {minHealthPercent: 20}}\n  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n",
			errs: []string{f + ".connectionPool: connection pool must have at least one field"}},
		{name: "valid traffic policy, subset level", spec: "  host: reviews\n  subsets: [{name: v1, labels: {version: v1}, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {tcp: {maxConnections: 7}, http: {http2MaxRequests: 11}}, outlierDetection: {minHealthPercent: 20}}}, {name: v2, labels: {version: v2}}]\n"},
		{name: "invalid traffic policy, subset level", spec: "  host: reviews\n  subsets: [{name: v1, labels: {version: v1}, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {}, outlierDetection: {minHealthPercent: 20}}}, {name: v2, labels: {version: v2}}]\n",
			errs: []string{"spec.subsets[0].trafficPolicy.connectionPool: connection pool must have at least one field"}},
		{name: "valid traffic policy, both levels", spec: "  host: reviews\n  trafficPolicy: {loadBalancer: {simple: LEAST_CONN}, connectionPool: {tcp: {maxConnections: 7}, http: {http2MaxRequests: 11}}, outlierDetection: {minHealthPercent: 20}}\n  subsets: [{name: v1, labels: {version: v1}, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {tcp: {maxConnections: 7}, http: {http2MaxRequests: 11}}, outlierDetection: {minHealthPercent: 30}}}, {name: v2, labels: {version: v2}}]\n"},

		// What Istio leaves to the CRD schema, in Sluice's wording.
		{name: "misspelt key in a connection pool", spec: tpSpec("{connectionPool: {tcp: {maxConnectons: 1}}}"),
			errs: []string{f + `.connectionPool.tcp.maxConnectons: unknown key "maxConnectons" (known keys: connectTimeout, idleTimeout, maxConnectionDuration, maxConnections, tcpKeepalive)`}},
		{name: "misspelt key in outlier detection", spec: tpSpec("{outlierDetection: {consecutive5xxError: 1}}"),
			errs: []string{f + `.outlierDetection.consecutive5xxError: unknown key "consecutive5xxError" (known keys: baseEjectionTime, consecutive5xxErrors, consecutiveErrors, consecutiveGatewayErrors, consecutiveLocalOriginFailures, interval, maxEjectionPercent, minHealthPercent, outlierDetectionHttpErrorCodes, splitExternalLocalOriginErrors)`}},
		{name: "misspelt key in a subset's port-level load balancer", spec: "  host: reviews\n  subsets: [{name: v1, trafficPolicy: {portLevelSettings: [{port: {number: 80}, loadBalancer: {consistentHash: {httpHeader: x}}}]}}]\n",
			errs: []string{`spec.subsets[0].trafficPolicy.portLevelSettings[0].loadBalancer.consistentHash.httpHeader: unknown key "httpHeader" (known keys: httpCookie, httpHeaderName, httpQueryParameterName, maglev, minimumRingSize, ringHash, useSourceIp)`}},
		{name: "lower-case enum refused, as the API server does", spec: tpSpec("{loadBalancer: {simple: round_robin}}"),
			errs: []string{f + `.loadBalancer.simple: unsupported value "round_robin" (want UNSPECIFIED, LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST)`}},
		{name: "unknown h2 upgrade policy", spec: tpSpec("{connectionPool: {http: {h2UpgradePolicy: ALWAYS}}}"),
			errs: []string{f + `.connectionPool.http.h2UpgradePolicy: unsupported value "ALWAYS" (want DEFAULT, DO_NOT_UPGRADE, UPGRADE)`}},
		{name: "simple and consistent hash together", spec: tpSpec("{loadBalancer: {simple: RANDOM, consistentHash: {useSourceIp: true}}}"),
			errs: []string{f + ".loadBalancer: only one of simple, consistentHash may be set"}},
		{name: "two hash keys", spec: tpSpec("{loadBalancer: {consistentHash: {httpHeaderName: x-user, useSourceIp: true}}}"),
			errs: []string{f + ".loadBalancer.consistentHash: only one of httpHeaderName, useSourceIp may be set"}},
		{name: "negative uint32", spec: tpSpec("{outlierDetection: {consecutive5xxErrors: -1}}"),
			errs: []string{f + ".outlierDetection.consecutive5xxErrors: -1 is out of range 0..4294967295"}},
		{name: "unparseable duration", spec: tpSpec("{outlierDetection: {interval: 5 minutes}}"),
			errs: []string{f + `.outlierDetection.interval: invalid duration "5 minutes"`}},
		{name: "negative duration", spec: tpSpec("{connectionPool: {tcp: {connectTimeout: -1s}}}"),
			errs: []string{f + ".connectionPool.tcp.connectTimeout: duration must be greater than 1ms"}},
		{name: "negative ring size and warmup percent", spec: tpSpec("{loadBalancer: {consistentHash: {useSourceIp: true, ringHash: {minimumRingSize: -1}}, warmup: {duration: 1s, minimumPercent: -5}}}"),
			errs: []string{f + ".loadBalancer.consistentHash.ringHash.minimumRingSize: -1 is less than the minimum 0", f + ".loadBalancer.warmup.minimumPercent: -5 is less than the minimum 0"}},
		{name: "port-level policy for port 0 is accepted, as Istio accepts it", spec: tpSpec("{portLevelSettings: [{port: {}, tls: {mode: DISABLE}}]}"),
			warns: []string{f + ".portLevelSettings[0].port.number: port 0 is not a port number (1..65535): this policy applies to no port"}},
		{name: "error code out of range", spec: tpSpec("{outlierDetection: {outlierDetectionHttpErrorCodes: [503, 99]}}"),
			errs: []string{f + ".outlierDetection.outlierDetectionHttpErrorCodes[1]: 99 is out of range 100..599"}},
		{name: "bad subset label key", spec: "  host: reviews\n  subsets: [{name: v1, labels: {'-bad': v1}}]\n",
			errs: []string{`spec.subsets[0].labels: invalid tag key: "-bad"`}},
		{name: "bad subset label value", spec: "  host: reviews\n  subsets: [{name: v1, labels: {version: 'v 1'}}]\n",
			errs: []string{`spec.subsets[0].labels: invalid tag value: "v 1"`}},
		{name: "wildcard in a workload selector", spec: "  host: reviews\n  workloadSelector: {matchLabels: {app: '*'}}\n",
			errs: []string{`spec.workloadSelector.matchLabels: wildcard is not supported in selector: "app=*"`}},
		{name: "bad tunnel", spec: tpSpec("{tunnel: {protocol: GET, targetHost: 'bad host', targetPort: 0}}"),
			errs: []string{
				f + `.tunnel.protocol: tunnel protocol must be "CONNECT" or "POST"`,
				f + `.tunnel.targetHost: tunnel target host must be valid FQDN or IP address: domain name "bad host" invalid (label "bad host" invalid); bad host is not a valid IP`,
				f + ".tunnel.targetPort: tunnel target port is invalid: port number 0 must be in the range 1..65535"}},
		{name: "proxy protocol version", spec: tpSpec("{proxyProtocol: {version: V3}}"),
			errs: []string{f + `.proxyProtocol.version: unsupported value "V3" (want V1, V2)`}},
		{name: "locality weights must total 100", spec: tpSpec("{loadBalancer: {localityLbSetting: {distribute: [{from: us-west/zone1/*, to: {us-west/zone1/*: 80, us-west/zone2/*: 10}}]}}}"),
			errs: []string{f + ".loadBalancer.localityLbSetting.distribute[0].to: total locality weight 90 != 100"}},
		{name: "warmup needs a duration", spec: tpSpec("{loadBalancer: {simple: ROUND_ROBIN, warmup: {aggression: 0}}}"),
			errs: []string{f + ".loadBalancer.warmup.duration: duration is required", f + ".loadBalancer.warmup.aggression: aggression should be greater than 0"}},
	}
}

// TestIstioTrafficPolicyTables runs the ported tables through Parse and
// Build, as `sluice validate` does.
func TestIstioTrafficPolicyTables(t *testing.T) {
	se := seDoc("  hosts: [api.example.com]\n  resolution: DNS\n  ports: [{number: 80, name: http, protocol: HTTP}]\n")
	for _, tc := range istioTrafficPolicyCases() {
		t.Run(tc.name, func(t *testing.T) {
			errs, warns := findings(t, se, drDoc(tc.spec))
			var kept []string
			for _, w := range warns {
				if !strings.Contains(w, ": not applied by sluice: ") && !strings.Contains(w, "this DestinationRule has no effect in sluice") {
					kept = append(kept, w)
				}
			}
			checkFindings(t, errs, kept, tc.errs, tc.warns)
		})
	}
}

// TestUnappliedFieldsWarn: every field set that Sluice does not apply is
// a warning naming it, at the top level, per port and per subset.
func TestUnappliedFieldsWarn(t *testing.T) {
	se := seDoc("  hosts: [api.example.com]\n  resolution: DNS\n  ports: [{number: 80, name: http, protocol: HTTP}]\n")
	spec := "  host: api.example.com\n" +
		"  trafficPolicy: {retryBudget: {percent: 20}, portLevelSettings: [{port: {number: 80}, loadBalancer: {warmup: {duration: 10s}}}]}\n" +
		"  subsets: [{name: v1, trafficPolicy: {tunnel: {targetHost: a.example.com, targetPort: 443}}}]\n"
	_, warns := findings(t, se, drDoc(spec))
	want := []string{
		"spec.trafficPolicy.portLevelSettings[0].loadBalancer.warmup: not applied by sluice: portLevelSettings.loadBalancer.warmup has no effect on calls through the gateway",
		"spec.trafficPolicy.retryBudget: not applied by sluice: retryBudget has no effect on calls through the gateway",
		"spec.subsets[0].trafficPolicy.tunnel: not applied by sluice: tunnel has no effect on calls through the gateway",
	}
	if strings.Join(warns, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n got %q\nwant %q", warns, want)
	}
}

// TestTrafficPrecedence: a port-level policy replaces the top-level one
// for its port entirely (absent parts take defaults, as in Istio); other
// ports keep the top level; a rule without the three takes the plain path.
func TestTrafficPrecedence(t *testing.T) {
	se := seDoc("  hosts: [api.example.com]\n  resolution: STATIC\n  endpoints: [{address: 127.0.0.1, weight: 2}, {address: 127.0.0.2}]\n  ports: [{number: 80, name: http, protocol: HTTP}, {number: 81, name: http2, protocol: HTTP}, {number: 82, name: http3, protocol: HTTP}]\n")
	dr := drDoc(tpSpec("{loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {tcp: {maxConnections: 3, connectTimeout: 250ms}}, outlierDetection: {consecutive5xxErrors: 2}, portLevelSettings: [{port: {number: 81}, loadBalancer: {consistentHash: {httpHeaderName: x-user}}}, {port: {number: 82}, tls: {mode: DISABLE}}]}"))
	res, ds, _ := Parse("t.yaml", []byte(se+"\n---\n"+dr))
	s, bds := Build(res, BuildOptions{CredentialsDir: t.TempDir()})
	if errs := append(ds, bds...).Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	r80, _ := s.Lookup(mustHost(t, "api.example.com"), 80)
	if r80.Traffic == nil || r80.Traffic.LB.Algorithm != "ROUND_ROBIN" || r80.Traffic.Pool.MaxConnections != 3 ||
		r80.Traffic.Pool.ConnectTimeout.String() != "250ms" || !r80.Traffic.Outlier.Enabled || r80.Traffic.Outlier.Consecutive5xx != 2 ||
		r80.Traffic.Outlier.MaxEjectionPercent != 10 || r80.Cluster != "ns/se:80" {
		t.Fatalf("port 80: %+v %q", r80.Traffic, r80.Cluster)
	}
	if ts := r80.Targets(mustHost(t, "api.example.com")); ts[0].Weight != 2 || ts[1].Weight != 0 {
		t.Fatalf("weights: %+v", ts)
	}
	r81, _ := s.Lookup(mustHost(t, "api.example.com"), 81)
	if r81.Traffic == nil || r81.Traffic.LB.Algorithm != "CONSISTENT_HASH" || r81.Traffic.LB.HashHeader != "x-user" ||
		r81.Traffic.Pool.MaxConnections != 0 || r81.Traffic.Outlier.Enabled {
		t.Fatalf("port 81: %+v", r81.Traffic)
	}
	if r82, _ := s.Lookup(mustHost(t, "api.example.com"), 82); r82.Traffic != nil {
		t.Fatalf("port 82 (TLS-only port policy): %+v", r82.Traffic)
	}
}
