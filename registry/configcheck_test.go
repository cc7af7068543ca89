package registry_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/config/configtest"
	"github.com/sluicehq/sluice/registry"
)

func TestCheckConfig(t *testing.T) {
	configtest.Run(t, []configtest.Case{
		{Name: "defaults", YAML: ""},
		{Name: "no bound", YAML: "limits: {registry_bytes: 0}\n"},
		{Name: "negative bound", YAML: "limits: {registry_bytes: -1}\n", Want: []string{"cfg:1:10: limits.registry_bytes: must not be negative"}},
	}, registry.CheckConfig)
}
