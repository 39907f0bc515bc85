package main

import (
	"fmt"
	"strings"

	"github.com/gitboot/gitboot/internal/hclfmt"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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
			if err := flags.Parse(longFlags(flags, args)); err != nil {
				return fmt.Errorf("fmt: %w", err)
			}
			if help, _ := flags.GetBool("help"); help {
				return cmd.Help()
			}
			paths := flags.Args()
			if len(paths) == 0 {
				paths = []string{"."}
			}
			f := &hclfmt.Formatter{Options: opts, Stdin: cmd.InOrStdin(), Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr()}
			for _, p := range paths {
				f.Path(p)
			}
			switch {
			case f.ParseErrors > 0:
				return exitError{Code: 2}
			case f.IOErrors > 0:
				return exitError{Code: 1}
			case opts.Check && f.Unformatted > 0:
				return exitError{Code: 3}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&opts.Check, "check", false, "change nothing: list unformatted files and exit 3 if there are any")
	cmd.Flags().BoolVar(&opts.Diff, "diff", false, "print a unified diff of the changes")
	cmd.Flags().BoolVar(&opts.Recursive, "recursive", false, "also format subdirectories (not those whose name starts with a dot)")
	return cmd
}

// longFlags rewrites terraform-style "-name" and "-name=value" arguments to
// "--name..." when name is one of the command's long flags, up to "--".
func longFlags(flags *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if len(name) > 1 && flags.Lookup(name) != nil {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}
