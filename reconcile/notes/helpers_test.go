package notes

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitEnv keeps the user's and the system's git configuration out of tests.
var gitEnv = []string{
	"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
	"GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@example.org",
	"GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@example.org",
}

// git runs git in dir and returns its output without the final newline.
func git(t testing.TB, dir, stdin string, args ...string) string {
	t.Helper()
	out, err := gitErr(dir, stdin, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func gitErr(dir, stdin string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gitEnv...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return strings.TrimSuffix(string(out), "\n"), err
}

// newRepo makes a work tree with n commits on main and returns its path and
// the commits' hashes, oldest first.
func newRepo(t testing.TB, n int) (string, []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	git(t, "", "", "init", "-q", "-b", "main", dir)
	var in strings.Builder
	for i := range n {
		data := fmt.Sprintf("# change %d\n", i)
		fmt.Fprintf(&in, "commit refs/heads/main\nmark :%d\ncommitter T <t@example.org> %d +0000\ndata 7\nchange\n", i+1, 1700000000+i)
		fmt.Fprintf(&in, "M 100644 inline nodes.hcl\ndata %d\n%s\n", len(data), data)
	}
	marks := filepath.Join(t.TempDir(), "marks")
	git(t, dir, in.String(), "fast-import", "--quiet", "--export-marks="+marks)
	data, err := os.ReadFile(marks)
	if err != nil {
		t.Fatal(err)
	}
	commits := make([]string, n)
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var i int
		var h string
		if _, err := fmt.Sscanf(line, ":%d %s", &i, &h); err != nil {
			t.Fatal(err)
		}
		commits[i-1] = h
	}
	git(t, dir, "", "reset", "-q", "--hard", "main")
	return dir, commits
}

// copyRepo copies a repository directory (to give two writers the same
// starting notes).
func copyRepo(t testing.TB, dir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", dir, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return dst
}

func mustOpen(t testing.TB, dir string) *Notes {
	t.Helper()
	n, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// fsck runs git fsck --strict and fails on any error or warning other than
// dangling objects (left by lost races and kills, as git leaves them).
func fsck(t testing.TB, dir string) {
	t.Helper()
	out, err := gitErr(dir, "", "fsck", "--strict", "--no-progress")
	var bad []string
	for _, line := range strings.Split(out, "\n") {
		if line != "" && !strings.HasPrefix(line, "dangling ") {
			bad = append(bad, line)
		}
	}
	if err != nil || len(bad) > 0 {
		t.Fatalf("git fsck --strict: %v\n%s", err, strings.Join(bad, "\n"))
	}
}

// notesTree is the tree of the notes ref as git sees it.
func notesTree(t testing.TB, dir string) string {
	return git(t, dir, "", "rev-parse", Ref+"^{tree}")
}

// topEntries lists the names in the top notes tree.
func topEntries(t testing.TB, dir string) []string {
	return strings.Fields(git(t, dir, "", "ls-tree", "--name-only", Ref))
}
