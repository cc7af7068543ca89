package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicehq/sluice/internal/yamlx"
	"go.yaml.in/yaml/v3"
)

// Error is one problem in a config file, with its position.
type Error struct {
	File         string
	Line, Column int
	Key          string
	Msg          string
}

// Error formats as "file:line:col: key: msg", the form editors jump to.
func (e *Error) Error() string {
	pos := e.File
	if e.Line > 0 && e.Column > 0 {
		pos = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
	} else if e.Line > 0 {
		pos = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Key == "" {
		return fmt.Sprintf("%s: %s", pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", pos, e.Key, e.Msg)
}

// Errors is every problem found in one config file.
type Errors []*Error

// Error joins the messages one per line.
func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Load reads the config at path ("" for the embedded default), applies the
// defaults for every missing key and validates the result. The error, if
// any, is an Errors listing every problem.
func Load(path string) (*Config, error) {
	data, name := DefaultYAML, "<embedded default>"
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		data, name = b, path
	}
	cfg, err := Parse(data, name)
	if err != nil {
		return nil, err
	}
	if path != "" {
		cfg.File = path
		// A relative SQLite path is relative to the config file, like
		// every other path in it.
		if p, ok := strings.CutPrefix(cfg.Audit.Store, "sqlite://"); ok && p != "" && !filepath.IsAbs(p) {
			cfg.Audit.Store = "sqlite://" + cfg.Resolve(p)
		}
	}
	if cfg.Admin.TokenFile != "" {
		b, err := os.ReadFile(cfg.Resolve(cfg.Admin.TokenFile))
		if err != nil {
			return nil, Errors{{File: name, Key: "admin.token_file", Msg: err.Error()}}
		}
		cfg.Admin.Token = strings.TrimSpace(string(b))
		if cfg.Admin.Token == "" {
			return nil, Errors{{File: name, Key: "admin.token_file", Msg: "the file is empty"}}
		}
	}
	return cfg, nil
}

// Parse decodes and validates config text; name is used in messages.
func Parse(data []byte, name string) (*Config, error) {
	cfg := Default()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{syntaxError(name, err)}
	}
	var errs Errors
	if len(doc.Content) > 0 {
		for _, fe := range yamlx.Decode(&doc, cfg, "") {
			errs = append(errs, &Error{name, fe.Line, fe.Column, fe.Path, fe.Msg})
		}
	}
	for _, ve := range cfg.validate() {
		l, c := yamlx.Locate(&doc, ve.key)
		errs = append(errs, &Error{name, l, c, ve.key, ve.msg})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

func syntaxError(name string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, e := fmt.Sscanf(msg, "line %d:", &line); e == nil {
		_, msg, _ = strings.Cut(msg, ": ")
	}
	return &Error{File: name, Line: line, Msg: "YAML syntax error: " + msg}
}

// Resolve turns a path from the config into one usable from the working
// directory: relative paths are relative to the config file's directory.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.File == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.File), p)
}

// ResolveAll applies Resolve to each path.
func (c *Config) ResolveAll(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = c.Resolve(p)
	}
	return out
}

type valErr struct{ key, msg string }

func (c *Config) validate() []valErr {
	var es []valErr
	add := func(key, format string, a ...any) { es = append(es, valErr{key, fmt.Sprintf(format, a...)}) }

	for key, addr := range map[string]string{
		"listeners.proxy": c.Listeners.Proxy, "listeners.http": c.Listeners.HTTP,
		"listeners.tls": c.Listeners.TLS, "listeners.dns": c.Listeners.DNS, "listeners.admin": c.Listeners.Admin,
	} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			add(key, "invalid address %q: want host:port", addr)
		}
	}
	if c.Listeners.Admin != "" && c.Admin.Token == "" && c.Admin.TokenFile == "" && !isLoopbackAddr(c.Listeners.Admin) {
		add("admin.token", "required (or admin.token_file) when listeners.admin (%s) is not a loopback address", c.Listeners.Admin)
	}
	if c.Admin.Token != "" && c.Admin.TokenFile != "" {
		add("admin.token_file", "set admin.token or admin.token_file, not both")
	}
	oneOf(&es, "registry.mode", c.Registry.Mode, "enforce", "report")
	oneOf(&es, "dns.answer", c.DNS.Answer, "gateway", "endpoints")
	for i, a := range c.DNS.GatewayAddresses {
		if _, err := netip.ParseAddr(a); err != nil {
			add(fmt.Sprintf("dns.gateway_addresses[%d]", i), "invalid IP address %q", a)
		}
	}
	if c.DNS.Answer == "gateway" && len(c.DNS.GatewayAddresses) == 0 {
		add("dns.gateway_addresses", "must not be empty when dns.answer is gateway")
	}
	for i, u := range c.DNS.Upstreams {
		if _, err := ParseHostPort(u, 53); err != nil {
			add(fmt.Sprintf("dns.upstreams[%d]", i), "%v", err)
		}
	}
	if c.DNS.Cache.MinTTL > c.DNS.Cache.MaxTTL {
		add("dns.cache.min_ttl", "must not exceed dns.cache.max_ttl (%s)", c.DNS.Cache.MaxTTL)
	}
	if c.DNS.MaxInflight < 1 {
		add("dns.max_inflight", "must be at least 1")
	}
	oneOf(&es, "policy.mode", c.Policy.Mode, "enforce", "report")
	if c.Policy.Timeout.D() <= 0 {
		add("policy.timeout", "must be positive")
	}
	if c.Policy.Bundle.URL != "" {
		if !strings.HasPrefix(c.Policy.Bundle.URL, "http://") && !strings.HasPrefix(c.Policy.Bundle.URL, "https://") {
			add("policy.bundle.url", "must be an http:// or https:// URL, got %q", c.Policy.Bundle.URL)
		}
		if c.Policy.Bundle.PollingInterval.D() <= 0 {
			add("policy.bundle.polling_interval", "must be positive")
		}
	}
	p := c.Identity.ProxyTLS
	if (p.Cert == "") != (p.Key == "") {
		add("identity.proxy_tls", "cert and key must be set together")
	}
	if p.ClientCA != "" && p.Cert == "" {
		add("identity.proxy_tls.client_ca", "needs identity.proxy_tls.cert and key")
	}
	for i, cidr := range c.Identity.TrustXFCCFrom {
		if _, err := ParsePrefix(cidr); err != nil {
			add(fmt.Sprintf("identity.trust_xfcc_from[%d]", i), "%v", err)
		}
	}
	for i, s := range c.Identity.Sources {
		if _, err := ParsePrefix(s.CIDR); err != nil {
			add(fmt.Sprintf("identity.sources[%d].cidr", i), "%v", err)
		}
		if s.Workload == "" {
			add(fmt.Sprintf("identity.sources[%d].workload", i), "required")
		}
	}
	if !strings.HasPrefix(c.Audit.Store, "sqlite://") && !strings.HasPrefix(c.Audit.Store, "postgres://") &&
		!strings.HasPrefix(c.Audit.Store, "postgresql://") && c.Audit.Store != "discard://" {
		add("audit.store", "must be sqlite://PATH or postgres://..., got %q", c.Audit.Store)
	}
	oneOf(&es, "audit.on_failure", c.Audit.OnFailure, "deny", "allow")
	if c.Cost.PerGiB < 0 {
		add("cost.per_gib", "must not be negative")
	}
	for i, m := range c.Cost.Meters {
		k := fmt.Sprintf("cost.meters[%d]", i)
		if m.Name == "" {
			add(k+".name", "required")
		}
		if m.Host == "" {
			add(k+".host", "required")
		}
		if m.PerRequest < 0 {
			add(k+".per_request", "must not be negative")
		}
		if m.PathPrefix != "" && !strings.HasPrefix(m.PathPrefix, "/") {
			add(k+".path_prefix", "must start with /")
		}
	}
	if e := c.Telemetry.OTLPEndpoint; e != "" {
		if scheme, rest, ok := strings.Cut(e, "://"); ok && (rest == "" || (scheme != "grpc" && scheme != "http" && scheme != "https")) {
			add("telemetry.otlp_endpoint", "want host:port, grpc://host:port or http(s)://host:port, got %q", e)
		}
	}
	if c.Telemetry.SampleRatio < 0 || c.Telemetry.SampleRatio > 1 {
		add("telemetry.sample_ratio", "must be between 0 and 1")
	}
	oneOf(&es, "log.format", c.Log.Format, "text", "json")
	oneOf(&es, "log.level", strings.ToLower(c.Log.Level), "debug", "info", "warn", "error")
	if c.Limits.MaxConnections < 1 {
		add("limits.max_connections", "must be at least 1")
	}
	if c.Limits.ConnectTimeout.D() <= 0 {
		add("limits.connect_timeout", "must be positive")
	}
	if c.Limits.MaxHeaderBytes < 1024 {
		add("limits.max_header_bytes", "must be at least 1024")
	}
	if c.Limits.BodyTimeout.D() < 0 {
		add("limits.body_timeout", "must not be negative")
	}
	if c.Limits.MinBodyRate < 0 {
		add("limits.min_body_rate", "must not be negative")
	}
	if c.Limits.RegistryBytes < 0 {
		add("limits.registry_bytes", "must not be negative")
	}
	return es
}

func oneOf(es *[]valErr, key, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	*es = append(*es, valErr{key, fmt.Sprintf("invalid value %q (want one of: %s)", v, strings.Join(allowed, ", "))})
}

func isLoopbackAddr(hostport string) bool {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// ParsePrefix parses a CIDR, accepting a bare IP as a /32 or /128.
func ParsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, errors.New("invalid CIDR " + fmt.Sprintf("%q", s))
}

// ParseHostPort parses "ip" or "ip:port" (IPv6 in brackets with a port),
// using def when no port is given.
func ParseHostPort(s string, def uint16) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return netip.AddrPortFrom(a, def), nil
	}
	return netip.AddrPort{}, fmt.Errorf("invalid address %q: want ip or ip:port", s)
}
