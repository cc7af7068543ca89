package policy_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/config/configtest"
	"github.com/sluicehq/sluice/policy"
)

func TestCheckConfig(t *testing.T) {
	configtest.Run(t, []configtest.Case{
		{Name: "defaults", YAML: ""},
		{Name: "report mode and a bundle", YAML: "policy: {mode: report, bundle: {url: https://b.example/x.tar.gz}}\n"},
		{Name: "bad mode", YAML: "policy: {mode: audit}\n", Want: []string{`cfg:1:10: policy.mode: invalid value "audit" (want one of: enforce, report)`}},
		{Name: "no timeout", YAML: "policy: {timeout: 0s}\n", Want: []string{"cfg:1:10: policy.timeout: must be positive"}},
		{Name: "bundle url scheme", YAML: "policy: {bundle: {url: ftp://x}}\n", Want: []string{`cfg:1:19: policy.bundle.url: must be an http:// or https:// URL, got "ftp://x"`}},
		{Name: "no polling interval", YAML: "policy: {bundle: {url: https://b.example/x.tar.gz, polling_interval: 0}}\n", Want: []string{"cfg:1:52: policy.bundle.polling_interval: must be positive"}},
		{Name: "polling interval without bundle", YAML: "policy: {bundle: {polling_interval: 0}}\n"},
	}, policy.CheckConfig)
}
