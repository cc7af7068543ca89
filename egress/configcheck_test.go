package egress_test

import (
	"testing"

	"github.com/sluicehq/sluice/egress"
	"github.com/sluicehq/sluice/internal/config/configtest"
)

func TestCheckConfig(t *testing.T) {
	configtest.Run(t, []configtest.Case{
		{Name: "defaults", YAML: ""},
		{Name: "report mode", YAML: "registry: {mode: report}\n"},
		{Name: "bad registry mode", YAML: "registry: {mode: enforc}\n", Want: []string{`cfg:1:12: registry.mode: invalid value "enforc" (want one of: enforce, report)`}},
		{Name: "proxy tls", YAML: "identity: {proxy_tls: {cert: a.pem, key: a.key, client_ca: ca.pem}}\n"},
		{Name: "cert without key", YAML: "identity: {proxy_tls: {cert: a.pem}}\n", Want: []string{"cfg:1:12: identity.proxy_tls: cert and key must be set together"}},
		{Name: "client ca without cert", YAML: "identity: {proxy_tls: {client_ca: ca.pem}}\n", Want: []string{"cfg:1:24: identity.proxy_tls.client_ca: needs identity.proxy_tls.cert and key"}},
		{Name: "bad xfcc cidr", YAML: "identity: {trust_xfcc_from: [10.0.0.0/8, nope]}\n", Want: []string{`cfg:1:42: identity.trust_xfcc_from[1]: invalid CIDR "nope"`}},
		{Name: "bad cidr", YAML: "identity: {sources: [{cidr: 10.0.0.0/33, workload: a}]}\n", Want: []string{`identity.sources[0].cidr: invalid CIDR "10.0.0.0/33"`}},
		{Name: "bare ip source", YAML: "identity: {sources: [{cidr: 10.1.2.3, workload: a}]}\n"},
		{Name: "source without workload", YAML: "identity: {sources: [{cidr: 10.0.0.0/8}]}\n", Want: []string{"cfg:1:22: identity.sources[0].workload: required"}},
		{Name: "no connections", YAML: "limits: {max_connections: 0}\n", Want: []string{"cfg:1:10: limits.max_connections: must be at least 1"}},
		{Name: "no connect timeout", YAML: "limits: {connect_timeout: 0}\n", Want: []string{"cfg:1:10: limits.connect_timeout: must be positive"}},
		{Name: "small header block", YAML: "limits: {max_header_bytes: 1000}\n", Want: []string{"cfg:1:10: limits.max_header_bytes: must be at least 1024"}},
		{Name: "negative body rate", YAML: "limits: {min_body_rate: -1}\n", Want: []string{"cfg:1:10: limits.min_body_rate: must not be negative"}},
		{Name: "no body limits", YAML: "limits: {body_timeout: 0, min_body_rate: 0, request_timeout: 0}\n"},
		{Name: "registry bytes are not egress's", YAML: "limits: {registry_bytes: -1}\n"},
	}, egress.CheckConfig)
}
