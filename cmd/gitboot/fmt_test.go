package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/internal/hclfmt"
)

const (
	fmtUgly   = "image \"demo\" {\nsource=\"/img\"\n  kernel =    \"boot/vmlinuz-*\"\n}\n"
	fmtPretty = "image \"demo\" {\n  source = \"/img\"\n  kernel = \"boot/vmlinuz-*\"\n}\n"
	fmtBroken = "image \"demo\" {\n  source =\n}\n"
)

// fmtTree writes files (slash paths relative to a new temporary directory)
// and returns the directory.
func fmtTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func fmtRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fmtExec(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = runWith(append([]string{"fmt"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestFmtRewritesInPlace(t *testing.T) {
	dir := fmtTree(t, map[string]string{
		"a.hcl":     fmtUgly,
		"b.hcl":     fmtPretty,
		"notes.txt": fmtUgly,
		"sub/c.hcl": fmtUgly,
	})
	a := filepath.Join(dir, "a.hcl")
	if err := os.Chmod(a, 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := fmtExec(dir)
	if code != 0 || stdout != a+"\n" || stderr != "" {
		t.Fatalf("fmt %s = exit %d, stdout %q, stderr %q; want 0 and %q", dir, code, stdout, stderr, a+"\n")
	}
	if got := fmtRead(t, a); got != fmtPretty {
		t.Errorf("a.hcl = %q, want %q", got, fmtPretty)
	}
	if fi, err := os.Stat(a); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("a.hcl mode after rewrite: %v %v, want 0600", fi.Mode(), err)
	}
	for name, want := range map[string]string{"b.hcl": fmtPretty, "notes.txt": fmtUgly, "sub/c.hcl": fmtUgly} {
		if got := fmtRead(t, filepath.Join(dir, name)); got != want {
			t.Errorf("%s changed to %q", name, got)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("directory holds %d entries after fmt, want 4 (a temporary file left behind?)", len(entries))
	}

	// A file named explicitly is formatted whatever its suffix.
	notes := filepath.Join(dir, "notes.txt")
	if code, stdout, _ := fmtExec(notes); code != 0 || stdout != notes+"\n" || fmtRead(t, notes) != fmtPretty {
		t.Errorf("fmt %s = exit %d, stdout %q; file now %q", notes, code, stdout, fmtRead(t, notes))
	}
}

func TestFmtRecursive(t *testing.T) {
	dir := fmtTree(t, map[string]string{
		"a.hcl":          fmtUgly,
		"sub/c.hcl":      fmtUgly,
		"sub/deep/d.hcl": fmtUgly,
		".git/e.hcl":     fmtUgly,
	})
	t.Chdir(dir)
	code, stdout, stderr := fmtExec("-recursive")
	want := "a.hcl\n" + filepath.Join("sub", "c.hcl") + "\n" + filepath.Join("sub", "deep", "d.hcl") + "\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Fatalf("fmt -recursive = exit %d, stdout %q, stderr %q; want 0, %q", code, stdout, stderr, want)
	}
	for _, name := range []string{"a.hcl", "sub/c.hcl", "sub/deep/d.hcl"} {
		if got := fmtRead(t, name); got != fmtPretty {
			t.Errorf("%s = %q, want formatted", name, got)
		}
	}
	if got := fmtRead(t, ".git/e.hcl"); got != fmtUgly {
		t.Errorf(".git/e.hcl was formatted: dot directories must be skipped")
	}
}

func TestFmtCheck(t *testing.T) {
	for _, flag := range []string{"-check", "--check", "-check=true", "--check=true"} {
		t.Run(flag, func(t *testing.T) {
			dir := fmtTree(t, map[string]string{"a.hcl": fmtUgly, "b.hcl": fmtPretty})
			a := filepath.Join(dir, "a.hcl")
			code, stdout, stderr := fmtExec(flag, dir)
			if code != 3 || stdout != a+"\n" || stderr != "" {
				t.Errorf("fmt %s = exit %d, stdout %q, stderr %q; want 3 listing a.hcl", flag, code, stdout, stderr)
			}
			if got := fmtRead(t, a); got != fmtUgly {
				t.Errorf("%s changed a.hcl", flag)
			}
		})
	}
	dir := fmtTree(t, map[string]string{"b.hcl": fmtPretty})
	if code, stdout, stderr := fmtExec("-check", dir); code != 0 || stdout != "" || stderr != "" {
		t.Errorf("fmt -check on formatted files = exit %d, %q, %q; want 0 and silence", code, stdout, stderr)
	}
	// -check=false is an ordinary run.
	dir = fmtTree(t, map[string]string{"a.hcl": fmtUgly})
	if code, _, _ := fmtExec("-check=false", dir); code != 0 || fmtRead(t, filepath.Join(dir, "a.hcl")) != fmtPretty {
		t.Errorf("fmt -check=false = exit %d and did not rewrite", code)
	}
}

func TestFmtDiff(t *testing.T) {
	dir := fmtTree(t, map[string]string{"a.hcl": fmtUgly})
	t.Chdir(dir)
	code, stdout, _ := fmtExec("-check", "-diff")
	want := "a.hcl\n--- old/a.hcl\n+++ new/a.hcl\n@@ -1,4 +1,4 @@\n image \"demo\" {\n-source=\"/img\"\n-  kernel =    \"boot/vmlinuz-*\"\n+  source = \"/img\"\n+  kernel = \"boot/vmlinuz-*\"\n }\n"
	if code != 3 || stdout != want {
		t.Errorf("fmt -check -diff = exit %d, stdout:\n%s\nwant:\n%s", code, stdout, want)
	}
	if fmtRead(t, "a.hcl") != fmtUgly {
		t.Errorf("-check -diff changed the file")
	}
	// Without -check, -diff shows the change and makes it.
	if code, stdout, _ := fmtExec("--diff", "a.hcl"); code != 0 || stdout != want || fmtRead(t, "a.hcl") != fmtPretty {
		t.Errorf("fmt --diff = exit %d, stdout %q, file %q", code, stdout, fmtRead(t, "a.hcl"))
	}
}

func TestFmtParseError(t *testing.T) {
	dir := fmtTree(t, map[string]string{"bad.hcl": fmtBroken, "good.hcl": fmtUgly})
	t.Chdir(dir)
	code, stdout, stderr := fmtExec()
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if !strings.HasPrefix(stderr, "bad.hcl:2:11: Invalid expression: ") {
		t.Errorf("stderr = %q, want bad.hcl:2:11: Invalid expression: ...", stderr)
	}
	if fmtRead(t, "bad.hcl") != fmtBroken {
		t.Errorf("bad.hcl was changed")
	}
	// The other files are still formatted.
	if stdout != "good.hcl\n" || fmtRead(t, "good.hcl") != fmtPretty {
		t.Errorf("good.hcl not formatted next to a broken file: stdout %q", stdout)
	}
	// A parse error wins over -check's 3.
	if err := os.WriteFile("good.hcl", []byte(fmtUgly), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := fmtExec("-check"); code != 2 {
		t.Errorf("fmt -check with a parse error = exit %d, want 2", code)
	}
}

// fmtStdin makes os.Stdin read content for the rest of the test.
func fmtStdin(t *testing.T, content string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdin
	os.Stdin = f
	t.Cleanup(func() { os.Stdin = old; f.Close() })
}

func TestFmtStdin(t *testing.T) {
	for _, tc := range []struct {
		name, in   string
		args       []string
		code       int
		out, inErr string
	}{
		{"format", fmtUgly, []string{"-"}, 0, fmtPretty, ""},
		{"already formatted", fmtPretty, []string{"-"}, 0, fmtPretty, ""},
		{"check unformatted", fmtUgly, []string{"-check", "-"}, 3, "", ""},
		{"check formatted", fmtPretty, []string{"-check", "-"}, 0, "", ""},
		{"diff", "a=1\n", []string{"-diff", "-"}, 0, "--- old/<stdin>\n+++ new/<stdin>\n@@ -1 +1 @@\n-a=1\n+a = 1\n", ""},
		{"parse error", fmtBroken, []string{"-"}, 2, "", "<stdin>:2:11: Invalid expression"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fmtStdin(t, tc.in)
			code, stdout, stderr := fmtExec(tc.args...)
			if code != tc.code || stdout != tc.out || !strings.Contains(stderr, tc.inErr) {
				t.Errorf("fmt %v = exit %d, stdout %q, stderr %q; want %d, %q, stderr with %q", tc.args, code, stdout, stderr, tc.code, tc.out, tc.inErr)
			}
		})
	}
}

func TestFmtSymlink(t *testing.T) {
	dir := fmtTree(t, map[string]string{"real/a.hcl": fmtUgly, "repo/.keep": ""})
	link := filepath.Join(dir, "repo", "a.hcl")
	if err := os.Symlink(filepath.Join(dir, "real", "a.hcl"), link); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := fmtExec(filepath.Join(dir, "repo")); code != 0 || stdout != link+"\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symbolic link was replaced by a file")
	}
	if got := fmtRead(t, filepath.Join(dir, "real", "a.hcl")); got != fmtPretty {
		t.Errorf("link target = %q, want formatted", got)
	}
}

func TestFmtUsageErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	if code, _, stderr := fmtExec(missing); code != 1 || !strings.Contains(stderr, "Error: ") || !strings.Contains(stderr, missing) {
		t.Errorf("fmt on a missing path = exit %d, stderr %q; want 1 naming it", code, stderr)
	}
	if code, _, stderr := fmtExec("-nope"); code != 1 || !strings.Contains(stderr, "nope") {
		t.Errorf("fmt -nope = exit %d, stderr %q; want 1 naming the flag", code, stderr)
	}
	for _, h := range []string{"-help", "--help", "-h"} {
		if code, stdout, _ := fmtExec(h); code != 0 || !strings.Contains(stdout, "-recursive") {
			t.Errorf("fmt %s = exit %d, stdout %q; want usage", h, code, stdout)
		}
	}
}

// TestFmtExamples keeps the example repositories canonically formatted.
func TestFmtExamples(t *testing.T) {
	for _, dir := range []string{"../../examples/lab", "../../examples/site1000"} {
		code, stdout, stderr := fmtExec("-check", "-diff", "-recursive", dir)
		if code != 0 {
			t.Errorf("fmt -check %s = exit %d (run gitboot fmt -recursive examples):\n%s%s", dir, code, stdout, stderr)
		}
		files, err := hclfmt.Files(dir, true)
		if err != nil || len(files) == 0 {
			t.Errorf("%s: no *.hcl files (%v)", dir, err)
		}
	}
}
