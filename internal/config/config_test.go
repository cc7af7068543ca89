package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error, one per problem; nil = valid
	}{
		{"only registry paths", "registry: {paths: [deploy/examples/registry]}\n", nil},
		{"empty file", "", nil},
		{"unknown key", "listeners:\n  proxxy: x\n", []string{`cfg:2:3: listeners.proxxy: unknown key "proxxy"`}},
		{"bad duration", "dns: {ttl: 3x}\n", []string{`cfg:1:12: dns.ttl: invalid duration "3x"`}},
		{"bad enum", "registry: {mode: enforc}\n", []string{`cfg:1:12: registry.mode: invalid value "enforc" (want one of: enforce, report)`}},
		{"bad int", "limits: {max_connections: many}\n", []string{`cfg:1:27: limits.max_connections: invalid integer "many"`}},
		{"bad address", "listeners: {proxy: nope}\n", []string{`listeners.proxy: invalid address "nope"`}},
		{"admin off loopback needs token", "listeners: {admin: 0.0.0.0:9901}\n", []string{"admin.token: required (or admin.token_file) when listeners.admin (0.0.0.0:9901) is not a loopback address"}},
		{"admin off loopback with token", "listeners: {admin: 0.0.0.0:9901}\nadmin: {token: s3cret}\n", nil},
		{"bad store", "audit: {store: mysql://x}\n", []string{`audit.store: must be sqlite://PATH or postgres://..., got "mysql://x"`}},
		{"bad cidr", "identity: {sources: [{cidr: 10.0.0.0/33, workload: a}]}\n", []string{`identity.sources[0].cidr: invalid CIDR "10.0.0.0/33"`}},
		{"cert without key", "identity: {proxy_tls: {cert: a.pem}}\n", []string{"identity.proxy_tls: cert and key must be set together"}},
		{"meter path", "cost: {meters: [{name: m, host: h, path_prefix: v1}]}\n", []string{"cost.meters[0].path_prefix: must start with /"}},
		{"syntax", "registry: [\n", []string{"cfg:1: YAML syntax error"}},
		{"every error at once", "dns: {ttl: x}\nlog: {format: xml}\n", []string{"dns.ttl", "log.format"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "cfg")
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			es := err.(Errors)
			if len(es) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(es), len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte("registry: {paths: [r]}\n"), "cfg")
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
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"d", "3x", "-5s", "1.5d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	c := &Config{File: "/etc/sluice/sluice.yaml"}
	if got := c.Resolve("registry"); got != "/etc/sluice/registry" {
		t.Errorf("got %s", got)
	}
	if got := (&Config{}).Resolve("registry"); got != "registry" {
		t.Errorf("embedded: got %s", got)
	}
}

func TestLoadResolvesRelativeStore(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/sluice.yaml"
	if err := os.WriteFile(path, []byte("audit: {store: sqlite://data/audit.db}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Audit.Store != "sqlite://"+dir+"/data/audit.db" {
		t.Errorf("store %s", c.Audit.Store)
	}
	// The shipped example config is valid.
	if _, err := Load("../../deploy/examples/sluice.yaml"); err != nil {
		t.Errorf("deploy/examples/sluice.yaml: %v", err)
	}
}
