package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newFmtCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "fmt",
		Short: "Rewrite HCL files in canonical format",
		RunE: func(*cobra.Command, []string) error {
			return fmt.Errorf("fmt: %w", errNotImplemented)
		},
	}
}
