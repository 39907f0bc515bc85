// Command gitboot provisions bare-metal clusters from a git repository.
// This package only wires the CLI: each command's flags become the config
// of a Run in the package that does the work and prints the result
// (serve, serve/client, reconcile, reconcile/githook, power, rollout,
// internal/discover, ...; internal/clio carries their exit status).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gitboot/gitboot/internal/clio"
	"github.com/gitboot/gitboot/internal/profile"
	"github.com/spf13/cobra"
)

// Set by the linker (see Makefile).
var (
	version = "dev"
	commit  = "unknown"
)

// exitError carries a process exit code through cobra without printing
// anything more (the command has already said why).
type exitError = clio.Exit

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "gitboot",
		Short:         "Provision bare-metal clusters from a git repository",
		Long:          "gitboot provisions bare-metal clusters from HCL files in a git repository:\nits own DHCP, TFTP and HTTP boot services serve what the repository declares.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newValidateCmd(),
		newFmtCmd(),
		newPlanCmd(),
		newApplyCmd(),
		newServeCmd(),
		newStatusCmd(),
		newRolloutCmd(),
		newHooksCmd(),
		newFsckCmd(),
		newDiscoverCmd(),
		newPowerCmd(),
		newOverlayCmd(),
		newPolicyCmd(),
		newVersionCmd(),
	)

	root.AddCommand(newImportCmd()) // gitboot import warewulf
	root.AddCommand(newSecretsCmd())
	addAdminTokenFlag(root)
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and commit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "gitboot %s (commit %s)\n", version, commit)
			return nil
		},
	}
}

func run(args []string) int { return runWith(args, os.Stdout, os.Stderr) }

// runWith runs the CLI with the given arguments and output streams and
// returns the process exit status.
func runWith(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	fmt.Fprintln(stderr, "Error:", err)
	return 1
}

func main() {
	stop := profile.Start()
	code := run(os.Args[1:])
	stop()
	os.Exit(code)
}
