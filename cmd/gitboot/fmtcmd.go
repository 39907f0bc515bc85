package main

import (
	"fmt"

	"github.com/gitboot/gitboot/internal/hclfmt"
	"github.com/spf13/cobra"
)

func newFmtCmd() *cobra.Command {
	var opts hclfmt.Options
	cmd := &cobra.Command{
		Use:   "fmt [-check] [-diff] [-recursive] [PATH...]",
		Short: "Rewrite HCL files in canonical format",
		Long: `Rewrite HCL files in canonical format, like terraform fmt.

PATH is a file or a directory of *.hcl files (default: the current directory);
"-" reads standard input and writes the result to standard output. Changed
files are rewritten in place and their names printed. Flags take one dash or
two (-check or --check).

Exit status: 0 all formatted (or rewritten), 1 a file could not be read or
written, 2 a file does not parse, 3 -check found unformatted files.`,
		// Flags are parsed in RunE so that terraform's single-dash spelling
		// (-check) works as well as --check.
		DisableFlagParsing:    true,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			flags := cmd.Flags()
			if err := flags.Parse(hclfmt.LongFlags(flags, args)); err != nil {
				return fmt.Errorf("fmt: %w", err)
			}
			if help, _ := flags.GetBool("help"); help {
				return cmd.Help()
			}
			if code := hclfmt.Run(opts, flags.Args(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()); code != 0 {
				return exitError{Code: code}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&opts.Check, "check", false, "change nothing: list unformatted files and exit 3 if there are any")
	cmd.Flags().BoolVar(&opts.Diff, "diff", false, "print a unified diff of the changes")
	cmd.Flags().BoolVar(&opts.Recursive, "recursive", false, "also format subdirectories (not those whose name starts with a dot)")
	return cmd
}
