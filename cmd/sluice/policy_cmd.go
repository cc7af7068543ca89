package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/policy"
	"github.com/spf13/cobra"
)

// newPolicyCmd is `sluice policy test [PATH...]`.
func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Work with egress policy (Rego)"}
	cmd.AddCommand(newPolicyTestCmd())
	return cmd
}

func newPolicyTestCmd() *cobra.Command {
	var (
		cfgPath, run, format string
		verbose              bool
		timeout              time.Duration
	)
	cmd := &cobra.Command{
		Use:   "test [PATH...]",
		Short: "Run Rego unit tests (opa test semantics)",
		Long: `Run the Rego unit tests (rules named test_*) of the policy, with the
semantics and output of 'opa test': a FAIL line for every failed test (and
PASS lines with -v), then a PASS/FAIL summary. PATHs are .rego and data
files, directories, or OPA bundles; the default is policy.paths of the
config (-c, SLUICE_CONFIG, or the embedded default).

Exit status: 0 when every test passes, 2 when a test fails or errors, 1 when
the policy does not load or compile.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			paths := args
			if len(paths) == 0 {
				cfg, err := config.Load(cfgPath, configChecks()...)
				if err != nil {
					return exitCode(1, err.Error())
				}
				paths = cfg.ResolveAll(cfg.Policy.Paths)
				if len(paths) == 0 {
					return exitCode(1, "sluice policy test: no PATH given and policy.paths is empty")
				}
			}
			switch format {
			case "pretty", "json":
			default:
				return exitCode(1, fmt.Sprintf("sluice policy test: --format must be pretty or json, got %q", format))
			}
			sum, err := policy.RunTests(cmd.Context(), policy.TestOptions{
				Paths:   paths,
				Verbose: verbose,
				Run:     run,
				Timeout: timeout,
				JSON:    format == "json",
				Output:  cmd.OutOrStdout(),
			})
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitCode(1, "sluice policy test: the policy does not load or compile")
			}
			total := sum.Passed + sum.Failed + sum.Errored + sum.Skipped
			if n := len(sum.Failures); n > 0 {
				return exitCode(2, fmt.Sprintf("sluice policy test: %d of %d tests failed: %s", n, total, strings.Join(sum.Failures, ", ")))
			}
			if total == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "sluice policy test: no tests found in %s\n", strings.Join(paths, ", "))
			}
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	f := cmd.Flags()
	f.BoolVarP(&verbose, "verbose", "v", false, "print every test and its notes, like opa test -v")
	f.StringVarP(&run, "run", "r", "", "run only the tests whose names match this regular expression")
	f.DurationVarP(&timeout, "timeout", "t", 5*time.Second, "time limit for each test")
	f.StringVarP(&format, "format", "f", "pretty", "output format: pretty or json")
	return cmd
}
