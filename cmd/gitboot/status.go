package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show each node's boot stage",
		RunE: func(*cobra.Command, []string) error {
			return fmt.Errorf("status: %w", errNotImplemented)
		},
	}
}
