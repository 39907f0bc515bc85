package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newServeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the boot services and the reconciler",
		RunE: func(*cobra.Command, []string) error {
			return fmt.Errorf("serve: %w", errNotImplemented)
		},
	}
}
