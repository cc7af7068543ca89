package telemetry_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/config/configtest"
	"github.com/sluicehq/sluice/internal/telemetry"
)

func TestCheckConfig(t *testing.T) {
	configtest.Run(t, []configtest.Case{
		{Name: "defaults", YAML: ""},
		{Name: "endpoints", YAML: "telemetry: {otlp_endpoint: \"collector:4317\"}\n"},
		{Name: "grpc endpoint", YAML: "telemetry: {otlp_endpoint: \"grpc://collector:4317\"}\n"},
		{Name: "http endpoint", YAML: "telemetry: {otlp_endpoint: \"https://collector:4318/v1/traces\"}\n"},
		{Name: "bad scheme", YAML: "telemetry: {otlp_endpoint: \"ftp://collector:4317\"}\n", Want: []string{`cfg:1:13: telemetry.otlp_endpoint: want host:port, grpc://host:port or http(s)://host:port, got "ftp://collector:4317"`}},
		{Name: "no host", YAML: "telemetry: {otlp_endpoint: \"grpc://\"}\n", Want: []string{`cfg:1:13: telemetry.otlp_endpoint: want host:port, grpc://host:port or http(s)://host:port, got "grpc://"`}},
		{Name: "ratio over 1", YAML: "telemetry: {sample_ratio: 1.5}\n", Want: []string{"cfg:1:13: telemetry.sample_ratio: must be between 0 and 1"}},
		{Name: "ratio below 0", YAML: "telemetry: {sample_ratio: -0.1}\n", Want: []string{"cfg:1:13: telemetry.sample_ratio: must be between 0 and 1"}},
	}, telemetry.CheckConfig)
}
