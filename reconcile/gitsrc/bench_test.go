package gitsrc

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// manyCommits makes a packed bare repository with n commits on main, each
// changing one of 100 files.
func manyCommits(b testing.TB, n int) string {
	b.Helper()
	bare := filepath.Join(b.TempDir(), "many.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", "-b", "main", bare).CombinedOutput(); err != nil {
		b.Fatalf("git init: %v\n%s", err, out)
	}
	var in strings.Builder
	for i := range n {
		data := fmt.Sprintf("# change %d\n", i)
		fmt.Fprintf(&in, "commit refs/heads/main\ncommitter T <t@example.org> %d +0000\ndata 7\nchange\n", 1700000000+i)
		fmt.Fprintf(&in, "M 100644 inline f%02d.hcl\ndata %d\n%s\n", i%100, len(data), data)
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir, cmd.Stdin = bare, strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git fast-import: %v\n%s", err, out)
	}
	if out, err := exec.Command("git", "-C", bare, "gc", "-q").CombinedOutput(); err != nil {
		b.Fatalf("git gc: %v\n%s", err, out)
	}
	return bare
}

// tipOf is main's commit as git itself resolves it.
func tipOf(b testing.TB, bare string) string {
	b.Helper()
	out, err := exec.Command("git", "-C", bare, "rev-parse", "main").Output()
	if err != nil {
		b.Fatalf("git rev-parse: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// BenchmarkResolve is what the reconcile loop pays per notification: the
// pack-set check and a Resolve on an open Source.
func BenchmarkResolve(b *testing.B) {
	bare := manyCommits(b, 5000)
	want := tipOf(b, bare)
	src, err := Open(bare)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		c, err := src.Resolve("main")
		if err != nil || c.Hash != want {
			b.Fatalf("Resolve(main) = %v, %v; want %s", c, err, want)
		}
	}
}

// BenchmarkResolveReopen is the alternative: a fresh go-git repository per
// Resolve.
func BenchmarkResolveReopen(b *testing.B) {
	bare := manyCommits(b, 5000)
	want := tipOf(b, bare)
	for b.Loop() {
		src, err := Open(bare)
		if err != nil {
			b.Fatal(err)
		}
		c, err := src.Resolve("main")
		if err != nil || c.Hash != want {
			b.Fatalf("Resolve(main) = %v, %v; want %s", c, err, want)
		}
	}
}

// BenchmarkPackSetCheck is the part of Resolve that keeps it fresh.
func BenchmarkPackSetCheck(b *testing.B) {
	src, err := Open(manyCommits(b, 100))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		src.mu.Lock()
		reloaded := src.refreshLocked()
		src.mu.Unlock()
		if reloaded {
			b.Fatal("the pack set did not change, yet the index was reloaded")
		}
	}
}

// TestManyCommitsFixture checks the benchmarks' fixture and what they
// measure on a small repository: Resolve finds git's own tip in a packed
// repository, and an unchanged pack set does not reload the index.
func TestManyCommitsFixture(t *testing.T) {
	bare := manyCommits(t, 120)
	want := tipOf(t, bare)
	src, err := Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	c, err := src.Resolve("main")
	if err != nil || c.Hash != want {
		t.Fatalf("Resolve(main) = %v, %v; want %s", c, err, want)
	}
	src.mu.Lock()
	reloaded := src.refreshLocked()
	src.mu.Unlock()
	if reloaded {
		t.Error("the pack set did not change, yet the index was reloaded")
	}
}
