package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newPolicyCmd is `sluice policy test [PATH...]` (owned by the policy work).
func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Work with egress policy (Rego)"}
	cmd.AddCommand(&cobra.Command{
		Use:   "test [PATH...]",
		Short: "Run Rego unit tests (opa test semantics)",
		RunE:  func(*cobra.Command, []string) error { return errors.New("not implemented yet") },
	})
	return cmd
}
