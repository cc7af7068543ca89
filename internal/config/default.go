package config

import (
	_ "embed"
	"time"
)

// DefaultYAML is the embedded default config used by `sluice serve` when no
// -c is given: loopback listeners, SQLite records under ./data, and the
// example registry and policy of deploy/examples.
//
//go:embed default.yaml
var DefaultYAML []byte

// Default returns the built-in defaults of every key (docs/contract.md §3).
// Load starts from these, so a file holding only registry.paths works.
func Default() *Config {
	return &Config{
		Listeners: Listeners{
			Proxy: "127.0.0.1:3128",
			HTTP:  "127.0.0.1:8080",
			TLS:   "127.0.0.1:8443",
			DNS:   "127.0.0.1:5353",
			Admin: "127.0.0.1:9901",
		},
		Registry: Registry{Mode: "enforce"},
		DNS: DNS{
			Answer:           "gateway",
			GatewayAddresses: []string{"127.0.0.1"},
			TTL:              Duration(30 * time.Second),
			Cache: DNSCache{
				MinTTL:      Duration(5 * time.Second),
				MaxTTL:      Duration(300 * time.Second),
				NegativeTTL: Duration(30 * time.Second),
				Size:        10000,
			},
			Timeout:     Duration(2 * time.Second),
			MaxInflight: 1024,
		},
		Policy: Policy{
			Mode:    "enforce",
			Bundle:  Bundle{PollingInterval: Duration(60 * time.Second)},
			Timeout: Duration(250 * time.Millisecond),
		},
		Audit: Audit{
			Store:              "sqlite://data/audit.db",
			OnFailure:          "deny",
			Retention:          Duration(400 * 24 * time.Hour),
			RequestIDHeader:    "Sluice-Request-Id",
			CheckpointInterval: Duration(time.Minute),
		},
		Cost:      Cost{Currency: "USD"},
		Telemetry: Telemetry{ServiceName: "sluice", SampleRatio: 1},
		Log:       Log{Format: "text", Level: "info"},
		Limits: Limits{
			MaxConnections: 10000,
			ConnectTimeout: Duration(10 * time.Second),
			IdleTimeout:    Duration(90 * time.Second),
			HeaderTimeout:  Duration(10 * time.Second),
			MaxHeaderBytes: 64 << 10,
			DrainTimeout:   Duration(30 * time.Second),
			BodyTimeout:    Duration(30 * time.Second),
			MinBodyRate:    1024,
			RegistryBytes:  64 << 20,
		},
	}
}
