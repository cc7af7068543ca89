package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newCheckCmd is `sluice check` (filled by the egress work).
func newCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check --from ID --url URL [--method M]",
		Short: "Show the decision for a call, without sending it",
		RunE:  func(*cobra.Command, []string) error { return errors.New("not implemented yet") },
	}
}
