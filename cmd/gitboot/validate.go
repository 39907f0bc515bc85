package main

import (
	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/spf13/cobra"
)

func newValidateCmd() *cobra.Command {
	var asJSON bool
	var vars []string
	var roots rootFlags
	var bmcCreds string
	cmd := &cobra.Command{
		Use:   "validate [DIR]",
		Short: "Check a cluster repository",
		Long: "Check the *.hcl files of a cluster repository (default: the current directory).\n" +
			"Exit status 0 when valid, 1 when not. Image sources and ipxe_dir are paths on the server:\n" +
			"they are checked against the server's allowed directories only when --image-root or\n" +
			"--ipxe-dir is given (as the pre-receive hook does; the other flag then has its default).\n" +
			"Overlay directories are in the repository and are checked: every template is rendered\n" +
			"for every node of every server block, as the server's build would.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			v := reconcile.ValidateCommand{Dir: dir, Vars: vars, BMCCredentials: bmcCreds, JSON: asJSON}
			if cmd.Flags().Changed("image-root") || cmd.Flags().Changed("ipxe-dir") {
				v.Roots = roots.roots
			}
			return v.Run(cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON (terraform validate -json shape)")
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set an input variable: --var name=value (repeatable)")
	cmd.Flags().StringVar(&bmcCreds, "bmc-credentials", "", "BMC credentials file: check that it defines every credentials name the nodes' bmc blocks use")
	roots.register(cmd.Flags())
	return cmd
}

// loadOptions builds hclspec options for a repository directory.
func loadOptions(dir string, vars []string) (hclspec.Options, error) {
	return hclspec.OptionsFor(dir, vars)
}
