package config_test

import (
	"os"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/config/configtest"
)

// TestParse covers what config checks itself: syntax, keys, types,
// listener addresses, the admin token rules and log:. Each component's
// section is tested with its CheckConfig (configcheck_test.go next to it),
// and all of them together in cmd/sluice.
func TestParse(t *testing.T) {
	configtest.Run(t, []configtest.Case{
		{Name: "only registry paths", YAML: "registry: {paths: [deploy/examples/registry]}\n"},
		{Name: "empty file", YAML: ""},
		{Name: "unknown key", YAML: "listeners:\n  proxxy: x\n", Want: []string{`cfg:2:3: listeners.proxxy: unknown key "proxxy"`}},
		{Name: "bad duration", YAML: "dns: {ttl: 3x}\n", Want: []string{`cfg:1:12: dns.ttl: invalid duration "3x"`}},
		{Name: "bad int", YAML: "limits: {max_connections: many}\n", Want: []string{`cfg:1:27: limits.max_connections: invalid integer "many"`}},
		{Name: "bad address", YAML: "listeners: {proxy: nope}\n", Want: []string{`listeners.proxy: invalid address "nope"`}},
		{Name: "admin off loopback needs token", YAML: "listeners: {admin: 0.0.0.0:9901}\n", Want: []string{"admin.token: required (or admin.token_file) when listeners.admin (0.0.0.0:9901) is not a loopback address"}},
		{Name: "admin off loopback with token", YAML: "listeners: {admin: 0.0.0.0:9901}\nadmin: {token: s3cret}\n"},
		{Name: "admin token twice", YAML: "admin: {token: a, token_file: b}\n", Want: []string{"cfg:1:19: admin.token_file: set admin.token or admin.token_file, not both"}},
		{Name: "bad log level", YAML: "log: {level: loud}\n", Want: []string{`cfg:1:7: log.level: invalid value "loud" (want one of: debug, info, warn, error)`}},
		{Name: "syntax", YAML: "registry: [\n", Want: []string{"cfg:1: YAML syntax error"}},
		{Name: "every error at once", YAML: "dns: {ttl: x}\nlog: {format: xml}\n", Want: []string{"dns.ttl", "log.format"}},
		{Name: "other sections are the components' checks", YAML: "registry: {mode: enforc}\naudit: {store: mysql://x}\n"},
	})
}

// TestChecksInFileOrder shows that Parse runs every Check it is given as
// well as its own, places each Problem at its key, and lists them in file
// order after the decoding errors.
func TestChecksInFileOrder(t *testing.T) {
	first := func(*config.Config) []config.Problem { return []config.Problem{{Key: "cost.meters[1]", Msg: "first"}} }
	second := func(*config.Config) []config.Problem { return []config.Problem{{Key: "dns.ttl", Msg: "second"}} }
	yaml := "dns:\n  ttl: 5s\ncost: {meters: [{name: a, host: b}, {name: c, host: d}]}\nlog: {format: xml}\nlimits: {max_connections: x}\n"
	_, err := config.Parse([]byte(yaml), "cfg", first, second)
	want := `cfg:5:27: limits.max_connections: invalid integer "x"
cfg:2:3: dns.ttl: second
cfg:3:37: cost.meters[1]: first
cfg:4:7: log.format: invalid value "xml" (want one of: text, json)`
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
}

func TestDefaults(t *testing.T) {
	c, err := config.Parse([]byte("registry: {paths: [r]}\n"), "cfg")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listeners.Proxy != "127.0.0.1:3128" || c.DNS.TTL.D() != 30*time.Second || c.Audit.Retention.D() != 400*24*time.Hour ||
		c.Audit.RequestIDHeader != "Sluice-Request-Id" || c.Limits.MaxConnections != 10000 {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30s": 30 * time.Second, "400d": 400 * 24 * time.Hour, "1d12h": 36 * time.Hour, "0": 0} {
		if got, err := config.ParseDuration(in); err != nil || got != want {
			t.Errorf("config.ParseDuration(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"d", "3x", "-5s", "1.5d"} {
		if _, err := config.ParseDuration(bad); err == nil {
			t.Errorf("config.ParseDuration(%q) accepted", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	c := &config.Config{File: "/etc/sluice/sluice.yaml"}
	if got := c.Resolve("registry"); got != "/etc/sluice/registry" {
		t.Errorf("got %s", got)
	}
	if got := (&config.Config{}).Resolve("registry"); got != "registry" {
		t.Errorf("embedded: got %s", got)
	}
}

func TestLoadResolvesRelativeStore(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/sluice.yaml"
	if err := os.WriteFile(path, []byte("audit: {store: sqlite://data/audit.db}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Audit.Store != "sqlite://"+dir+"/data/audit.db" {
		t.Errorf("store %s", c.Audit.Store)
	}
	// The shipped example config is valid.
	if _, err := config.Load("../../deploy/examples/sluice.yaml"); err != nil {
		t.Errorf("deploy/examples/sluice.yaml: %v", err)
	}
}
