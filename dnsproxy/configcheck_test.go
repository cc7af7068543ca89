package dnsproxy_test

import (
	"testing"

	"github.com/sluicehq/sluice/dnsproxy"
	"github.com/sluicehq/sluice/internal/config/configtest"
)

func TestCheckConfig(t *testing.T) {
	configtest.Run(t, []configtest.Case{
		{Name: "defaults", YAML: ""},
		{Name: "endpoints without gateway addresses", YAML: "dns: {answer: endpoints, gateway_addresses: []}\n"},
		{Name: "bad answer", YAML: "dns: {answer: nowhere}\n", Want: []string{`cfg:1:7: dns.answer: invalid value "nowhere" (want one of: gateway, endpoints)`}},
		{Name: "bad gateway address", YAML: "dns: {gateway_addresses: [not-an-ip]}\n", Want: []string{`cfg:1:27: dns.gateway_addresses[0]: invalid IP address "not-an-ip"`}},
		{Name: "no gateway address", YAML: "dns: {gateway_addresses: []}\n", Want: []string{"cfg:1:7: dns.gateway_addresses: must not be empty when dns.answer is gateway"}},
		{Name: "upstreams", YAML: "dns: {upstreams: [1.1.1.1, \"[2606:4700::1111]:53\", 9.9.9.9:5353]}\n"},
		{Name: "named upstream", YAML: "dns: {upstreams: [1.1.1.1:53, \"dns.example\"]}\n", Want: []string{`cfg:1:31: dns.upstreams[1]: invalid address "dns.example": want ip or ip:port`}},
		{Name: "min ttl over max", YAML: "dns: {cache: {min_ttl: 10m, max_ttl: 5m}}\n", Want: []string{"cfg:1:15: dns.cache.min_ttl: must not exceed dns.cache.max_ttl (5m0s)"}},
		{Name: "forward zones", YAML: "dns: {forward_zones: [cluster.local, Corp.Example.]}\n"},
		{Name: "root forward zone", YAML: "dns: {forward_zones: [cluster.local, .]}\n", Want: []string{`cfg:1:38: dns.forward_zones[1]: "." would forward every name (an open resolver); list the zones to forward`}},
		{Name: "no inflight", YAML: "dns: {max_inflight: 0}\n", Want: []string{"cfg:1:7: dns.max_inflight: must be at least 1"}},
	}, dnsproxy.CheckConfig)
}
