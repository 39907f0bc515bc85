package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/netnstest"
	"github.com/gitboot/gitboot/rollout"
)

// adminURL is the server's HTTP port as its own host reaches it: POST
// /rollout, like POST /apply, is taken from loopback only.
// adminURL is serve's admin listener (--listen-admin's default) inside
// the server's namespace: the operator routes are there, not on 9873.
const adminURL = "http://127.0.0.1:9875"

// TestQEMURollout: two BIOS nodes whose BMCs are OpenIPMI ipmi_sim
// instances (power on starts the node's QEMU VM, power off stops it) are
// powered on and boot through gitboot serve. A commit changes their
// kernel_args: the plan says both need a reboot, and `gitboot rollout
// --batch 1` power cycles them one at a time; each comes back with the new
// argument on its /proc/cmdline (printed on its console by the image's
// init) and at RUNTIME_OVERLAY on the new commit, and the commit's notes
// record the rollout. Then n1's BMC password in the credentials file is
// wrong: the next rollout halts at n1 with a report naming it, and n2 is
// left alone. Last, a commit turns rollout { auto = true } on: the server
// rolls it out by itself, and n2, powered off, stays off.
func TestQEMURollout(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireCommands(t, "qemu-system-x86_64", "git", "curl", "cpio", "gzip", "ipmi_sim", "ipmitool")
	if !haveFile("/usr/lib/ipxe/qemu/pxe-virtio.rom", "/usr/share/qemu/pxe-virtio.rom", "/usr/lib/ipxe/qemu/efi-virtio.rom") {
		skipOrFail(t, "QEMU's iPXE ROM is missing: install ipxe-qemu")
	}
	kernel := testKernel(t)
	repo := labRepo(t)
	editRepoFile(t, repo, "cluster.hcl", `kernel_args      = ["console=ttyS0", "quiet"]`, `kernel_args      = ["console=ttyS0", "quiet", "e2e.stay"]`)
	editRepoFile(t, repo, "nodes.hcl", `tags     = { slot = "1" }`, "tags     = { slot = \"1\" }\n  bmc {\n    driver      = \"ipmi\"\n    address     = \"10.99.0.201\"\n    credentials = \"bmc-n1\"\n  }")
	editRepoFile(t, repo, "nodes.hcl", `tags     = { slot = "2" }`, "tags     = { slot = \"2\" }\n  bmc {\n    driver      = \"ipmi\"\n    address     = \"10.99.0.202\"\n    credentials = \"bmc-n2\"\n  }")
	git(t, repo, "commit", "-q", "-am", "rollout test: BMCs, nodes stay up")

	creds := filepath.Join(t.TempDir(), "bmc.hcl")
	writeCredentials(t, creds, map[string]string{"n1": simBMCPassword, "n2": simBMCPassword})
	// No watch, no poll: a commit is applied when the test asks (POST
	// /reconcile), so the plan can be looked at first.
	l, image := startRolloutLab(t, kernel, repo, "--bmc-credentials", creds, "--watch=false", "--poll", "0")
	bmcs := []*simBMC{
		startSimBMC(t, l, "n1", n1MAC, "10.99.0.201", 9101),
		startSimBMC(t, l, "n2", n2MAC, "10.99.0.202", 9102),
	}
	for _, b := range bmcs {
		if out := b.ipmitool(t, l, "power", "status"); !strings.Contains(out, "off") {
			t.Fatalf("%s's BMC before power on: %s", b.node, out)
		}
		b.ipmitool(t, l, "power", "on")
	}
	for _, b := range bmcs {
		b.waitConsoleCount(t, l, bootMarker, 1, 4*time.Minute)
		l.waitStage(t, b.node, git(t, repo, "rev-parse", "HEAD"), time.Minute)
	}

	b := rolloutInBatches(t, l, repo, image, bmcs)
	rolloutHalts(t, l, repo, creds, bmcs, b)
	rolloutAuto(t, l, repo, creds, bmcs)
}

// editRepoFile replaces the first old in repo's file by new; the file must
// hold old.
func editRepoFile(t *testing.T, repo, file, old, new string) {
	t.Helper()
	p := filepath.Join(repo, file)
	data, err := os.ReadFile(p)
	if err != nil || !strings.Contains(string(data), old) {
		t.Fatalf("%s has no %q (%v)", file, old, err)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rolloutInBatches commits B (new kernel arguments): the plan against the
// server says both nodes need a reboot, and `gitboot rollout --batch 1`
// power cycles them one at a time (checkRolledOut). It returns B.
func rolloutInBatches(t *testing.T, l *qemuLab, repo, image string, bmcs []*simBMC) string {
	// B: new kernel arguments. The plan against the server says both
	// nodes need a reboot.
	editRepoFile(t, repo, "cluster.hcl", `"quiet", "e2e.stay"]`, `"quiet", "e2e.stay", "e2e.rollout=B"]`)
	git(t, repo, "commit", "-q", "-am", "kernel_args: e2e.rollout=B")
	b := git(t, repo, "rev-parse", "HEAD")
	plan := l.gitboot(t, 0, "plan", "--repo", repo, "--server", adminURL, "--json", "--var", "image_source="+image, "--image-root", filepath.Dir(image))
	var pj struct {
		NeedsReboot []string `json:"needs_reboot"`
	}
	// The output holds stderr too (a note about unchecked BMC credentials).
	if err := json.Unmarshal([]byte(plan[max(strings.Index(plan, "{\n"), 0):]), &pj); err != nil || strings.Join(pj.NeedsReboot, ",") != "n1,n2" {
		t.Fatalf("plan of B: needs_reboot %v (%v), want n1,n2\n%s", pj.NeedsReboot, err, plan)
	}
	l.reconcile(t, b)
	dry := l.gitboot(t, 0, "rollout", "--server", adminURL, "--batch", "1", "--dry-run")
	if !strings.Contains(dry, "batch 1: n1") || !strings.Contains(dry, "batch 2: n2") {
		t.Fatalf("rollout --dry-run:\n%s", dry)
	}
	before := map[string]int{}
	for _, bm := range bmcs {
		before[bm.node] = bm.qemuPID()
	}
	start := time.Now()
	out := l.gitboot(t, 0, "rollout", "--server", adminURL, "--batch", "1", "--timeout", "4m", "--json")
	t.Logf("rollout of B took %s", time.Since(start).Round(time.Second))
	var p rollout.Progress
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("rollout --json: %v\n%s", err, out)
	}
	if p.State != rollout.StateCompleted || p.Done != 2 || len(p.Batches) != 2 {
		t.Fatalf("rollout of B: %s (%s), %d done, %d batches\n%s%s", p.State, p.Reason, p.Done, len(p.Batches), out, l.report())
	}
	// One at a time: n2's power cycle came after n1 was back.
	b1, b2 := p.Batches[0], p.Batches[1]
	if b1.Nodes[0] != "n1" || b2.Nodes[0] != "n2" || !b2.Cycled.After(b1.Ended) {
		t.Fatalf("batches not one after the other: %+v", p.Batches)
	}
	t.Logf("rollout overhead: batch 1 ended -> batch 2 power cycle sent: %s (power status read: %s); boots: n1 %s, n2 %s",
		b2.Cycled.Sub(b1.Ended).Round(time.Millisecond), b2.Cycled.Sub(b2.Started).Round(time.Millisecond),
		b1.Ended.Sub(b1.Cycled).Round(time.Second), b2.Ended.Sub(b2.Cycled).Round(time.Second))
	checkRolledOut(t, l, bmcs, p, b, before)
	return b
}

// checkRolledOut: after the rollout p of commit b, each node came back
// power cycled (its QEMU pid differs from before) with B's argument on its
// /proc/cmdline and at RUNTIME_OVERLAY on b; b's notes and the status page
// record the completed rollout, and another rollout finds nothing to do.
func checkRolledOut(t *testing.T, l *qemuLab, bmcs []*simBMC, p rollout.Progress, b string, before map[string]int) {
	for _, bm := range bmcs {
		bm.waitConsoleCount(t, l, bootMarker, 2, time.Minute)
		con := bm.console()
		last := con[strings.LastIndex(con, "GITBOOT-E2E-CMDLINE"):]
		if line, _, _ := strings.Cut(last, "\n"); !strings.Contains(line, "e2e.rollout=B") {
			t.Errorf("%s after the rollout: /proc/cmdline %q lacks e2e.rollout=B", bm.node, line)
		}
		if pid := bm.qemuPID(); pid == before[bm.node] || pid == 0 {
			t.Errorf("%s: QEMU pid %d before, %d after: not power cycled", bm.node, before[bm.node], pid)
		}
		n := l.nodeStatus(t, bm.node)
		if n.Stage != status.StageRuntimeOverlay || n.Booted != b {
			t.Errorf("%s after the rollout: stage %s booted %s, want RUNTIME_OVERLAY on %s", bm.node, n.Stage, n.Booted, b)
		}
		for _, np := range p.Nodes {
			if np.Name == bm.node {
				// How long after the boot services saw the stage the rollout
				// counted the node done: its waiting granularity.
				t.Logf("%s: RUNTIME_OVERLAY seen %s after its power cycle, counted done %s later",
					bm.node, n.Boot.At[len(n.Boot.At)-1].Sub(np.Cycled).Round(time.Millisecond), np.Done.Sub(n.Boot.At[len(n.Boot.At)-1]).Round(time.Millisecond))
			}
		}
	}
	noteText := l.notes(t, b)
	for _, want := range []string{"event=started", "event=node name=n1 result=done", "event=node name=n2 result=done", "event=result result=completed"} {
		if !strings.Contains(noteText, want) {
			t.Errorf("the notes of B lack %q:\n%s", want, noteText)
		}
	}
	// The status page shows the rollout.
	if page, err := l.srv.Output(context.Background(), "curl", "-sf", adminURL+"/"); err != nil ||
		!strings.Contains(string(page), `id="rollout"`) || !strings.Contains(string(page), "done: n1, n2") || !strings.Contains(string(page), "completed") {
		t.Errorf("the status page does not show the completed rollout (%v):\n%s", err, grepLines(string(page), "rollout"))
	}
	if again := l.gitboot(t, 0, "rollout", "--server", adminURL); !strings.Contains(again, "No node needs a reboot") {
		t.Errorf("a second rollout of B:\n%s", again)
	}
}

// rolloutHalts commits C (new kernel arguments again) with n1's BMC
// password wrong in creds: the rollout halts at n1 with a report naming
// it, and never touches n2, still on b.
func rolloutHalts(t *testing.T, l *qemuLab, repo, creds string, bmcs []*simBMC, b string) {
	// C: new kernel arguments again, but n1's BMC password is wrong: the
	// rollout halts at n1 and never touches n2.
	writeCredentials(t, creds, map[string]string{"n1": "wrong-password", "n2": simBMCPassword})
	editRepoFile(t, repo, "cluster.hcl", `"e2e.rollout=B"]`, `"e2e.rollout=C"]`)
	git(t, repo, "commit", "-q", "-am", "kernel_args: e2e.rollout=C")
	c := git(t, repo, "rev-parse", "HEAD")
	l.reconcile(t, c)
	n2Before, n2PID := l.nodeStatus(t, "n2"), bmcs[1].qemuPID()
	report := l.gitboot(t, 1, "rollout", "--server", adminURL, "--batch", "1", "--timeout", "2m")
	t.Logf("rollout of C with a wrong password for n1:\n%s", report)
	for _, want := range []string{"halted", "batch 1 of 2: 1 node(s) failed, 0 allowed", "NODE", "LAST STAGE", "LAST SEEN", "n1", "failed", "RUNTIME_OVERLAY", "Not rebooted (left alone): n2"} {
		if !strings.Contains(report, want) {
			t.Errorf("the halted rollout's report lacks %q", want)
		}
	}
	if n2 := l.nodeStatus(t, "n2"); n2.Boot.Start() != n2Before.Boot.Start() || n2.Booted != b || bmcs[1].qemuPID() != n2PID {
		t.Errorf("n2 was touched: boot started %s (before %s), booted %s, QEMU pid %d (before %d)",
			n2.Boot.Start(), n2Before.Boot.Start(), n2.Booted, bmcs[1].qemuPID(), n2PID)
	}
	if noteText := l.notes(t, c); !strings.Contains(noteText, "event=node name=n1 result=failed") || !strings.Contains(noteText, "result=halted") {
		t.Errorf("the notes of C lack the halted rollout:\n%s", noteText)
	}
}

// rolloutAuto commits D, which turns rollout { auto = true } on and changes
// the kernel arguments again, with n1's password right and n2 powered
// off: the server rolls D out by itself, reboots n1 and leaves n2 off.
func rolloutAuto(t *testing.T, l *qemuLab, repo, creds string, bmcs []*simBMC) {
	// D turns rollout { auto = true } on and changes the kernel arguments
	// again, with n1's password right and n2 powered off: the server rolls
	// D out by itself, reboots n1 and leaves n2 off.
	writeCredentials(t, creds, map[string]string{"n1": simBMCPassword, "n2": simBMCPassword})
	bmcs[1].ipmitool(t, l, "power", "off")
	for start := time.Now(); bmcs[1].qemuPID() != 0; time.Sleep(200 * time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("n2's VM still runs 30 s after power off")
		}
	}
	editRepoFile(t, repo, "cluster.hcl", `address  = "10.99.0.1"`, "address  = \"10.99.0.1\"\n  rollout {\n    auto  = true\n    batch = \"100%\"\n  }")
	editRepoFile(t, repo, "cluster.hcl", `"e2e.rollout=C"]`, `"e2e.rollout=D"]`)
	git(t, repo, "commit", "-q", "-am", "rollout { auto = true }; kernel_args: e2e.rollout=D")
	d := git(t, repo, "rev-parse", "HEAD")
	l.reconcile(t, d)
	var auto rollout.Progress
	for start := time.Now(); auto.Commit != d || !auto.Finished(); time.Sleep(500 * time.Millisecond) {
		if time.Since(start) > 4*time.Minute {
			t.Fatalf("no finished automatic rollout of D within 4 min: %+v%s", auto, l.report())
		}
		out, _ := l.srv.Output(context.Background(), "curl", "-sf", adminURL+"/rollout")
		auto = rollout.Progress{}
		json.Unmarshal(out, &auto)
	}
	states := map[string]string{}
	for _, n := range auto.Nodes {
		states[n.Name] = n.State
	}
	if auto.State != rollout.StateCompleted || states["n1"] != rollout.NodeDone || states["n2"] != rollout.NodeSkipped || len(auto.Batches) != 1 {
		t.Fatalf("automatic rollout of D: %s (%s), nodes %v, %d batch(es)%s", auto.State, auto.Reason, states, len(auto.Batches), l.report())
	}
	bmcs[0].waitConsoleCount(t, l, "e2e.rollout=D", 1, time.Minute)
	if out := bmcs[1].ipmitool(t, l, "power", "status"); !strings.Contains(out, "off") || bmcs[1].qemuPID() != 0 {
		t.Errorf("n2 was powered on by the rollout: %s", out)
	}
	if noteText := l.notes(t, d); !strings.Contains(noteText, "event=node name=n2 result=skipped") {
		t.Errorf("the notes of D lack n2 skipped:\n%s", noteText)
	}
}

// startRolloutLab is startQEMULabRepo with more `gitboot serve` flags; it
// also returns the image's path.
func startRolloutLab(t *testing.T, kernel, repo string, flags ...string) (*qemuLab, string) {
	t.Helper()
	l := &qemuLab{bin: gitbootBinary(t), repo: repo, dir: t.TempDir()}
	image := bootableImage(t, kernel)
	l.lan = netnstest.New(t, "gblan")
	l.br = l.lan.Bridge(t)
	l.srv = netnstest.New(t, "gbsrv")
	netnstest.Attach(t, l.lan, l.br, l.srv, serverIP+"/24")
	args := append([]string{"serve", "--repo", repo, "--state", filepath.Join(l.dir, "state"), "--var", "image_source=" + image,
		"--image-root", filepath.Dir(image)}, flags...)
	proc, log := l.srv.Start(t, l.bin, args...)
	l.log = log
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, err := l.srv.Output(context.Background(), "curl", "-sf", adminURL+"/healthz")
		if err == nil {
			return l, image
		}
		if time.Now().After(deadline) || syscall.Kill(proc.Process.Pid, 0) != nil {
			t.Fatalf("gitboot serve did not become ready: %v %s%s", err, out, l.report())
		}
	}
}

// gitboot runs the CLI in the server's namespace and checks its exit
// status.
func (l *qemuLab) gitboot(t *testing.T, wantCode int, args ...string) string {
	t.Helper()
	out, err := l.srv.Output(context.Background(), l.bin, args...)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("gitboot %v: %v", args, err)
	}
	if code != wantCode {
		t.Fatalf("gitboot %v: exit %d, want %d\n%s%s", args, code, wantCode, out, l.report())
	}
	return string(out)
}

// reconcile asks the server to evaluate the branch (POST /reconcile) and
// waits until commit is applied.
func (l *qemuLab) reconcile(t *testing.T, commit string) {
	t.Helper()
	if out, err := l.srv.Output(context.Background(), "curl", "-sf", "-X", "POST", adminURL+"/reconcile"); err != nil {
		t.Fatalf("POST /reconcile: %v %s", err, out)
	}
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var rep status.Report
		out, _ := l.srv.Output(context.Background(), "curl", "-sf", adminURL+"/status")
		if json.Unmarshal(out, &rep) == nil && rep.Commit == commit {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("commit %s not applied within 90 s%s", commit[:7], l.report())
		}
	}
}

// waitStage waits until node is at RUNTIME_OVERLAY having booted commit.
func (l *qemuLab) waitStage(t *testing.T, node, commit string, limit time.Duration) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(500 * time.Millisecond) {
		n := l.nodeStatus(t, node)
		if n.Stage == status.StageRuntimeOverlay && n.Booted == commit {
			return
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: stage %s booted %s; want RUNTIME_OVERLAY on %s%s", node, n.Stage, n.Booted, commit, l.report())
		}
	}
}

// notes is the gitboot note of commit in the lab's repository, waiting a
// little for the server's notes writer.
func (l *qemuLab) notes(t *testing.T, commit string) string {
	t.Helper()
	var out []byte
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		out, _ = exec.Command("git", "-C", l.repo, "notes", "--ref", "gitboot", "show", commit).Output()
		if strings.Contains(string(out), "event=result") {
			break
		}
	}
	return string(out)
}
