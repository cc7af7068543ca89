package config

import "strings"

// placeholderTokens are admin tokens that ship in examples and manifests
// (Sluice's own older manifest shipped the first) or that people type when
// a field wants "something": a token anyone can guess protects nothing.
// They are compared after lower-casing and dropping '-', '_', ' ' and '.'.
var placeholderTokens = []string{
	"replacemewitharandomtoken", "replaceme", "changeme", "changeit", "placeholder",
	"token", "admintoken", "secret", "password", "admin", "example", "test", "todo",
	"xxx", "xxxx", "xxxxxxxx", "yourtokenhere", "sluice",
}

// isPlaceholderToken reports whether token is one of placeholderTokens.
func isPlaceholderToken(token string) bool {
	norm := strings.Map(func(r rune) rune {
		switch r {
		case '-', '_', ' ', '.':
			return -1
		}
		return r
	}, strings.ToLower(token))
	for _, p := range placeholderTokens {
		if norm == p {
			return true
		}
	}
	return false
}

// checkAdminToken refuses a placeholder token while listeners.admin is
// off loopback, where the token is all that guards /v1/* and /debug/*.
// key names where the token came from (admin.token or admin.token_file).
func checkAdminToken(c *Config, key string) []Problem {
	if c.Listeners.Admin == "" || isLoopbackAddr(c.Listeners.Admin) || !isPlaceholderToken(c.Admin.Token) {
		return nil
	}
	return []Problem{Problemf(key, "the admin token is a known placeholder (%q) and listeners.admin (%s) is not a loopback address: "+
		"use a random token, e.g. openssl rand -hex 24", c.Admin.Token, c.Listeners.Admin)}
}

// checkAuditorToken checks the auditor token (admin.auditor_token or
// auditor_token_file, named by key): it is a role below the admin token,
// so it needs one and must differ from it, and a placeholder is refused
// off loopback like the admin token.
func checkAuditorToken(c *Config, key string) []Problem {
	a := c.Admin
	var ps []Problem
	if a.AuditorToken == "" && a.AuditorTokenFile == "" {
		return nil
	}
	if a.Token == "" && a.TokenFile == "" {
		ps = append(ps, Problem{key, "needs admin.token (or admin.token_file): without one every admin path is open and an auditor role means nothing"})
	}
	if a.AuditorToken != "" && a.AuditorToken == a.Token {
		ps = append(ps, Problem{key, "must differ from the admin token"})
	}
	if a.AuditorToken != "" && c.Listeners.Admin != "" && !isLoopbackAddr(c.Listeners.Admin) && isPlaceholderToken(a.AuditorToken) {
		ps = append(ps, Problemf(key, "the auditor token is a known placeholder (%q) and listeners.admin (%s) is not a loopback address: "+
			"use a random token, e.g. openssl rand -hex 24", a.AuditorToken, c.Listeners.Admin))
	}
	return ps
}
