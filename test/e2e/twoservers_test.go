package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/netnstest"
)

// TestTwoServersOneRepository: a site that outgrew one machine runs two
// servers on the same repository, each serving its own network: "head"
// reads the bare repository directly, "b" a clone of it by file:// URL
// (notes pushed back). Both write notes on the same commits; no record is
// lost, the notes ref stays one line of history, and gitboot status
// --repo lists both servers' nodes.
func TestTwoServersOneRepository(t *testing.T) {
	l := startGitOpsLab(t, "--server", "head", "--notes-interval", "300ms")
	addSecondServer(t, l)
	l.push(t, true, "main")
	l.serve(t)

	nsB := netnstest.New(t, "gbops2")
	stateB := filepath.Join(t.TempDir(), "stateB")
	procB, logB := nsB.Start(t, l.bin, "serve", "--repo", "file://"+l.bare, "--server", "b", "--state", stateB,
		"--var", "image_source="+l.image, "--image-root", filepath.Dir(l.image), "--poll", "500ms", "--notes-interval", "300ms")
	getB := func(path string) string {
		out, err := nsB.Output(context.Background(), "curl", "-sf", "http://127.0.0.1:9873"+path)
		if err != nil {
			return ""
		}
		return string(out)
	}
	l.waitFor(t, 60*time.Second, "server b answering", func() bool { return getB("/healthz") != "" })

	// Each serves only its network's nodes.
	if !strings.Contains(l.get("/ipxe/"+n1MAC), "gitboot.node=n1") || strings.Contains(l.get("/ipxe/"+n2MAC), "gitboot.node=n2") {
		t.Errorf("head must serve n1 and not n2; n2 script from head:\n%s", l.get("/ipxe/"+n2MAC))
	}
	if strings.Contains(getB("/ipxe/"+n1MAC), "gitboot.node=n1") {
		t.Errorf("b serves n1, which is on head's network")
	}
	if s := getB("/ipxe/" + n2MAC); !strings.Contains(s, "gitboot.node=n2") {
		t.Errorf("b does not serve n2:\n%s\nlog:\n%s", s, logB.String())
	}
	// Both nodes fetch their boot files from their server, from their own
	// addresses (only those count toward a node's status).
	l.checkWhole(t)
	const n2RowIP = "10.98.0.12" // n2's address on row2 (the edit above)
	if out, err := nsB.Output(context.Background(), "ip", "addr", "replace", n2RowIP+"/32", "dev", "lo"); err != nil {
		t.Fatalf("adding n2's address: %v %s", err, out)
	}
	for _, kind := range []string{"kernel", "image", "system", "runtime"} {
		if out, err := nsB.Output(context.Background(), "curl", "-sf", "-o", "/dev/null", "http://"+n2RowIP+":9873/"+kind+"/"+n2MAC); err != nil {
			t.Fatalf("n2 fetching its %s: %v %s", kind, err, out)
		}
	}

	head := git(t, l.bare, "rev-parse", "main")
	notesOf := func() string {
		out, _ := exec.Command("git", "-C", l.bare, "notes", "--ref=gitboot", "show", head).CombinedOutput()
		return string(out)
	}
	var lastNotes string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the commit's notes:\n%s", lastNotes)
		}
	})
	l.waitFor(t, 60*time.Second, "both servers' apply and node records on the commit", func() bool {
		n := notesOf()
		lastNotes = n
		return strings.Contains(n, "apply server=head") && strings.Contains(n, "apply server=b") &&
			strings.Contains(n, "node server=head name=n1") && strings.Contains(n, "node server=b name=n2")
	})

	checkBothRecordEveryCommit(t, l)
	// Both servers stop (writing what they have); then the repository must
	// be whole.
	procB.Process.Signal(syscall.SIGTERM)
	l.stop(t, syscall.SIGTERM)
	for deadline := time.Now().Add(30 * time.Second); syscall.Kill(procB.Process.Pid, 0) == nil && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := exec.Command("git", "-C", l.bare, "fsck", "--strict").CombinedOutput(); err != nil {
		t.Errorf("git fsck: %v\n%s", err, out)
	}
	out, err := exec.Command(l.bin, "status", "--repo", l.bare).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "n1") || !strings.Contains(string(out), "n2") {
		t.Errorf("status --repo does not list both servers' nodes: %v\n%s\nlog b:\n%s", err, out, logB.String())
	}
}

// addSecondServer commits (not pushed) a second network, row2, served by a
// second server "b" at 10.98.0.1, and moves n2 to it.
func addSecondServer(t *testing.T, l *gitopsLab) {
	t.Helper()
	l.commit(t, "second server", func(w string) {
		f, _ := os.OpenFile(filepath.Join(w, "cluster.hcl"), os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString(`
server "b" {
  address  = "10.98.0.1"
  networks = [network.row2]
}

network "row2" {
  subnet  = "10.98.0.0/24"
  gateway = "10.98.0.1"
}
`)
		f.Close()
		editFile(t, filepath.Join(w, "nodes.hcl"), `ip       = "10.99.0.12"`, "ip       = \"10.98.0.12\"\n  network  = network.row2")
	})
}

// checkBothRecordEveryCommit pushes five commits while both servers write
// notes: every commit gets a record from each server (applied or
// superseded), none is lost.
func checkBothRecordEveryCommit(t *testing.T, l *gitopsLab) {
	var commits []string
	for i := range 5 {
		c := l.commit(t, "motd", func(w string) {
			p := filepath.Join(w, "overlays", "generic", "etc", "motd.tmpl")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, append(data, []byte(strings.Repeat("x", i+1)+"\n")...), 0o644)
		})
		l.push(t, true, "main")
		commits = append(commits, c)
		time.Sleep(300 * time.Millisecond)
	}
	last := commits[len(commits)-1]
	l.waitFor(t, 60*time.Second, "both servers' apply records on the last commit", func() bool {
		out, _ := exec.Command("git", "-C", l.bare, "notes", "--ref=gitboot", "show", last).CombinedOutput()
		return strings.Contains(string(out), "apply server=head") && strings.Contains(string(out), "apply server=b")
	})
	// No record lost: each commit has a record from each server (applied
	// or superseded).
	for _, c := range commits {
		out, _ := exec.Command("git", "-C", l.bare, "notes", "--ref=gitboot", "show", c).CombinedOutput()
		if !strings.Contains(string(out), "server=head") || !strings.Contains(string(out), "server=b") {
			t.Errorf("commit %s lacks a server's record:\n%s", c[:12], out)
		}
	}
}
