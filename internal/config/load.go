package config

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/yamlx"
	"go.yaml.in/yaml/v3"
)

// Load reads the config at path ("" for the embedded default), applies the
// defaults for every missing key and validates the result: the core checks
// config owns (see Parse), then each of checks, the components' own. The
// error, if any, is an Errors listing every problem.
func Load(path string, checks ...Check) (*Config, error) {
	data, name := DefaultYAML, "<embedded default>"
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		data, name = b, path
	}
	cfg, err := Parse(data, name, checks...)
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
		cfg.Audit.CheckpointKey = cfg.Resolve(cfg.Audit.CheckpointKey)
		cfg.Audit.CheckpointFile = cfg.Resolve(cfg.Audit.CheckpointFile)
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
		if ps := checkAdminToken(cfg, "admin.token_file"); len(ps) > 0 {
			return nil, Errors{{File: name, Key: ps[0].Key, Msg: ps[0].Msg}}
		}
	}
	if cfg.Admin.AuditorTokenFile != "" {
		b, err := os.ReadFile(cfg.Resolve(cfg.Admin.AuditorTokenFile))
		if err != nil {
			return nil, Errors{{File: name, Key: "admin.auditor_token_file", Msg: err.Error()}}
		}
		cfg.Admin.AuditorToken = strings.TrimSpace(string(b))
		if cfg.Admin.AuditorToken == "" {
			return nil, Errors{{File: name, Key: "admin.auditor_token_file", Msg: "the file is empty"}}
		}
	}
	if cfg.Admin.TokenFile != "" || cfg.Admin.AuditorTokenFile != "" {
		// Once both tokens are read: the two must still differ.
		key := "admin.auditor_token"
		if cfg.Admin.AuditorTokenFile != "" {
			key = "admin.auditor_token_file"
		}
		if ps := checkAuditorToken(cfg, key); len(ps) > 0 {
			return nil, Errors{{File: name, Key: ps[0].Key, Msg: ps[0].Msg}}
		}
	}
	return cfg, nil
}

// Parse decodes and validates config text; name is used in messages.
// Config itself checks YAML syntax, unknown keys, value types, listener
// addresses, the admin token rules and the log: section; every other
// section is checked by the Check of the component that owns it, passed
// in checks. Every Problem is reported with the position of its key, in
// file order after the decoding errors, whichever check found it.
func Parse(data []byte, name string, checks ...Check) (*Config, error) {
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
	var problems Errors
	for _, check := range append([]Check{checkCore}, checks...) {
		for _, p := range check(cfg) {
			l, c := yamlx.Locate(&doc, p.Key)
			problems = append(problems, &Error{name, l, c, p.Key, p.Msg})
		}
	}
	slices.SortStableFunc(problems, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	errs = append(errs, problems...)
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
