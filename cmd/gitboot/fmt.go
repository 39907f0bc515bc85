package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gitboot/gitboot/internal/atomicfile"
	"github.com/gitboot/gitboot/internal/hclfmt"
	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// fmtOptions are the flags of `gitboot fmt`.
type fmtOptions struct {
	check, diff, recursive bool
}

func newFmtCmd() *cobra.Command {
	var opts fmtOptions
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
			f := &formatter{opts: opts, stdin: cmd.InOrStdin(), stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr()}
			for _, p := range paths {
				f.path(p)
			}
			switch {
			case f.parseErrors > 0:
				return exitError{2}
			case f.ioErrors > 0:
				return exitError{1}
			case opts.check && f.unformatted > 0:
				return exitError{3}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&opts.check, "check", false, "change nothing: list unformatted files and exit 3 if there are any")
	cmd.Flags().BoolVar(&opts.diff, "diff", false, "print a unified diff of the changes")
	cmd.Flags().BoolVar(&opts.recursive, "recursive", false, "also format subdirectories (not those whose name starts with a dot)")
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

// formatter formats the paths of one `gitboot fmt` run and counts outcomes.
type formatter struct {
	opts                  fmtOptions
	stdin                 io.Reader
	stdout, stderr        io.Writer
	parseErrors, ioErrors int
	unformatted           int
}

// path formats one command-line argument: "-", a file or a directory.
func (f *formatter) path(p string) {
	if p == "-" {
		f.stream()
		return
	}
	fi, err := os.Stat(p)
	if err != nil {
		f.ioError(err)
		return
	}
	if !fi.IsDir() {
		f.file(p)
		return
	}
	files, err := hclFiles(p, f.opts.recursive)
	for _, file := range files {
		f.file(file)
	}
	if err != nil {
		f.ioError(err)
	}
}

// stream formats standard input to standard output (or, with -check or
// -diff, only reports).
func (f *formatter) stream() {
	src, err := io.ReadAll(f.stdin)
	if err != nil {
		f.ioError(fmt.Errorf("reading standard input: %w", err))
		return
	}
	out, ok := f.format(src, "<stdin>")
	if !ok {
		return
	}
	if !bytes.Equal(src, out) {
		f.unformatted++
	}
	switch {
	case f.opts.diff:
		f.stdout.Write(hclfmt.Unified("old/<stdin>", "new/<stdin>", src, out))
	case !f.opts.check:
		f.stdout.Write(out)
	}
}

// file formats one file: prints its name if it changes, its diff with
// -diff, and rewrites it unless -check.
func (f *formatter) file(name string) {
	src, err := os.ReadFile(name)
	if err != nil {
		f.ioError(err)
		return
	}
	out, ok := f.format(src, name)
	if !ok || bytes.Equal(src, out) {
		return
	}
	f.unformatted++
	fmt.Fprintln(f.stdout, name)
	if f.opts.diff {
		f.stdout.Write(hclfmt.Unified("old/"+filepath.ToSlash(name), "new/"+filepath.ToSlash(name), src, out))
	}
	if !f.opts.check {
		if err := writeAtomic(name, out); err != nil {
			f.ioError(err)
		}
	}
}

// format formats src, printing its parse errors as FILE:LINE:COL lines.
func (f *formatter) format(src []byte, name string) ([]byte, bool) {
	out, diags := hclfmt.Format(src, name)
	if !diags.HasErrors() {
		return out, true
	}
	f.parseErrors++
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		loc := name
		if d.Subject != nil {
			loc = fmt.Sprintf("%s:%d:%d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		fmt.Fprintf(f.stderr, "%s: %s: %s\n", loc, d.Summary, d.Detail)
	}
	return nil, false
}

func (f *formatter) ioError(err error) {
	f.ioErrors++
	fmt.Fprintf(f.stderr, "Error: %v\n", err)
}

// hclFiles lists the *.hcl files of dir in lexical order, and with recursive
// those of its subdirectories too, skipping directories named ".*".
// Symbolic links to files are followed, to subdirectories not.
func hclFiles(dir string, recursive bool) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case e.IsDir():
			if recursive && !strings.HasPrefix(e.Name(), ".") {
				sub, err := hclFiles(p, true)
				files = append(files, sub...)
				errs = append(errs, err)
			}
		case strings.HasSuffix(e.Name(), ".hcl"):
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				files = append(files, p)
			}
		}
	}
	return files, errors.Join(errs...)
}

// writeAtomic replaces the file name (the file a symbolic link points to,
// if it is one) with data, keeping its permissions, with atomicfile: a
// reader, or the file system after a crash, sees the old file or the new
// one, never a part.
func writeAtomic(name string, data []byte) error {
	target, err := filepath.EvalSymlinks(name)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	fi, err := os.Stat(target)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := atomicfile.WriteFile(target, data, fi.Mode().Perm()); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}
