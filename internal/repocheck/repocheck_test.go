package repocheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the top of the git work tree holding this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git work tree (git rev-parse: %v)", err)
	}
	return strings.TrimSpace(string(out))
}

// No build output is tracked: a compiled program (ELF, Mach-O, PE) at any
// path is a mistake (`go build ./bench/boot` writes ./boot), and one at the
// root must also be ignored by .gitignore.
func TestNoBinariesTracked(t *testing.T) {
	root := repoRoot(t)
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	magics := [][]byte{{0x7f, 'E', 'L', 'F'}, {0xcf, 0xfa, 0xed, 0xfe}, {'M', 'Z'}}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		f, err := os.Open(filepath.Join(root, name))
		if err != nil {
			continue // deleted in the work tree
		}
		head := make([]byte, 4)
		n, _ := f.Read(head)
		f.Close()
		for _, m := range magics {
			if n >= len(m) && bytes.Equal(head[:len(m)], m) && !strings.Contains(name, "testdata/") {
				t.Errorf("%s is a compiled program tracked in git: git rm it and ignore it", name)
			}
		}
	}
}

// The programs `go build ./bench/X` and `go build ./cmd/X` write into the
// current directory are ignored.
func TestBuildOutputsIgnored(t *testing.T) {
	root := repoRoot(t)
	var names []string
	for _, dir := range []string{"cmd", "bench"} {
		entries, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() && isMain(filepath.Join(root, dir, e.Name())) {
				names = append(names, e.Name())
			}
		}
	}
	for _, name := range names {
		cmd := exec.Command("git", "-C", root, "check-ignore", "-q", "--no-index", name)
		if err := cmd.Run(); err != nil {
			t.Errorf("./%s (what go build writes for a main package of that name) is not ignored by .gitignore", name)
		}
	}
}

// isMain reports whether dir holds a main package (a .go file starting a
// line with "package main").
func isMain(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err == nil && bytes.Contains(append([]byte("\n"), data...), []byte("\npackage main\n")) {
			return true
		}
	}
	return false
}
