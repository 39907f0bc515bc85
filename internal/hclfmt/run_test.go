package hclfmt

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestLongFlags(t *testing.T) {
	fl := pflag.NewFlagSet("fmt", pflag.ContinueOnError)
	fl.Bool("check", false, "")
	fl.BoolP("diff", "d", false, "")
	got := LongFlags(fl, []string{"-check", "-diff=true", "--check", "-d", "-x", "-nosuch", "a.hcl", "--", "-check"})
	want := []string{"--check", "--diff=true", "--check", "-d", "-x", "-nosuch", "a.hcl", "--", "-check"}
	if !slices.Equal(got, want) {
		t.Fatalf("LongFlags = %q, want %q", got, want)
	}
}

func TestRunExitStatus(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ugly := write("ugly.hcl", "a   =  1\n")
	broken := write("broken.hcl", "a = {\n")
	var out, errOut bytes.Buffer
	run := func(opts Options, paths ...string) int {
		out.Reset()
		errOut.Reset()
		return Run(opts, paths, strings.NewReader(""), &out, &errOut)
	}
	if code := run(Options{Check: true}, ugly); code != 3 {
		t.Errorf("check of an unformatted file: exit %d, want 3", code)
	}
	if code := run(Options{Check: true}, broken); code != 2 {
		t.Errorf("a file that does not parse: exit %d, want 2", code)
	}
	if code := run(Options{}, filepath.Join(dir, "missing.hcl")); code != 1 {
		t.Errorf("a missing file: exit %d, want 1", code)
	}
	if code := run(Options{}, ugly); code != 0 {
		t.Errorf("rewriting: exit %d, want 0 (stderr %s)", code, errOut.String())
	}
	if code := run(Options{Check: true}, ugly); code != 0 {
		t.Errorf("check after rewriting: exit %d, want 0", code)
	}
}
