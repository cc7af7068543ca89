package main

import (
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/config/configtest"
)

// TestConfigChecks runs every component's check together, as the commands
// do, and wants for a bad value in each section the message (and position)
// internal/config gave before the checks moved into the components.
func TestConfigChecks(t *testing.T) {
	configtest.Run(t, []configtest.Case{
		{Name: "only registry paths", YAML: "registry: {paths: [deploy/examples/registry]}\n"},
		{Name: "listener address", YAML: "listeners: {proxy: nope}\n", Want: []string{`cfg:1:13: listeners.proxy: invalid address "nope": want host:port`}},
		{Name: "admin off loopback", YAML: "listeners: {admin: 0.0.0.0:9901}\n", Want: []string{"cfg:1:1: admin.token: required (or admin.token_file) when listeners.admin (0.0.0.0:9901) is not a loopback address"}},
		{Name: "admin token twice", YAML: "admin: {token: a, token_file: b}\n", Want: []string{"cfg:1:19: admin.token_file: set admin.token or admin.token_file, not both"}},
		{Name: "registry mode", YAML: "registry: {mode: enforc}\n", Want: []string{`cfg:1:12: registry.mode: invalid value "enforc" (want one of: enforce, report)`}},
		{Name: "dns answer", YAML: "dns: {answer: nowhere}\n", Want: []string{`cfg:1:7: dns.answer: invalid value "nowhere" (want one of: gateway, endpoints)`}},
		{Name: "dns gateway address", YAML: "dns: {gateway_addresses: [not-an-ip]}\n", Want: []string{`cfg:1:27: dns.gateway_addresses[0]: invalid IP address "not-an-ip"`}},
		{Name: "dns no gateway address", YAML: "dns: {gateway_addresses: []}\n", Want: []string{"cfg:1:7: dns.gateway_addresses: must not be empty when dns.answer is gateway"}},
		{Name: "dns upstream", YAML: "dns: {upstreams: [1.1.1.1:53, \"dns.example\"]}\n", Want: []string{`cfg:1:31: dns.upstreams[1]: invalid address "dns.example": want ip or ip:port`}},
		{Name: "dns cache ttls", YAML: "dns: {cache: {min_ttl: 10m, max_ttl: 5m}}\n", Want: []string{"cfg:1:15: dns.cache.min_ttl: must not exceed dns.cache.max_ttl (5m0s)"}},
		{Name: "dns max inflight", YAML: "dns: {max_inflight: 0}\n", Want: []string{"cfg:1:7: dns.max_inflight: must be at least 1"}},
		{Name: "policy mode", YAML: "policy: {mode: audit}\n", Want: []string{`cfg:1:10: policy.mode: invalid value "audit" (want one of: enforce, report)`}},
		{Name: "policy timeout", YAML: "policy: {timeout: 0s}\n", Want: []string{"cfg:1:10: policy.timeout: must be positive"}},
		{Name: "bundle url", YAML: "policy: {bundle: {url: ftp://x}}\n", Want: []string{`cfg:1:19: policy.bundle.url: must be an http:// or https:// URL, got "ftp://x"`}},
		{Name: "bundle polling", YAML: "policy: {bundle: {url: https://b.example/x.tar.gz, polling_interval: 0}}\n", Want: []string{"cfg:1:52: policy.bundle.polling_interval: must be positive"}},
		{Name: "proxy tls pair", YAML: "identity: {proxy_tls: {cert: a.pem}}\n", Want: []string{"cfg:1:12: identity.proxy_tls: cert and key must be set together"}},
		{Name: "proxy tls client ca", YAML: "identity: {proxy_tls: {client_ca: ca.pem}}\n", Want: []string{"cfg:1:24: identity.proxy_tls.client_ca: needs identity.proxy_tls.cert and key"}},
		{Name: "xfcc cidr", YAML: "identity: {trust_xfcc_from: [10.0.0.0/8, nope]}\n", Want: []string{`cfg:1:42: identity.trust_xfcc_from[1]: invalid CIDR "nope"`}},
		{Name: "source cidr", YAML: "identity: {sources: [{cidr: 10.0.0.0/33, workload: a}]}\n", Want: []string{`cfg:1:23: identity.sources[0].cidr: invalid CIDR "10.0.0.0/33"`}},
		{Name: "source workload", YAML: "identity: {sources: [{cidr: 10.0.0.0/8}]}\n", Want: []string{"cfg:1:22: identity.sources[0].workload: required"}},
		{Name: "audit store", YAML: "audit: {store: mysql://x}\n", Want: []string{`cfg:1:9: audit.store: must be sqlite://PATH, postgres://USER@HOST/DB or discard://, got "mysql://x"`}},
		{Name: "audit on failure", YAML: "audit: {on_failure: maybe}\n", Want: []string{`cfg:1:9: audit.on_failure: invalid value "maybe" (want one of: deny, allow)`}},
		{Name: "cost per gib", YAML: "cost: {per_gib: -1}\n", Want: []string{"cfg:1:8: cost.per_gib: must not be negative"}},
		{Name: "cost meter", YAML: "cost: {meters: [{per_request: -1, path_prefix: v1}]}\n", Want: []string{
			"cfg:1:17: cost.meters[0].name: required",
			"cfg:1:17: cost.meters[0].host: required",
			"cfg:1:18: cost.meters[0].per_request: must not be negative",
			"cfg:1:35: cost.meters[0].path_prefix: must start with /",
		}},
		{Name: "otlp scheme", YAML: "telemetry: {otlp_endpoint: \"ftp://collector:4317\"}\n", Want: []string{`cfg:1:13: telemetry.otlp_endpoint: want host:port, grpc://host:port or http(s)://host:port, got "ftp://collector:4317"`}},
		{Name: "otlp no host", YAML: "telemetry: {otlp_endpoint: \"grpc://\"}\n", Want: []string{`cfg:1:13: telemetry.otlp_endpoint: want host:port, grpc://host:port or http(s)://host:port, got "grpc://"`}},
		{Name: "sample ratio", YAML: "telemetry: {sample_ratio: 1.5}\n", Want: []string{"cfg:1:13: telemetry.sample_ratio: must be between 0 and 1"}},
		{Name: "log format", YAML: "log: {format: xml}\n", Want: []string{`cfg:1:7: log.format: invalid value "xml" (want one of: text, json)`}},
		{Name: "log level", YAML: "log: {level: loud}\n", Want: []string{`cfg:1:7: log.level: invalid value "loud" (want one of: debug, info, warn, error)`}},
		{Name: "max connections", YAML: "limits: {max_connections: 0}\n", Want: []string{"cfg:1:10: limits.max_connections: must be at least 1"}},
		{Name: "connect timeout", YAML: "limits: {connect_timeout: 0}\n", Want: []string{"cfg:1:10: limits.connect_timeout: must be positive"}},
		{Name: "max header bytes", YAML: "limits: {max_header_bytes: 1000}\n", Want: []string{"cfg:1:10: limits.max_header_bytes: must be at least 1024"}},
		{Name: "min body rate", YAML: "limits: {min_body_rate: -1}\n", Want: []string{"cfg:1:10: limits.min_body_rate: must not be negative"}},
		{Name: "registry bytes", YAML: "limits: {registry_bytes: -1}\n", Want: []string{"cfg:1:10: limits.registry_bytes: must not be negative"}},
		{Name: "every section at once", YAML: "registry: {mode: x}\ndns: {answer: x}\npolicy: {mode: x}\nidentity: {sources: [{cidr: x, workload: a}]}\n" +
			"audit: {on_failure: x}\ntelemetry: {sample_ratio: 2}\nlog: {format: x}\nlimits: {registry_bytes: -1}\n", Want: []string{
			"cfg:1:12: registry.mode", "cfg:2:7: dns.answer", "cfg:3:10: policy.mode", "cfg:4:23: identity.sources[0].cidr",
			"cfg:5:9: audit.on_failure", "cfg:6:13: telemetry.sample_ratio", "cfg:7:7: log.format", "cfg:8:10: limits.registry_bytes",
		}},
	}, configChecks()...)
}

// TestShippedConfigsPassEveryCheck loads the embedded default and the
// example file with every component's check, as `sluice serve` does.
func TestShippedConfigsPassEveryCheck(t *testing.T) {
	for _, path := range []string{"", "../../deploy/examples/sluice.yaml"} {
		if _, err := config.Load(path, configChecks()...); err != nil {
			t.Errorf("config.Load(%q): %v", path, err)
		}
	}
}
