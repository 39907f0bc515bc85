package gitsrc

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=t@example.org",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=t@example.org", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// newRepo makes a work repository with one commit pushed to a bare one.
func newRepo(t *testing.T) (work, bare, head string) {
	dir := t.TempDir()
	work, bare = filepath.Join(dir, "work"), filepath.Join(dir, "cluster.git")
	runGit(t, dir, "init", "-q", "--bare", "-b", "main", bare)
	runGit(t, dir, "init", "-q", "-b", "main", work)
	write(t, filepath.Join(work, "main.hcl"), "# cluster\n", 0o644)
	write(t, filepath.Join(work, "overlays/generic/etc/motd.tmpl"), "hello {{ .Node.Name }}\n", 0o644)
	write(t, filepath.Join(work, "overlays/generic/usr/bin/tool"), "#!/bin/sh\n", 0o755)
	if err := os.Symlink("../usr/share/zoneinfo/UTC", filepath.Join(work, "overlays/generic/etc/localtime")); err != nil {
		t.Fatal(err)
	}
	runGit(t, work, "add", "-A")
	runGit(t, work, "commit", "-q", "-m", "first cluster\n\nbody")
	runGit(t, work, "push", "-q", bare, "main")
	return work, bare, runGit(t, work, "rev-parse", "HEAD")
}

func TestResolveBareAndWorkRepositories(t *testing.T) {
	work, bare, head := newRepo(t)
	// An uncommitted change in the work tree must not be seen.
	write(t, filepath.Join(work, "main.hcl"), "# dirty\n", 0o644)
	for _, path := range []string{work, bare} {
		src, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range []string{"main", "refs/heads/main", "HEAD", head} {
			c, err := src.Resolve(ref)
			if err != nil {
				t.Fatalf("%s: resolve %s: %v", path, ref, err)
			}
			if c.Hash != head || c.Subject != "first cluster" {
				t.Errorf("%s %s: got %s %q, want %s \"first cluster\"", path, ref, c.Hash, c.Subject, head)
			}
			data, err := fs.ReadFile(c.FS, "main.hcl")
			if err != nil || string(data) != "# cluster\n" {
				t.Errorf("%s: main.hcl = %q, %v; want the committed content", path, data, err)
			}
		}
		if _, err := src.Resolve("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
			t.Errorf("resolving a missing branch: %v", err)
		}
	}
	if _, err := Open(t.TempDir()); err == nil {
		t.Error("opening a directory that is not a repository must fail")
	}
}

func TestTreeFS(t *testing.T) {
	_, bare, _ := newRepo(t)
	src, err := Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	c, err := src.Resolve("main")
	if err != nil {
		t.Fatal(err)
	}
	// fstest.TestFS opens every entry; symlinks cannot be opened, so check
	// the subtree without one, and the root listing by hand.
	sub, err := fs.Sub(c.FS, "overlays/generic/usr")
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(sub, "bin/tool"); err != nil {
		t.Fatal(err)
	}
	var walked []string
	_ = fs.WalkDir(c.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			walked = append(walked, p)
		}
		return err
	})
	if got := strings.Join(walked, " "); got != "main.hcl overlays/generic/etc/localtime overlays/generic/etc/motd.tmpl overlays/generic/usr/bin/tool" {
		t.Errorf("walk = %s", got)
	}
	st, err := fs.Stat(c.FS, "overlays/generic/usr/bin/tool")
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("executable mode lost: %v %v", st, err)
	}
	link := "overlays/generic/etc/localtime"
	if target, err := fs.ReadLink(c.FS, link); err != nil || target != "../usr/share/zoneinfo/UTC" {
		t.Errorf("ReadLink = %q, %v", target, err)
	}
	if st, err := fs.Lstat(c.FS, link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat of a symlink: %v %v", st, err)
	}
	if _, err := c.FS.Open(link); err == nil {
		t.Error("opening a symlink must fail: links in a tree are never followed")
	}
	for _, bad := range []string{"../x", "/etc/passwd", "overlays/../../x", "missing"} {
		if _, err := c.FS.Open(bad); err == nil {
			t.Errorf("Open(%q) must fail", bad)
		}
	}
}
