package main

import (
	"github.com/gitboot/gitboot/reconcile"
	"github.com/spf13/cobra"
)

func newFsckCmd() *cobra.Command {
	var state string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "fsck [--state DIR] [--json]",
		Short: "Check every artifact and manifest of a state directory against its digest",
		Long: "Read every artifact and manifest in the state directory's store and check each against the\n" +
			"sha256 its name says; check that every manifest reads, that each artifact it names is there\n" +
			"with its size, and that the applied state and the running inventory name manifests that are\n" +
			"there. Nothing is changed (gitboot serve removes and rebuilds a damaged artifact at start).\n" +
			"Exit 0: nothing found; 1: damage found (each problem on a line: KIND PATH: DETAIL).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return reconcile.FsckCommand(cmd.Context(), cmd.OutOrStdout(), state, asJSON)
		},
	}
	cmd.Flags().StringVar(&state, "state", "/var/lib/gitboot", "state directory to check")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print what was checked and found as JSON")
	return cmd
}
