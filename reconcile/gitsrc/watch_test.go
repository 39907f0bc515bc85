package gitsrc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// watching starts a watch of ref on src and returns a channel that gets a
// value per notify and the running count of notifies. The watches are in
// place when it returns.
func watching(t *testing.T, src *Source, ref string, debounce time.Duration) (<-chan struct{}, *atomic.Int32) {
	t.Helper()
	rw, err := src.newRefWatcher(ref, debounce)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, n, done := make(chan struct{}, 100), new(atomic.Int32), make(chan error, 1)
	go func() {
		done <- rw.run(ctx, func() { n.Add(1); ch <- struct{}{} })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("watch: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("watch did not return after its context was done")
		}
	})
	return ch, n
}

func waitNotify(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("no notify within 5s after %s", what)
	}
}

// quiet waits out a few debounce periods and returns how many notifies
// came meanwhile.
func quiet(ch <-chan struct{}, d time.Duration) int {
	n := 0
	deadline := time.After(d)
	for {
		select {
		case <-ch:
			n++
		case <-deadline:
			return n
		}
	}
}

func commit(t *testing.T, work, msg string) {
	t.Helper()
	write(t, filepath.Join(work, "main.hcl"), "# "+msg+"\n", 0o644)
	runGit(t, work, "commit", "-q", "-am", msg)
}

func TestWatchBarePushAndPackRefs(t *testing.T) {
	work, bare, _ := newRepo(t)
	src, err := Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := watching(t, src, "main", 20*time.Millisecond)

	commit(t, work, "second")
	runGit(t, work, "push", "-q", bare, "main")
	waitNotify(t, ch, "git push")
	if c, err := src.Resolve("main"); err != nil || c.Subject != "second" {
		t.Fatalf("after the notify: %v %v", c, err)
	}

	runGit(t, bare, "pack-refs", "--all")
	waitNotify(t, ch, "git pack-refs --all")
	if _, err := os.Stat(filepath.Join(bare, "refs/heads/main")); !os.IsNotExist(err) {
		t.Fatalf("pack-refs left the loose ref: %v", err)
	}
	quiet(ch, 100*time.Millisecond)

	// A push now writes a loose ref over the packed one.
	commit(t, work, "third")
	runGit(t, work, "push", "-q", bare, "main")
	waitNotify(t, ch, "a push over a packed ref")
	if c, err := src.Resolve("main"); err != nil || c.Subject != "third" {
		t.Fatalf("after the notify: %v %v", c, err)
	}
}

func TestWatchWorkTreeCommit(t *testing.T) {
	work, _, _ := newRepo(t)
	src, err := Open(work)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := watching(t, src, "main", 20*time.Millisecond)
	commit(t, work, "second")
	waitNotify(t, ch, "git commit")
	if c, err := src.Resolve("main"); err != nil || c.Subject != "second" {
		t.Fatalf("after the notify: %v %v", c, err)
	}
}

func TestWatchLinkedWorktree(t *testing.T) {
	work, _, _ := newRepo(t)
	linked := filepath.Join(t.TempDir(), "linked")
	runGit(t, work, "worktree", "add", "-q", "-b", "other", linked)
	src, err := Open(linked)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := watching(t, src, "main", 20*time.Millisecond)
	commit(t, work, "second") // main moves in the main work tree
	waitNotify(t, ch, "a commit on main from the main work tree")
	if c, err := src.Resolve("main"); err != nil || c.Subject != "second" {
		t.Fatalf("after the notify: %v %v", c, err)
	}
}

// TestWatchBranchInSubdirectory watches feature/x before it exists, so its
// directory is made (and, by pack-refs, removed and made again) while
// watched.
func TestWatchBranchInSubdirectory(t *testing.T) {
	work, bare, _ := newRepo(t)
	src, err := Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := watching(t, src, "feature/x", 20*time.Millisecond)
	for i, step := range []string{"creating feature/x", "moving feature/x", "pack-refs", "moving feature/x after pack-refs"} {
		if step == "pack-refs" {
			runGit(t, bare, "pack-refs", "--all")
			if _, err := os.Stat(filepath.Join(bare, "refs/heads/feature")); !os.IsNotExist(err) {
				t.Fatalf("pack-refs left refs/heads/feature: %v", err)
			}
		} else {
			commit(t, work, fmt.Sprintf("feature %d", i))
			runGit(t, work, "push", "-q", bare, "HEAD:refs/heads/feature/x")
		}
		waitNotify(t, ch, step)
		quiet(ch, 60*time.Millisecond)
	}
	if c, err := src.Resolve("feature/x"); err != nil || c.Subject != "feature 3" {
		t.Fatalf("resolve feature/x: %v %v", c, err)
	}
}

// TestWatchCoalescesAndFilters checks that a burst of ref updates gives
// one notify, and that other refs and other files in the git directory
// cause no storm.
func TestWatchCoalescesAndFilters(t *testing.T) {
	work, bare, _ := newRepo(t)
	src, err := Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	const debounce = 300 * time.Millisecond
	ch, _ := watching(t, src, "main", debounce)

	// 40 other branches and main in one push, then main moved 20 times.
	args := []string{"push", "-q", bare, "main"}
	for i := range 40 {
		args = append(args, fmt.Sprintf("HEAD:refs/heads/b%02d", i))
	}
	commit(t, work, "burst")
	runGit(t, work, args...)
	head := runGit(t, work, "rev-parse", "HEAD")
	parent := runGit(t, work, "rev-parse", "HEAD~1")
	for i := range 20 {
		runGit(t, bare, "update-ref", "refs/heads/main", []string{head, parent}[i%2])
	}
	waitNotify(t, ch, "a burst")
	if n := 1 + quiet(ch, 3*debounce); n > 2 {
		t.Errorf("%d notifies for one burst, want 1 (2 if it straddled the window)", n)
	}

	// Other refs only.
	for i := range 40 {
		runGit(t, bare, "update-ref", fmt.Sprintf("refs/heads/b%02d", i), parent)
	}
	runGit(t, bare, "tag", "v1", head)
	// Unrelated files in the git directory.
	for i := range 50 {
		write(t, filepath.Join(bare, "description"), fmt.Sprintf("cluster %d\n", i), 0o644)
		write(t, filepath.Join(bare, "FETCH_HEAD"), fmt.Sprintf("%d\n", i), 0o644)
	}
	if n := quiet(ch, 3*debounce); n > 1 {
		t.Errorf("%d notifies for other refs and files, want none", n)
	}
}

func TestWatchReturnsWhenDone(t *testing.T) {
	_, bare, _ := newRepo(t)
	src, err := Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Watch(ctx, "main", 0, func() {}) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return")
	}
}
