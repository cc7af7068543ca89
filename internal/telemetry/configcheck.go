package telemetry

import (
	"strings"

	"github.com/sluicehq/sluice/internal/config"
)

// CheckConfig checks telemetry.*, the trace exporter's section
// (docs/contract.md §3). It is a config.Check, run by config.Load.
func CheckConfig(c *config.Config) []config.Problem {
	t := c.Telemetry
	var ps []config.Problem
	if e := t.OTLPEndpoint; e != "" {
		if scheme, rest, ok := strings.Cut(e, "://"); ok && (rest == "" || (scheme != "grpc" && scheme != "http" && scheme != "https")) {
			ps = append(ps, config.Problemf("telemetry.otlp_endpoint", "want host:port, grpc://host:port or http(s)://host:port, got %q", e))
		}
	}
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		ps = append(ps, config.Problem{Key: "telemetry.sample_ratio", Msg: "must be between 0 and 1"})
	}
	return ps
}
