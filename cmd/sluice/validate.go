package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/registry"
	"github.com/spf13/cobra"
)

func newValidateCmd() *cobra.Command {
	var cfgPath string
	var offline bool
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the config, the registry and the policy; list every error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return validate(cmd, cfgPath, offline)
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().BoolVar(&offline, "offline", false, "do not read registry.kubernetes; check registry.paths only")
	return cmd
}

// validate prints every problem and exits 1, or a one-screen summary.
func validate(cmd *cobra.Command, cfgPath string, offline bool) error {
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	cfg, err := config.Load(cfgPath, configChecks()...)
	if err != nil {
		var ce config.Errors
		if errors.As(err, &ce) {
			for _, e := range ce {
				fmt.Fprintln(errOut, e.Error())
			}
			return exitCode(1, fmt.Sprintf("sluice validate: %d config error(s)", len(ce)))
		}
		return exitCode(1, err.Error())
	}
	failed := 0
	snap, diags, skipped, err := validateRegistry(cmd.Context(), cfg, offline, errOut)
	for _, d := range diags {
		fmt.Fprintln(errOut, d.String())
	}
	for _, sk := range skipped { // Kubernetes objects serve would skip
		for _, d := range sk.Diagnostics {
			fmt.Fprintln(errOut, d.String())
		}
		failed++
	}
	if err != nil {
		var ve *registry.ValidationError
		if !errors.As(err, &ve) {
			fmt.Fprintln(errOut, err)
			failed++
		} else {
			failed += len(ve.Diagnostics.Errors())
		}
	}
	if err := policy.Compile(cmd.Context(), cfg.ResolveAll(cfg.Policy.Paths)); err != nil {
		fmt.Fprintln(errOut, err)
		var pe policy.Errors
		if errors.As(err, &pe) && len(pe) > 0 {
			failed += len(pe)
		} else {
			failed++
		}
	}
	if failed > 0 {
		return exitCode(1, fmt.Sprintf("sluice validate: %d error(s)", failed))
	}
	printSummary(out, cfg, snap)
	if cfg.Audit.Store == "discard://" {
		fmt.Fprintln(errOut, "warning: audit.store is discard://: no call is recorded (for benchmarks only)")
	}
	return nil
}

func printSummary(w io.Writer, cfg *config.Config, s *registry.Snapshot) {
	hosts, ports, tlsRoutes := 0, 0, 0
	var routes []string
	for _, e := range s.Entries {
		hosts += len(e.Hosts)
		ports += len(e.Ports) * len(e.Hosts)
		for _, h := range e.Hosts {
			for _, p := range e.Ports {
				rt, res := s.Lookup(lookupName(h), p.Number)
				if res == registry.Declared && rt.Entry == e && rt.TLS != nil {
					tlsRoutes++
					routes = append(routes, fmt.Sprintf("  %s:%d -> %s:%d %s (%s)", h, p.Number, tlsHost(rt, h), p.DialPort(), rt.TLS.Mode, rt.DestinationRule))
				}
			}
		}
	}
	sort.Strings(routes)
	fmt.Fprintf(w, "config %s: ok\n", cfgName(cfg))
	fmt.Fprintf(w, "registry: %d ServiceEntries, %d DestinationRules in %d files; %d hosts, %d host:port destinations, %d TLS origination routes",
		len(s.Entries), len(s.DestinationRules), len(s.Files), hosts, ports, tlsRoutes)
	if n := len(s.Warnings); n > 0 {
		fmt.Fprintf(w, ", %d warning(s)", n)
	}
	fmt.Fprintln(w)
	for _, e := range s.Entries {
		var ps []string
		for _, p := range e.Ports {
			ps = append(ps, fmt.Sprintf("%d/%s", p.Number, p.Protocol))
		}
		fmt.Fprintf(w, "  %-28s %-9s %s [%s]\n", e.ID(), e.Resolution, strings.Join(e.Hosts, ","), strings.Join(ps, " "))
	}
	if len(routes) > 0 {
		fmt.Fprintln(w, "TLS origination:")
		for _, r := range routes {
			fmt.Fprintln(w, r)
		}
	}
	fmt.Fprintf(w, "policy: %s (mode %s)\n", strings.Join(cfg.Policy.Paths, ", "), cfg.Policy.Mode)
}

func tlsHost(rt *registry.Route, h string) string {
	if rt.TLS.SNI != "" {
		return rt.TLS.SNI
	}
	return h
}
