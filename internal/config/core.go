package config

import (
	"net"
	"strings"
)

// checkCore checks the sections no component owns, which every command
// needs before it builds anything: listener address syntax, the admin
// token rules (a known placeholder is refused off loopback) and the log: section. Parse runs it before the Checks it is
// given.
func checkCore(c *Config) []Problem {
	var ps []Problem
	for _, l := range []struct{ key, addr string }{
		{"listeners.proxy", c.Listeners.Proxy}, {"listeners.http", c.Listeners.HTTP},
		{"listeners.tls", c.Listeners.TLS}, {"listeners.dns", c.Listeners.DNS}, {"listeners.admin", c.Listeners.Admin},
	} {
		if l.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			ps = append(ps, Problemf(l.key, "invalid address %q: want host:port", l.addr))
		}
	}
	if c.Listeners.Admin != "" && c.Admin.Token == "" && c.Admin.TokenFile == "" && !isLoopbackAddr(c.Listeners.Admin) {
		ps = append(ps, Problemf("admin.token", "required (or admin.token_file) when listeners.admin (%s) is not a loopback address", c.Listeners.Admin))
	}
	if c.Admin.Token != "" && c.Admin.TokenFile != "" {
		ps = append(ps, Problem{"admin.token_file", "set admin.token or admin.token_file, not both"})
	}
	ps = append(ps, checkAdminToken(c, "admin.token")...) // a token_file's token is checked by Load, once read
	if c.Admin.AuditorToken != "" && c.Admin.AuditorTokenFile != "" {
		ps = append(ps, Problem{"admin.auditor_token_file", "set admin.auditor_token or admin.auditor_token_file, not both"})
	}
	ps = append(ps, checkAuditorToken(c, "admin.auditor_token")...)
	ps = append(ps, OneOf("log.format", c.Log.Format, "text", "json")...)
	ps = append(ps, OneOf("log.level", strings.ToLower(c.Log.Level), "debug", "info", "warn", "error")...)
	return ps
}
