package gitsrc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIsRemoteURL(t *testing.T) {
	for s, want := range map[string]bool{
		"https://git.example.org/cluster.git": true,
		"http://git.example.org/cluster.git":  true,
		"ssh://git@git.example.org/cluster":   true,
		"git://git.example.org/cluster":       true,
		"file:///srv/git/cluster.git":         true,
		"git@github.com:site/cluster.git":     true,
		"gitserver:cluster.git":               true,
		"/srv/git/cluster.git":                false,
		"cluster.git":                         false,
		"./cluster":                           false,
		"../a:b/cluster":                      false,
		`C:\git\cluster`:                      false,
		"foo://bar":                           false,
		"":                                    false,
	} {
		if got := IsRemoteURL(s); got != want {
			t.Errorf("IsRemoteURL(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestRemoteCloneFetchReopen(t *testing.T) {
	ctx := context.Background()
	work, upstream, first := newRepo(t)
	url := "file://" + upstream
	state := t.TempDir()
	dir := filepath.Join(state, "source")

	src, err := OpenRemote(ctx, url, dir, RemoteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if src.Remote() != url {
		t.Errorf("Remote() = %q", src.Remote())
	}
	c, err := src.Resolve("main")
	if err != nil || c.Hash != first || readFile(t, c, "main.hcl") != "# cluster\n" {
		t.Fatalf("after the clone: %v %v", c, err)
	}
	if err := src.Fetch(ctx); err != nil {
		t.Fatalf("fetch when up to date: %v", err)
	}
	es, _ := os.ReadDir(state)
	if len(es) != 1 {
		t.Errorf("state dir holds %d entries, want only source/", len(es))
	}

	// The mirror notices Fetch publishing: Watch works on it too.
	ch, _ := watching(t, src, "main", 20*time.Millisecond)

	// A new commit and a new branch upstream.
	commit(t, work, "second")
	runGit(t, work, "push", "-q", upstream, "main", "main:refs/heads/other")
	second := runGit(t, work, "rev-parse", "HEAD")
	if c, _ := src.Resolve("main"); c.Hash != first {
		t.Fatal("the mirror moved before Fetch")
	}
	if err := src.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	waitNotify(t, ch, "Fetch")
	c, err = src.Resolve("main")
	if err != nil || c.Hash != second || readFile(t, c, "main.hcl") != "# second\n" {
		t.Fatalf("after Fetch: %v %v", c, err)
	}
	if _, err := src.Resolve("other"); err != nil {
		t.Fatalf("a new branch: %v", err)
	}

	// A force-push back and a deleted branch upstream.
	runGit(t, work, "push", "-q", "--force", upstream, first+":refs/heads/main", ":refs/heads/other")
	if err := src.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if c, err := src.Resolve("main"); err != nil || c.Hash != first {
		t.Fatalf("after a force-push: %v %v", c, err)
	}
	if _, err := src.Resolve("other"); err == nil {
		t.Error("a branch deleted upstream is still there")
	}

	// Reopening the existing mirror, as after a restart.
	again, err := OpenRemote(ctx, url, dir, RemoteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := again.Resolve("main"); err != nil || c.Hash != first {
		t.Fatalf("reopened: %v %v", c, err)
	}

	// Another URL is refused, naming both.
	other := "file://" + filepath.Join(t.TempDir(), "other.git")
	_, err = OpenRemote(ctx, other, dir, RemoteOptions{})
	if err == nil || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), other) {
		t.Fatalf("opening the mirror for another URL: %v", err)
	}
}

func TestRemoteFetchErrorKeepsMirror(t *testing.T) {
	ctx := context.Background()
	work, upstream, _ := newRepo(t)
	commit(t, work, "second")
	runGit(t, work, "push", "-q", upstream, "main")
	src, err := OpenRemote(ctx, "file://"+upstream, filepath.Join(t.TempDir(), "source"), RemoteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(upstream, upstream+".gone"); err != nil {
		t.Fatal(err)
	}
	err = src.Fetch(ctx)
	if err == nil || !strings.HasPrefix(err.Error(), "fetching file://") {
		t.Fatalf("fetch from a missing upstream: %v", err)
	}
	c, err := src.Resolve("main")
	if err != nil || c.Subject != "second" || readFile(t, c, "main.hcl") != "# second\n" {
		t.Fatalf("after a failed fetch: %v %v", c, err)
	}
}

func TestRemoteCloneErrorLeavesNothing(t *testing.T) {
	state := t.TempDir()
	dir := filepath.Join(state, "source")
	_, err := OpenRemote(context.Background(), "file://"+filepath.Join(state, "missing.git"), dir, RemoteOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), "cloning file://") {
		t.Fatalf("cloning a missing repository: %v", err)
	}
	if es, _ := os.ReadDir(state); len(es) != 0 {
		t.Errorf("a failed clone left %v", es)
	}
	// A directory that is neither empty nor a repository is refused.
	write(t, filepath.Join(dir, "x"), "x", 0o644)
	_, upstream, _ := newRepo(t)
	if _, err := OpenRemote(context.Background(), "file://"+upstream, dir, RemoteOptions{}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("cloning into a non-empty directory: %v", err)
	}
	// An empty one is cloned into.
	if err := os.Remove(filepath.Join(dir, "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenRemote(context.Background(), "file://"+upstream, dir, RemoteOptions{}); err != nil {
		t.Fatalf("cloning into an empty directory: %v", err)
	}
}

func TestLocalSourceHasNoRemote(t *testing.T) {
	_, bare, _ := newRepo(t)
	src, err := Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	if src.Remote() != "" {
		t.Errorf("Remote() = %q", src.Remote())
	}
	if err := src.Fetch(context.Background()); err != nil {
		t.Errorf("Fetch on a local source: %v", err)
	}
}
