// Command sluice is the Sluice egress gateway: one binary with the
// subcommands of DESIGN section 4.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		var ee *exitError
		if asExit(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(os.Stderr, ee.msg)
			}
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "sluice:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "Sluice: an egress gateway and outbound policy proxy",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCmd(),
		newValidateCmd(),
		newCheckCmd(),
		newPolicyCmd(),
		newAuditCmd(),
		newCostCmd(),
		newVersionCmd(),
	)
	return root
}
