package gitsrc

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// exportGit runs git in dir with a fixed identity and no user or system
// configuration.
func exportGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.org",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.org",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func exportWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestExportTree checks that the exported tree is the committed bytes:
// modes and symbolic links kept, .gitattributes not applied.
func TestExportTree(t *testing.T) {
	work := t.TempDir()
	exportGit(t, work, "init", "-q")
	exportWrite(t, filepath.Join(work, ".gitattributes"), "*.hcl export-ignore\n*.txt text eol=crlf\n")
	exportWrite(t, filepath.Join(work, "main.hcl"), "# kept\n")
	if err := os.MkdirAll(filepath.Join(work, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	exportWrite(t, filepath.Join(work, "a", "b", "note.txt"), "line\n")
	exportWrite(t, filepath.Join(work, "run.sh"), "#!/bin/sh\n")
	if err := os.Chmod(filepath.Join(work, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a/b/note.txt", filepath.Join(work, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(work, "outside")); err != nil {
		t.Fatal(err)
	}
	exportGit(t, work, "add", "-A")
	exportGit(t, work, "commit", "-q", "-m", "tree")
	head := exportGit(t, work, "rev-parse", "HEAD")

	t.Chdir(work)
	for _, kv := range os.Environ() { // run git as a hook would, from the repository
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "GIT_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	dir := t.TempDir()
	if err := ExportTree(context.Background(), head, dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"main.hcl": "# kept\n", "a/b/note.txt": "line\n", "run.sh": "#!/bin/sh\n"} {
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != want {
			t.Errorf("%s: %q (%v), want %q", name, got, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "run.sh")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("run.sh: %v %v, want mode 0755", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "main.hcl")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("main.hcl: %v %v, want mode 0644", fi.Mode(), err)
	}
	for name, want := range map[string]string{"link": "a/b/note.txt", "outside": "/etc/passwd"} {
		if got, err := os.Readlink(filepath.Join(dir, name)); err != nil || got != want {
			t.Errorf("%s -> %q (%v), want a link to %q", name, got, err, want)
		}
	}

	if err := ExportTree(context.Background(), strings.Repeat("1", 40), t.TempDir()); err == nil {
		t.Error("exporting a missing commit succeeded")
	}
}
