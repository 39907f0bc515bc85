package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGitOpsNotes: what the server does is written back to the
// repository as git notes that git itself reads: an apply record for an
// applied commit, a rejected one with its diagnostic (file and line), and
// the node table of the applied commit once a node fetched its boot files
// (batched every --notes-interval). git fsck stays clean.
func TestGitOpsNotes(t *testing.T) {
	l := startGitOpsLab(t, "--notes-interval", "300ms")
	l.serve(t)
	head := git(t, l.bare, "rev-parse", "main")
	notesOf := func(commit string) string {
		out, _ := exec.Command("git", "-C", l.bare, "notes", "--ref=gitboot", "show", commit).CombinedOutput()
		return string(out)
	}
	l.waitFor(t, 30*time.Second, "the apply note on the first commit", func() bool {
		return strings.Contains(notesOf(head), "result=applied")
	})
	if n := notesOf(head); !strings.Contains(n, "apply server=head") || !strings.Contains(n, "add=") {
		t.Errorf("apply note: %q", n)
	}

	// n1 fetches its script and boot files: a node record follows.
	script := l.checkWhole(t)
	_ = script
	l.waitFor(t, 30*time.Second, "the node record of n1", func() bool {
		n := notesOf(head)
		return strings.Contains(n, "node server=head name=n1 stage=RUNTIME_OVERLAY") && strings.Contains(n, "booted="+head)
	})

	// gitboot status --repo reads the table from the notes alone.
	out, err := exec.Command(l.bin, "status", "--repo", l.bare).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "n1") || !strings.Contains(string(out), "RUNTIME_OVERLAY") {
		t.Errorf("status --repo: %v\n%s", err, out)
	}

	// A system overlay change: n1 booted the old one, so the notes say it
	// needs a reboot (one reboot record listing the nodes, not a node
	// record each), and status --repo shows it.
	sysChange := l.commit(t, "system overlay", func(w string) {
		editFile(t, filepath.Join(w, "overlays", "init", "etc", "gitboot", "cluster"), "", "# changed\n")
	})
	l.push(t, true, "main")
	l.waitFor(t, 30*time.Second, "n1 marked as needing a reboot in the notes", func() bool {
		n := notesOf(sysChange)
		return strings.Contains(n, "reboot server=head") && strings.Contains(n, "nodes=n1")
	})
	out, err = exec.Command(l.bin, "status", "--repo", l.bare, "--json").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"needs_reboot": true`) {
		t.Errorf("status --repo --json after a system overlay change: %v\n%s", err, out)
	}

	// A rejected commit: its note names the file and line.
	bad := l.commit(t, "broken", func(w string) {
		editFile(t, filepath.Join(w, "nodes.hcl"), "profile.compute", "profile.computer")
	})
	l.push(t, true, "main")
	l.waitFor(t, 30*time.Second, "the rejected note", func() bool { return strings.Contains(notesOf(bad), "result=rejected") })
	n := notesOf(bad)
	if !strings.Contains(n, "diagnostic server=head file=nodes.hcl line=") || !strings.Contains(n, "computer") {
		t.Errorf("the rejected commit's note lacks its diagnostic:\n%s", n)
	}
	// git log --notes=gitboot shows both.
	out, err = l.ns.Output(context.Background(), "git", "-C", l.bare, "log", "--notes=gitboot", "-3")
	if err != nil || !strings.Contains(string(out), "result=rejected") || !strings.Contains(string(out), "result=applied") {
		t.Errorf("git log --notes=gitboot: %v\n%s", err, out)
	}
	if out, err := exec.Command("git", "-C", l.bare, "fsck", "--strict").CombinedOutput(); err != nil {
		t.Errorf("git fsck: %v\n%s", err, out)
	}
}
