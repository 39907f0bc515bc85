package e2e

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
)

// n1IP is node n1's address in examples/lab (n2IP: qemu_uefi_test.go).
const n1IP = "10.99.0.11"

// runAgent runs the real gitboot-agent once inside the lab's namespace,
// installing n1's runtime overlay under root, and returns its log. It
// talks HTTPS to the server's address (agentTrust), trusting what n1's
// system overlay carries, from n1's own address (asN1), as only a node's
// own requests count toward its status.
func (l *gitopsLab) runAgent(t *testing.T, root string) string {
	t.Helper()
	trust := l.agentTrust(t)
	args := append([]string{"--root", root, "--server", l.asN1(t), "--mac", n1MAC, "--once", "--debug"}, trust...)
	out, err := l.ns.Output(context.Background(), agentBinary(t), args...)
	if err != nil {
		t.Fatalf("gitboot-agent --once: %v\n%s\nserver log:\n%s", err, out, l.log.String())
	}
	return string(out)
}

// asN1 gives the lab's namespace n1's address (on its loopback) and
// returns the boot port's URL at that address: a request to it comes
// from n1's own address, the only one that counts toward n1's status.
func (l *gitopsLab) asN1(t *testing.T) string {
	t.Helper()
	if out, err := l.ns.Output(context.Background(), "ip", "addr", "replace", n1IP+"/32", "dev", "lo"); err != nil {
		t.Fatalf("adding n1's address: %v %s", err, out)
	}
	// Connections to the server's address (agentTrust puts it on lo too)
	// leave from n1's address, as they would from n1.
	if out, err := l.ns.Output(context.Background(), "ip", "route", "replace", "local", "10.99.0.1", "dev", "lo",
		"table", "local", "proto", "kernel", "scope", "host", "src", n1IP); err != nil {
		t.Fatalf("routing the server's address from n1's: %v %s", err, out)
	}
	return "http://" + n1IP + ":9873"
}

// n1Status returns n1's record from gitboot status --json.
func (l *gitopsLab) n1Status(t *testing.T) status.NodeRecord {
	t.Helper()
	out, err := l.ns.Output(context.Background(), l.bin, "status", "--server", adminURL, "--json")
	if err != nil {
		t.Fatalf("gitboot status --json: %v\n%s", err, out)
	}
	return findNode(t, out, "n1")
}

// mtimes records every path under root with its mtime and inode.
func mtimes(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err == nil {
			out[p] = fi.ModTime().String() + " " + fi.Mode().String()
		}
		return nil
	})
	return out
}

// TestAgent runs the real gitboot-agent against gitboot serve on
// examples/lab: the first --once installs n1's runtime overlay; a pushed
// commit that changes the motd and deletes /etc/hosts is applied by the
// next --once (updated, deleted); an unchanged overlay gets a 304 and
// touches no file; gitboot status shows n1 at RUNTIME_OVERLAY with LASTSEEN
// refreshed by each fetch. The system overlay the server built carries the
// same agent binary at /usr/lib/gitboot/gitboot-agent, mode 0755.
func TestAgent(t *testing.T) {
	l := startGitOpsLab(t)
	l.serve(t)
	root := t.TempDir()

	// First fetch: installs.
	log := l.runAgent(t, root)
	if !strings.Contains(log, "runtime overlay applied") {
		t.Errorf("first --once did not apply:\n%s", log)
	}
	motd, err := os.ReadFile(filepath.Join(root, "etc/motd"))
	if err != nil || !strings.Contains(string(motd), "Welcome to n1 (10.99.0.11)") {
		t.Fatalf("etc/motd after the first fetch: %v %q\n%s", err, motd, log)
	}
	if got := l.runtimeFile(t, "etc/motd"); got != string(motd) {
		t.Errorf("installed motd differs from the served one:\n%s\nwant\n%s", motd, got)
	}
	for _, f := range []string{"etc/hosts", "etc/hostname"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("%s not installed: %v", f, err)
		}
	}
	st := l.n1Status(t)
	if st.Stage != status.StageRuntimeOverlay || st.Sent != "runtime.img.gz" {
		t.Errorf("status after the agent's fetch: stage %s sent %q", st.Stage, st.Sent)
	}

	// A pushed change: the motd changes, etc/hosts goes.
	l.commit(t, "motd changes, hosts goes", func(w string) {
		p := filepath.Join(w, "overlays", "generic", "etc", "motd.tmpl")
		data, _ := os.ReadFile(p)
		os.WriteFile(p, append(data, []byte("pushed by the agent test\n")...), 0o644)
		os.Remove(filepath.Join(w, "overlays", "generic", "etc", "hosts.tmpl"))
	})
	l.push(t, true, "main")
	l.waitFor(t, 30*time.Second, "the pushed motd served", func() bool {
		return strings.Contains(l.runtimeFile(t, "etc/motd"), "pushed by the agent test")
	})
	log = l.runAgent(t, root)
	if motd, _ := os.ReadFile(filepath.Join(root, "etc/motd")); !strings.Contains(string(motd), "pushed by the agent test") {
		t.Errorf("etc/motd not updated: %q\n%s", motd, log)
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/hosts")); err == nil {
		t.Errorf("etc/hosts, gone from the overlay, was not removed\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/hostname")); err != nil {
		t.Errorf("etc/hostname (still in the overlay) is gone: %v", err)
	}

	checkAgentUnchanged(t, l, root)

	checkSystemOverlayAgent(t, l)
}

// checkAgentUnchanged: the agent's fetch of an unchanged overlay (into
// root) is a 304 that touches no file and refreshes n1's LASTSEEN.
func checkAgentUnchanged(t *testing.T, l *gitopsLab, root string) {
	// Unchanged: 304, no file touched, LASTSEEN refreshed.
	before := mtimes(t, root)
	seen := l.n1Status(t).LastSeen
	time.Sleep(1100 * time.Millisecond)
	log := l.runAgent(t, root)
	if !strings.Contains(log, "runtime overlay unchanged") || strings.Contains(log, "runtime overlay applied") {
		t.Errorf("an unchanged overlay was not a 304:\n%s", log)
	}
	after := mtimes(t, root)
	for p, m := range before {
		if after[p] != m {
			t.Errorf("%s changed on a 304: %s -> %s", p, m, after[p])
		}
	}
	if len(after) != len(before) {
		t.Errorf("a 304 changed the file set: %d -> %d entries", len(before), len(after))
	}
	st := l.n1Status(t)
	if st.Stage != status.StageRuntimeOverlay || !st.LastSeen.After(seen) {
		t.Errorf("after a 304: stage %s last seen %v (before %v): want RUNTIME_OVERLAY, refreshed", st.Stage, st.LastSeen, seen)
	}
	out, err := l.ns.Output(context.Background(), l.bin, "status", "--server", adminURL, "n1")
	if err != nil || !strings.Contains(string(out), "RUNTIME_OVERLAY") {
		t.Errorf("gitboot status n1: %v\n%s", err, out)
	}
	t.Logf("gitboot status:\n%s", out)
}

// checkSystemOverlayAgent: n1's system overlay carries /init and the
// agent binary at /usr/lib/gitboot/gitboot-agent, mode 0755.
func checkSystemOverlayAgent(t *testing.T, l *gitopsLab) {
	// The system overlay carries the agent.
	dir := t.TempDir()
	if out, err := l.ns.Output(context.Background(), "curl", "-sf", "-o", filepath.Join(dir, "sys.img.gz"), "http://127.0.0.1:9873/system/"+n1MAC); err != nil {
		t.Fatalf("fetching the system overlay: %v %s", err, out)
	}
	unpacked := t.TempDir()
	cpioEach(t, filepath.Join(dir, "sys.img.gz"), unpacked, "-idmu", "--quiet", "--no-absolute-filenames")
	dir = unpacked
	got, err := os.ReadFile(filepath.Join(dir, "usr", "lib", "gitboot", "gitboot-agent"))
	if err != nil {
		t.Fatalf("the system overlay has no /usr/lib/gitboot/gitboot-agent: %v", err)
	}
	want, _ := os.ReadFile(agentBinary(t))
	if !bytes.Equal(got, want) {
		t.Errorf("/usr/lib/gitboot/gitboot-agent in the system overlay differs from the agent binary (%d vs %d bytes)", len(got), len(want))
	}
	if fi, _ := os.Lstat(filepath.Join(dir, "usr", "lib", "gitboot", "gitboot-agent")); fi.Mode() != 0o755 {
		t.Errorf("/usr/lib/gitboot/gitboot-agent mode %v, want 0755", fi.Mode())
	}
	if _, err := os.Stat(filepath.Join(dir, "init")); err != nil {
		t.Errorf("the system overlay has no /init: %v", err)
	}
}

// TestAgentMissing: gitboot serve --agent naming a missing file never
// serves nodes without an agent: the first build fails (fatal at first
// start) with an error naming the path and --agent.
func TestAgentMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-agent")
	l := startGitOpsLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := l.ns.Output(ctx, l.bin, "serve", "--repo", l.bare, "--state", l.state, "--var", "image_source="+l.image,
		"--image-root", filepath.Dir(l.image), "--poll", "0", "--agent", missing)
	if err == nil || !strings.Contains(string(out), missing) || !strings.Contains(string(out), "--agent") {
		t.Errorf("serve with a missing agent: err = %v, want an exit naming %s and --agent:\n%s", err, missing, out)
	}
}
