package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check a cluster repository",
		RunE: func(*cobra.Command, []string) error {
			return fmt.Errorf("validate: %w", errNotImplemented)
		},
	}
}
