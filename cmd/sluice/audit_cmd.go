package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newAuditCmd is `sluice audit query` (owned by the audit work).
func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Query audit records"}
	cmd.AddCommand(&cobra.Command{
		Use:   "query",
		Short: "Query audit records from a store or a running gateway",
		RunE:  func(*cobra.Command, []string) error { return errors.New("not implemented yet") },
	})
	return cmd
}

// newCostCmd is `sluice cost report` (owned by the audit work).
func newCostCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cost", Short: "Report the cost of outbound calls"}
	cmd.AddCommand(&cobra.Command{
		Use:   "report",
		Short: "Aggregate spend by source, destination or meter",
		RunE:  func(*cobra.Command, []string) error { return errors.New("not implemented yet") },
	})
	return cmd
}
