package audit_test

import (
	"testing"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/discard"
	"github.com/sluicehq/sluice/audit/postgres"
	"github.com/sluicehq/sluice/audit/sqlite"
	"github.com/sluicehq/sluice/internal/config/configtest"
)

func TestCheckConfig(t *testing.T) {
	configtest.Run(t, []configtest.Case{
		{Name: "defaults", YAML: ""},
		{Name: "stores", YAML: "audit: {store: postgresql://u@h/db, on_failure: allow}\n"},
		{Name: "discard", YAML: "audit: {store: \"discard://\"}\n"},
		{Name: "bad store", YAML: "audit: {store: mysql://x}\n", Want: []string{`audit.store: must be sqlite://PATH, postgres://USER@HOST/DB or discard://, got "mysql://x"`}},
		{Name: "empty path", YAML: "audit: {store: \"sqlite://\"}\n", Want: []string{`audit.store: empty path (use sqlite://data/audit.db)`}},
		{Name: "discard with a path", YAML: "audit: {store: \"discard://x\"}\n", Want: []string{`audit.store: takes no path (discard://)`}},
		{Name: "bad on_failure", YAML: "audit: {on_failure: maybe}\n", Want: []string{`cfg:1:9: audit.on_failure: invalid value "maybe" (want one of: deny, allow)`}},
		{Name: "negative per_gib", YAML: "cost: {per_gib: -1}\n", Want: []string{"cfg:1:8: cost.per_gib: must not be negative"}},
		{Name: "meter", YAML: "cost: {meters: [{name: m, host: \"*.example.com\", method: POST, path_prefix: /v1, per_request: 0.1}]}\n"},
		{Name: "meter path", YAML: "cost: {meters: [{name: m, host: h, path_prefix: v1}]}\n", Want: []string{"cost.meters[0].path_prefix: must start with /"}},
		{Name: "empty meter", YAML: "cost: {meters: [{per_request: -1}]}\n", Want: []string{
			"cfg:1:17: cost.meters[0].name: required",
			"cfg:1:17: cost.meters[0].host: required",
			"cfg:1:18: cost.meters[0].per_request: must not be negative",
		}},
	}, audit.ConfigCheck(configStores()))
}

// configStores are the stores of cmd/sluice/stores.go.
func configStores() *audit.Stores {
	s := &audit.Stores{}
	s.Register(sqlite.Driver())
	s.Register(postgres.Driver())
	s.Register(discard.Driver())
	return s
}
