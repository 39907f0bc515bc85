package notes

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// nodesAt is a status table of n nodes, all seen at t.
func nodesAt(server string, n int, t time.Time) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Node(server, fmt.Sprintf("c%05d", i), "RUNTIME_OVERLAY", "runtime.img.gz",
			fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), t, "3f2a9c1")
	}
	return recs
}

// TestUpdateLoop is not a test: TestKill9 runs the test binary with it, to
// have a process to kill while it writes notes.
func TestUpdateLoop(t *testing.T) {
	dir, commit := os.Getenv("GITBOOT_NOTES_LOOP"), os.Getenv("GITBOOT_NOTES_COMMIT")
	if dir == "" {
		t.Skip("run by TestKill9")
	}
	n := mustOpen(t, dir)
	for i := 0; ; i++ {
		edit := ReplaceNodes("loop", nodesAt("loop", 2000, t0.Add(time.Duration(i)*time.Second)))
		if err := n.Update(map[string]func([]Record) []Record{commit: edit}, "loop"); err != nil {
			t.Fatal(err)
		}
	}
}

// A writer killed with SIGKILL at any point leaves a repository that git
// fsck finds clean and that the next Update writes to.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	dir, commits := newRepo(t, 1)
	for round := range 6 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestUpdateLoop$")
		cmd.Env = append(os.Environ(), "GITBOOT_NOTES_LOOP="+dir, "GITBOOT_NOTES_COMMIT="+commits[0])
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Let it write a few commits, then kill it at some point of one.
		start, _ := gitErr(dir, "", "rev-parse", "-q", "--verify", Ref)
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if tip, _ := gitErr(dir, "", "rev-parse", "-q", "--verify", Ref); tip != start {
				break
			}
		}
		time.Sleep(time.Duration(round*7) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		fsck(t, dir)

		n := mustOpen(t, dir)
		n.ref.staleLock = 0 // a lock the killed loop left is stale at once
		rec := Apply("after", t0, ResultApplied, round, 0, 0)
		if err := n.Update(map[string]func([]Record) []Record{commits[0]: AppendUnique(rec)}, "after kill"); err != nil {
			t.Fatalf("round %d: Update after kill: %v", round, err)
		}
		recs, err := n.Read(commits[0])
		if err != nil {
			t.Fatal(err)
		}
		if len(LatestNodes(recs)) != 2000 {
			t.Errorf("round %d: %d nodes after kill", round, len(LatestNodes(recs)))
		}
		fsck(t, dir)
	}
}

// A lock file left by a killed process is removed once it is older than
// staleLock; a fresh one (a live git) is waited for.
func TestStaleLock(t *testing.T) {
	dir, commits := newRepo(t, 1)
	n := mustOpen(t, dir)
	n.ref.lockWait = 100 * time.Millisecond
	lock := n.ref.path() + ".lock"
	if err := os.MkdirAll(dir+"/.git/refs/notes", 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lock, []byte("0123\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	edit := map[string]func([]Record) []Record{commits[0]: AppendUnique(Apply("x", t0, ResultApplied, 0, 0, 0))}
	if err := n.Update(edit, "x"); err == nil {
		t.Fatal("Update took a fresh lock")
	}
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(lock, old, old); err != nil {
		t.Fatal(err)
	}
	if err := n.Update(edit, "x"); err != nil {
		t.Fatalf("Update with a stale lock: %v", err)
	}
	fsck(t, dir)
}
