package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/diagfmt"
	"github.com/gitboot/gitboot/power"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/hashicorp/hcl/v2"
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
			opts, err := loadOptions(dir, vars)
			if err != nil {
				return err
			}
			fsys, closeFS, err := openRepoDir(dir)
			if err != nil {
				return err
			}
			defer closeFS()
			var pc hclspec.PathChecker
			if cmd.Flags().Changed("image-root") || cmd.Flags().Changed("ipxe-dir") {
				r, err := roots.roots()
				if err != nil {
					return err
				}
				pc = r
			}
			diags := reconcile.CheckTree(fsys, opts, pc, func(c *hclspec.Cluster) hcl.Diagnostics {
				return power.CheckCredentialsFile(c, bmcCreds)
			})
			files := diagfmt.WithSources(fsys, opts.FilePrefix, opts.Parser.Files(), diags)
			if cf := credFiles(bmcCreds); cf != nil && files != nil {
				for k, v := range cf {
					files[k] = v
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(diagfmt.JSON(files, diags)); err != nil {
					return err
				}
			} else {
				writeDiagnostics(cmd.ErrOrStderr(), files, diags)
				if !diags.HasErrors() {
					fmt.Fprintf(cmd.OutOrStdout(), "Success! The configuration in %s is valid.\n", dir)
				}
			}
			if diags.HasErrors() {
				return exitError{Code: 1}
			}
			return nil
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

// openRepoDir opens dir so that nothing read through it (file(), overlay
// directories) can leave it, symlinks included.
func openRepoDir(dir string) (fs.FS, func(), error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("opening repository: %w", err)
	}
	return root.FS(), func() { root.Close() }, nil
}
