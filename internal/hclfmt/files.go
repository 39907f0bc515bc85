package hclfmt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gitboot/gitboot/internal/atomicfile"
	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/pflag"
)

// Options are the flags of `gitboot fmt`.
type Options struct {
	Check     bool // change nothing: only count unformatted files
	Diff      bool // print a unified diff of the changes
	Recursive bool // also format subdirectories (not ".*" ones)
}

// Formatter formats the paths of one `gitboot fmt` run and counts outcomes.
type Formatter struct {
	Options
	Stdin                 io.Reader
	Stdout, Stderr        io.Writer
	ParseErrors, IOErrors int
	Unformatted           int
}

// Path formats one command-line argument: "-", a file or a directory.
func (f *Formatter) Path(p string) {
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
	files, err := Files(p, f.Recursive)
	for _, file := range files {
		f.file(file)
	}
	if err != nil {
		f.ioError(err)
	}
}

// stream formats standard input to standard output (or, with -check or
// -diff, only reports).
func (f *Formatter) stream() {
	src, err := io.ReadAll(f.Stdin)
	if err != nil {
		f.ioError(fmt.Errorf("reading standard input: %w", err))
		return
	}
	out, ok := f.format(src, "<stdin>")
	if !ok {
		return
	}
	if !bytes.Equal(src, out) {
		f.Unformatted++
	}
	switch {
	case f.Diff:
		f.Stdout.Write(Unified("old/<stdin>", "new/<stdin>", src, out))
	case !f.Check:
		f.Stdout.Write(out)
	}
}

// file formats one file: prints its name if it changes, its diff with
// -diff, and rewrites it unless -check.
func (f *Formatter) file(name string) {
	src, err := os.ReadFile(name)
	if err != nil {
		f.ioError(err)
		return
	}
	out, ok := f.format(src, name)
	if !ok || bytes.Equal(src, out) {
		return
	}
	f.Unformatted++
	fmt.Fprintln(f.Stdout, name)
	if f.Diff {
		f.Stdout.Write(Unified("old/"+filepath.ToSlash(name), "new/"+filepath.ToSlash(name), src, out))
	}
	if !f.Check {
		if err := writeAtomic(name, out); err != nil {
			f.ioError(err)
		}
	}
}

// format formats src, printing its parse errors as FILE:LINE:COL lines.
func (f *Formatter) format(src []byte, name string) ([]byte, bool) {
	out, diags := Format(src, name)
	if !diags.HasErrors() {
		return out, true
	}
	f.ParseErrors++
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		loc := name
		if d.Subject != nil {
			loc = fmt.Sprintf("%s:%d:%d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		fmt.Fprintf(f.Stderr, "%s: %s: %s\n", loc, d.Summary, d.Detail)
	}
	return nil, false
}

func (f *Formatter) ioError(err error) {
	f.IOErrors++
	fmt.Fprintf(f.Stderr, "Error: %v\n", err)
}

// Files lists the *.hcl files of dir in lexical order, and with recursive
// those of its subdirectories too, skipping directories named ".*".
// Symbolic links to files are followed, to subdirectories not.
func Files(dir string, recursive bool) ([]string, error) {
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
				sub, err := Files(p, true)
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

// LongFlags rewrites terraform-style "-name" and "-name=value" arguments
// to "--name..." when name is one of flags' long flags, up to "--" (gitboot
// fmt takes -check as well as --check).
func LongFlags(flags *pflag.FlagSet, args []string) []string {
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

// Run formats paths ("." when none) with opts on the given streams and
// returns the exit status gitboot fmt ends with: 0 all formatted (or
// rewritten), 1 a file could not be read or written, 2 a file does not
// parse, 3 Check found unformatted files.
func Run(opts Options, paths []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(paths) == 0 {
		paths = []string{"."}
	}
	f := &Formatter{Options: opts, Stdin: stdin, Stdout: stdout, Stderr: stderr}
	for _, p := range paths {
		f.Path(p)
	}
	switch {
	case f.ParseErrors > 0:
		return 2
	case f.IOErrors > 0:
		return 1
	case opts.Check && f.Unformatted > 0:
		return 3
	}
	return 0
}
