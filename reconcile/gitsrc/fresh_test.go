package gitsrc

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFile(t *testing.T, c *Commit, name string) string {
	t.Helper()
	data, err := fs.ReadFile(c.FS, name)
	if err != nil {
		t.Fatalf("commit %s: reading %s: %v", c.Short(), name, err)
	}
	return string(data)
}

func packs(t *testing.T, bare string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(bare, "objects/pack/*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// TestResolveSeesPushGCAndForcePush checks that one Source, kept open the way
// the server keeps it, sees a push that arrives as a new pack, a `git gc`
// that replaces every pack, and a force-push back to an older commit.
func TestResolveSeesPushGCAndForcePush(t *testing.T) {
	work, bare, first := newRepo(t)
	runGit(t, bare, "repack", "-a", "-d") // objects in a pack, as in any used repository
	src, err := Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := src.Resolve("main")
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, c1, "main.hcl"); got != "# cluster\n" {
		t.Fatalf("main.hcl = %q", got)
	}

	// (a) 300 new files: more than transfer.unpackLimit, so the push
	// arrives as a pack go-git has not indexed.
	for i := range 300 {
		write(t, filepath.Join(work, "nodes", fmt.Sprintf("n%03d.hcl", i)), fmt.Sprintf("# node %d\n", i), 0o644)
	}
	runGit(t, work, "add", "-A")
	runGit(t, work, "commit", "-q", "-m", "300 nodes")
	runGit(t, work, "push", "-q", bare, "main")
	second := runGit(t, work, "rev-parse", "HEAD")
	if n := packs(t, bare); n != 2 {
		t.Fatalf("%d packs after the push, want 2 (the push must arrive as a pack)", n)
	}
	c2, err := src.Resolve("main")
	if err != nil {
		t.Fatalf("after a push of a pack: %v", err)
	}
	if c2.Hash != second || readFile(t, c2, "nodes/n299.hcl") != "# node 299\n" {
		t.Fatalf("after a push of a pack: got %s, want %s", c2.Hash, second)
	}

	// (b) gc: one new pack, the old ones and loose objects deleted.
	runGit(t, bare, "gc", "-q", "--prune=now")
	if n := packs(t, bare); n != 1 {
		t.Fatalf("%d packs after gc, want 1", n)
	}
	c2b, err := src.Resolve("main")
	if err != nil {
		t.Fatalf("after gc: %v", err)
	}
	if c2b.Hash != second || readFile(t, c2b, "nodes/n150.hcl") != "# node 150\n" {
		t.Fatalf("after gc: got %s, want %s", c2b.Hash, second)
	}
	// A commit resolved before the gc stays readable: its objects moved
	// to the new pack.
	if got := readFile(t, c1, "overlays/generic/etc/motd.tmpl"); !strings.HasPrefix(got, "hello") {
		t.Fatalf("old commit after gc: %q", got)
	}

	// (c) force-push back to the first commit, then gc again.
	runGit(t, work, "push", "-q", "--force", bare, first+":refs/heads/main")
	runGit(t, bare, "gc", "-q", "--prune=now")
	c3, err := src.Resolve("main")
	if err != nil {
		t.Fatalf("after a force-push: %v", err)
	}
	if c3.Hash != first || readFile(t, c3, "main.hcl") != "# cluster\n" {
		t.Fatalf("after a force-push: got %s, want %s", c3.Hash, first)
	}
	if _, err := fs.Stat(c3.FS, "nodes"); err == nil {
		t.Fatal("the force-pushed commit has no nodes/")
	}
	if c3.Email != "t@example.org" || len(c3.Tree) != 40 {
		t.Errorf("Email %q Tree %q", c3.Email, c3.Tree)
	}
}

// TestWorkTreeSeesCommitAndGC is the same for a work tree, where git
// writes loose objects and `git gc` packs them.
func TestWorkTreeSeesCommitAndGC(t *testing.T) {
	work, _, _ := newRepo(t)
	runGit(t, work, "gc", "-q")
	src, err := Open(work)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Resolve("main"); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(work, "main.hcl"), "# second\n", 0o644)
	runGit(t, work, "commit", "-q", "-am", "second")
	runGit(t, work, "gc", "-q", "--prune=now")
	c, err := src.Resolve("main")
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "second" || readFile(t, c, "main.hcl") != "# second\n" {
		t.Fatalf("got %q", c.Subject)
	}
	if err := os.WriteFile(filepath.Join(work, "main.hcl"), []byte("# dirty\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if readFile(t, c, "main.hcl") != "# second\n" {
		t.Fatal("the work tree leaked into the commit")
	}
}
