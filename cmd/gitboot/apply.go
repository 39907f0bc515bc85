package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newApplyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "apply",
		Short: "Apply the cluster repository to the boot services",
		RunE: func(*cobra.Command, []string) error {
			return fmt.Errorf("apply: %w", errNotImplemented)
		},
	}
}
