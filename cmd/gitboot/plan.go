package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newPlanCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "plan",
		Short: "Show what apply would change",
		RunE: func(*cobra.Command, []string) error {
			return fmt.Errorf("plan: %w", errNotImplemented)
		},
	}
}
