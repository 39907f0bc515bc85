package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
)

// bootN1 does what iPXE does for n1, from n1's address: fetch its
// script, then the kernel, image and system overlay by the digest URLs
// the script names.
func (l *gitopsLab) bootN1(t *testing.T) string {
	t.Helper()
	base := l.asN1(t)
	out, err := l.ns.Output(context.Background(), "curl", "-sf", base+"/ipxe/"+n1MAC)
	if err != nil {
		t.Fatalf("fetching n1's script: %v %s", err, out)
	}
	script := string(out)
	seen := map[string]bool{}
	for _, m := range digestURL.FindAllStringSubmatch(script, -1) {
		if strings.HasPrefix(m[1], "runtime") {
			continue
		}
		if out, err := l.ns.Output(context.Background(), "curl", "-sf", "-o", "/dev/null", base+m[0]); err != nil {
			t.Fatalf("fetching %s: %v %s\nlog:\n%s", m[0], err, out, l.log.String())
		}
		seen[m[1]] = true
	}
	if !seen["kernel"] || !seen["image"] || !seen["system"] {
		t.Fatalf("the script does not name the kernel, image and system overlay by digest:\n%s", script)
	}
	return script
}

// status runs `gitboot status --server` in the namespace with args.
func (l *gitopsLab) status(t *testing.T, args ...string) string {
	t.Helper()
	out, err := l.ns.Output(context.Background(), l.bin, append([]string{"status", "--server", adminURL}, args...)...)
	if err != nil {
		t.Fatalf("gitboot status %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// statusJSON is `gitboot status --json` decoded.
func (l *gitopsLab) statusJSON(t *testing.T) *status.Report {
	t.Helper()
	var rep status.Report
	out := l.status(t, "--json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("gitboot status --json: %v\n%s", err, out)
	}
	return &rep
}

func nodeIn(t *testing.T, rep *status.Report, name string) status.NodeRecord {
	t.Helper()
	for _, n := range rep.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("%s not in the status report: %+v", name, rep.Nodes)
	return status.NodeRecord{}
}

// waitApplied waits until GET /status names commit as the applied one.
func (l *gitopsLab) waitApplied(t *testing.T, commit string) {
	t.Helper()
	l.waitFor(t, 60*time.Second, "commit "+commit[:7]+" applied", func() bool {
		var rep status.Report
		return json.Unmarshal([]byte(l.get("/status")), &rep) == nil && rep.Commit == commit
	})
}

// TestRebootNeeded: n1 boots commit A; B changes its system overlay, so
// every status view says n1 needs a reboot (n2, never booted, does not);
// n1 reboots and runs B; C changes only a runtime overlay: no reboot.
func TestRebootNeeded(t *testing.T) {
	l := startGitOpsLab(t)
	l.serve(t)
	a := git(t, l.work, "rev-parse", "HEAD")
	l.waitApplied(t, a)

	l.bootN1(t)
	rep := l.statusJSON(t)
	if n1 := nodeIn(t, rep, "n1"); n1.Booted != a || n1.NeedsReboot || n1.BootedDigests.Kernel == "" || n1.BootedDigests.Image == "" || n1.BootedDigests.System == "" {
		t.Fatalf("n1 after booting A (%s): %+v", a, n1)
	}
	if n2 := nodeIn(t, rep, "n2"); n2.NeedsReboot || n2.Booted != "" {
		t.Fatalf("n2, never booted: %+v", n2)
	}
	if table := l.status(t); strings.Contains(table, "*") || strings.Contains(table, "reboot") {
		t.Fatalf("a reboot shown right after the boot:\n%s", table)
	}

	// B: a new file in n1's system overlay.
	b := l.commit(t, "system overlay file", func(w string) {
		os.WriteFile(filepath.Join(w, "overlays", "init", "etc", "gitboot-reboot-test"), []byte("B\n"), 0o644)
	})
	l.push(t, true, "main")
	l.waitApplied(t, b)
	checkRebootShown(t, l, a, b)

	// n1 reboots: B's script and artifacts.
	l.bootN1(t)
	rep = l.statusJSON(t)
	if n1 := nodeIn(t, rep, "n1"); n1.NeedsReboot || n1.Booted != b {
		t.Fatalf("n1 after rebooting into B (%s): %+v", b, n1)
	}
	if table := l.status(t); strings.Contains(table, "*") || strings.Contains(table, "reboot") {
		t.Fatalf("a reboot shown after the reboot:\n%s", table)
	}

	// C: only the runtime overlay (motd) changes; the agent's pull of it
	// changes nothing booted.
	motd := filepath.Join(l.work, "overlays", "generic", "etc", "motd.tmpl")
	c := l.commit(t, "motd", func(w string) {
		data, _ := os.ReadFile(motd)
		os.WriteFile(motd, append(data, []byte("runtime-only change\n")...), 0o644)
	})
	l.push(t, true, "main")
	l.waitApplied(t, c)
	if !strings.Contains(l.runtimeFile(t, "etc/motd"), "runtime-only change") {
		t.Fatal("C's motd not served")
	}
	rep = l.statusJSON(t)
	if n1 := nodeIn(t, rep, "n1"); n1.NeedsReboot || n1.Booted != b || n1.Stage != status.StageRuntimeOverlay {
		t.Fatalf("n1 after a runtime-only commit: %+v", n1)
	}
	if table := l.status(t); strings.Contains(table, "reboot") {
		t.Fatalf("a reboot shown after a runtime-only commit:\n%s", table)
	}
}

// checkRebootShown: after commit b changed n1's system overlay, n1 (still
// on commit a) needs a reboot in gitboot status (its row's mark and the
// footer) and in its JSON; n2, never booted, does not.
func checkRebootShown(t *testing.T, l *gitopsLab, a, b string) {
	table := l.status(t)
	t.Logf("gitboot status after B:\n%s", table)
	lines := strings.Split(strings.TrimRight(table, "\n"), "\n")
	var n1Row string
	for _, line := range lines {
		if strings.HasPrefix(line, "n1 ") {
			n1Row = line
		}
	}
	if f := strings.Fields(n1Row); len(f) < 2 || !strings.HasSuffix(f[1], status.RebootMark) {
		t.Fatalf("n1's row has no reboot mark:\n%s", table)
	}
	want := "* 1 node runs an older commit's boot artifacts: reboot it to pick up " + b[:7]
	if lines[len(lines)-1] != want {
		t.Fatalf("footer: want %q\n%s", want, table)
	}
	rep := l.statusJSON(t)
	if n1 := nodeIn(t, rep, "n1"); !n1.NeedsReboot || n1.Booted != a {
		t.Fatalf("n1 after B: %+v", n1)
	}
	if n2 := nodeIn(t, rep, "n2"); n2.NeedsReboot {
		t.Fatalf("n2 after B: %+v", n2)
	}
	if out := l.status(t, "--json", "n1"); !strings.Contains(out, `"needs_reboot": true`) {
		t.Fatalf("--json n1 lacks needs_reboot true:\n%s", out)
	}
}
