package main

import (
	"errors"

	"github.com/gitboot/gitboot/serve/client"
	"github.com/spf13/cobra"
)

func newApplyCmd() *cobra.Command {
	var f planFlags
	var autoApprove bool
	cmd := &cobra.Command{
		Use:   "apply [PLAN | --repo R --ref REF] [--state DIR | --server URL] [--auto-approve]",
		Short: "Apply a saved plan, or plan and apply a commit",
		Long: "With a saved plan (gitboot plan --out PLAN), apply exactly that plan; it is refused as stale\n" +
			"when the running state changed since it was made. Without one, plan --ref of --repo, show\n" +
			"the plan and apply it after you answer yes (on a terminal) or with --auto-approve.\n" +
			"With --server URL the running server applies it (POST /apply, from the server's host only);\n" +
			"with --state DIR (no server running on it) gitboot builds and records it there itself,\n" +
			"and the next gitboot serve on that directory serves it.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a := client.ApplyRun{PlanConfig: f.config(), AutoApprove: autoApprove,
				In: cmd.InOrStdin(), Out: cmd.OutOrStdout(), Err: cmd.ErrOrStderr()}
			if len(args) == 1 {
				a.PlanFile = args[0]
				if cmd.Flags().Changed("ref") {
					if _, err := a.Policy("gitboot apply", true); err != nil {
						return err
					}
					return errors.New("give a saved plan or --ref, not both")
				}
			}
			return a.Run(cmd.Context())
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "apply without asking")
	cmd.Flags().BoolVar(&f.force, "force", false, "apply a saved plan even when its commit is not on the tracked branch (--ref, or the server's)")
	return cmd
}
