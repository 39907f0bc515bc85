package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// agentInterval is the lab's runtime_interval in TestQEMUAgent.
const agentInterval = 5 * time.Second

// TestQEMUAgent boots both lab nodes at once, n1 by BIOS and n2 by UEFI,
// with runtime_interval = "5s" and the image's init staying up (e2e.stay on
// the kernel command line): gitboot's /init must start gitboot-agent before
// the image's init; the image's own DHCP client (udhcpc) must not throw the
// nodes back to stage DHCP; the agents' fetches keep them at
// RUNTIME_OVERLAY with LASTSEEN refreshed; and a commit changing the motd
// template reaches both nodes' /etc/motd (printed on their consoles by the
// image's init) within about one interval of gitboot applying it.
//
// The image has its own /etc/motd, which the runtime overlay shadows: the
// overlay reaches the nodes wrapped (/runtime-initrd/), /init has the agent
// lay it over the image (one "runtime overlay applied from the initrd"
// line) so the agent keeps the image's copy, and a commit that drops
// motd.tmpl from the overlay gives both nodes the image's /etc/motd back.
//
// It needs /usr/lib/gitboot/gitboot-agent in the system overlay gitboot builds, and
// is skipped until it is there.
func TestQEMUAgent(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireCommands(t, "qemu-system-x86_64", "git", "curl", "cpio", "gzip")
	if !haveFile("/usr/lib/ipxe/qemu/efi-virtio.rom", "/usr/share/qemu/efi-virtio.rom") {
		skipOrFail(t, "QEMU's iPXE ROM efi-virtio.rom is missing: install ipxe-qemu")
	}
	for _, f := range []string{ovmfCode, ovmfVars, "/usr/lib/ipxe/snponly.efi"} {
		if !haveFile(f) {
			skipOrFail(t, "%s is missing: install ovmf and ipxe", f)
		}
	}
	kernel := testKernel(t)

	repo := labRepo(t)
	edit := func(file, old, new string) {
		t.Helper()
		p := filepath.Join(repo, file)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), old) {
			t.Fatalf("%s has no %q", file, old)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit("cluster.hcl", `address  = "10.99.0.1"`, "address  = \"10.99.0.1\"\n  runtime_interval = \""+agentInterval.String()+"\"")
	edit("cluster.hcl", `kernel_args      = ["console=ttyS0", "quiet"]`, `kernel_args      = ["console=ttyS0", "quiet", "e2e.stay"]`)
	git(t, repo, "commit", "-q", "-am", "agent test: runtime_interval 5s, nodes stay up")

	const imageMotd = "The image's own motd, shadowed by the runtime overlay"
	l := startQEMULabImage(t, kernel, repo, func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "etc", "motd"), []byte(imageMotd+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	if !l.systemHasAgent(t) {
		t.Skip("the system overlay gitboot builds has no /usr/lib/gitboot/gitboot-agent yet (the layout change is not merged): nothing to test")
	}
	// The agent's interval comes from the kernel command line (the server's
	// runtime_interval as gitboot.interval=).
	script, err := l.srv.Output(context.Background(), "curl", "-sf", baseURL+"/ipxe/"+n1MAC)
	if err != nil {
		t.Fatalf("GET /ipxe/%s: %v\n%s", n1MAC, err, script)
	}
	if !strings.Contains(string(script), "gitboot.interval="+agentInterval.String()) {
		t.Skipf("the iPXE script passes no gitboot.interval=%s on the kernel command line yet (that server-side change is not merged):\n%s", agentInterval, script)
	}
	vms := []*qemuVM{l.start(t, "n1", biosArgs(n1MAC)...), l.start(t, "n2", uefiArgs(t, n2MAC)...)}
	checkBootedWithOverlay(t, l, vms, imageMotd)

	checkAgentKeepsNodesSeen(t, l, vms)

	checkPushedMotd(t, l, repo, vms)

	checkImageMotdBack(t, l, repo, vms, imageMotd)
}

// checkBootedWithOverlay: each VM boots to the image's init with the
// agent running; the runtime overlay came as one file the agent applied at
// init (BIOS and UEFI alike), and the image's init saw the overlay's motd,
// not the image's own (imageMotd).
func checkBootedWithOverlay(t *testing.T, l *qemuLab, vms []*qemuVM, imageMotd string) {
	for _, vm := range vms {
		took := l.waitBooted(t, vm) // also: "gitboot init: agent: started" before the image's init
		t.Logf("%s: power-on to the image's init with the agent running: %s", vm.node, took.Round(100*time.Millisecond))
		// The runtime overlay came as one file the agent applied at init
		// (BIOS and UEFI alike), and the image's init saw the overlay's
		// motd, not the image's.
		con := vm.console()
		if !regexp.MustCompile(`gitboot init: runtime overlay applied from the initrd \([1-9][0-9]* files\)`).MatchString(con) {
			t.Errorf("%s: no \"runtime overlay applied from the initrd (N files)\" line from gitboot's /init%s", vm.node, l.report())
		}
		if !strings.Contains(con, "GITBOOT-E2E-MOTD| Welcome to "+vm.node) {
			waitConsole(t, l, vm, regexp.MustCompile(`GITBOOT-E2E-MOTD\| Welcome to `+vm.node), 60*time.Second)
		}
		if strings.Contains(vm.console(), imageMotd) {
			t.Errorf("%s: the image's own motd showed while the runtime overlay shadows it%s", vm.node, l.report())
		}
	}
}

// checkAgentKeepsNodesSeen: once the image's udhcpc ran (a DISCOVER/REQUEST
// without PXEClient), every status poll for two intervals shows each node
// at RUNTIME_OVERLAY, and the agent's fetches move LASTSEEN on, from the
// node's own address.
func checkAgentKeepsNodesSeen(t *testing.T, l *qemuLab, vms []*qemuVM) {
	for _, vm := range vms {
		waitConsole(t, l, vm, regexp.MustCompile(`GITBOOT-E2E-DHCP done rc=\d+`), 60*time.Second)
	}
	first := map[string]time.Time{}
	for end := time.Now().Add(2 * agentInterval); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
		for _, vm := range vms {
			n := l.nodeStatus(t, vm.node)
			if n.Stage != status.StageRuntimeOverlay {
				t.Fatalf("%s: stage %s (sent %q) after its own DHCP and the agent's fetches; want %s%s", vm.node, n.Stage, n.Sent, status.StageRuntimeOverlay, l.report())
			}
			if _, ok := first[vm.node]; !ok {
				first[vm.node] = n.LastSeen
			}
		}
	}
	for _, vm := range vms {
		n := l.nodeStatus(t, vm.node)
		if !n.LastSeen.After(first[vm.node]) {
			t.Errorf("%s: LASTSEEN stayed at %s over %s with the agent fetching every %s", vm.node, n.LastSeen, 2*agentInterval, agentInterval)
		}
		if n.Addr.String() != vm.ip {
			t.Errorf("%s: last seen from %s, want %s", vm.node, n.Addr, vm.ip)
		}
	}
}

// checkPushedMotd: a committed change of a runtime overlay file in repo
// reaches the running nodes' consoles within about one agent interval of
// gitboot applying it.
func checkPushedMotd(t *testing.T, l *qemuLab, repo string, vms []*qemuVM) {
	line := "Pushed while the nodes run: " + time.Now().UTC().Format("15:04:05.000")
	f, err := os.OpenFile(filepath.Join(repo, "overlays", "generic", "etc", "motd.tmpl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	git(t, repo, "commit", "-q", "-am", "motd: a line for the running nodes")
	short := git(t, repo, "rev-parse", "--short=12", "HEAD")
	waitCommitApplied(t, l, short)
	applied := time.Now()
	re := regexp.MustCompile(`GITBOOT-E2E-MOTD\| ` + regexp.QuoteMeta(line))
	for _, vm := range vms {
		took := waitConsole(t, l, vm, re, 60*time.Second)
		since := time.Since(applied)
		t.Logf("%s: the pushed motd line on the console %s after gitboot applied the commit (%s after the wait started; interval %s)", vm.node, since.Round(100*time.Millisecond), took.Round(100*time.Millisecond), agentInterval)
		// One interval (±10 %), the image's 1 s motd loop, and slack for
		// two TCG VMs on two shared cores.
		if since > 3*agentInterval+5*time.Second {
			t.Errorf("%s: the pushed motd took %s after the apply; the agent fetches every %s", vm.node, since.Round(100*time.Millisecond), agentInterval)
		}
	}
}

// checkImageMotdBack: once the overlay stops shipping /etc/motd, the
// image's copy (imageMotd; the agent kept it when it applied the overlay
// at init) comes back, it is not deleted, and the nodes stay at
// RUNTIME_OVERLAY.
func checkImageMotdBack(t *testing.T, l *qemuLab, repo string, vms []*qemuVM, imageMotd string) {
	if err := os.Remove(filepath.Join(repo, "overlays", "generic", "etc", "motd.tmpl")); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "commit", "-q", "-am", "motd: the image's own again")
	short := git(t, repo, "rev-parse", "--short=12", "HEAD")
	waitCommitApplied(t, l, short)
	for _, vm := range vms {
		took := waitConsole(t, l, vm, regexp.MustCompile(`GITBOOT-E2E-MOTD\| `+regexp.QuoteMeta(imageMotd)), 60*time.Second)
		t.Logf("%s: the image's own motd back on the console %s after the wait started", vm.node, took.Round(100*time.Millisecond))
	}
	for _, vm := range vms {
		if n := l.nodeStatus(t, vm.node); n.Stage != status.StageRuntimeOverlay {
			t.Errorf("%s: stage %s at the end; want %s", vm.node, n.Stage, status.StageRuntimeOverlay)
		}
	}
}

// waitCommitApplied waits up to 60 s for gitboot's log to say it applied
// the commit short (12 hex digits).
func waitCommitApplied(t *testing.T, l *qemuLab, short string) {
	t.Helper()
	applied := time.Now()
	for !strings.Contains(l.log.String(), `msg="applied commit" commit=`+short) {
		if time.Since(applied) > 60*time.Second {
			t.Fatalf("gitboot did not apply commit %s within 60 s%s", short, l.report())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitConsole waits until vm's console matches re and returns how long it
// waited.
func waitConsole(t *testing.T, l *qemuLab, vm *qemuVM, re *regexp.Regexp, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for !re.MatchString(vm.console()) {
		if !vm.running() {
			t.Fatalf("%s: the VM stopped before its console showed %q%s", vm.node, re, l.report())
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: no %q on the console within %s%s", vm.node, re, limit, l.report())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return time.Since(start)
}

// TestQEMUSecureRuntime boots n1 (BIOS) with secure_runtime = true: the
// iPXE script loads no runtime overlay, so gitboot's /init must run the
// agent once (from a port < 1024, from n1's own address) before the
// image's init, and say so. (/etc/hostname proves nothing here: /init
// writes the node's name there itself.)
// Skipped until the agent and the secure server side are merged.
func TestQEMUSecureRuntime(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireCommands(t, "qemu-system-x86_64", "git", "curl", "cpio", "gzip")
	if !haveFile("/usr/lib/ipxe/qemu/efi-virtio.rom", "/usr/share/qemu/efi-virtio.rom") {
		skipOrFail(t, "QEMU's iPXE ROM efi-virtio.rom is missing: install ipxe-qemu")
	}
	kernel := testKernel(t)
	repo := labRepo(t)
	p := filepath.Join(repo, "cluster.hcl")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), `address  = "10.99.0.1"`, "address  = \"10.99.0.1\"\n  secure_runtime = true", 1))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "commit", "-q", "-am", "secure runtime overlays")

	l := startQEMULabRepo(t, kernel, repo)
	if !l.systemHasAgent(t) {
		t.Skip("the system overlay gitboot builds has no /usr/lib/gitboot/gitboot-agent yet (the layout change is not merged): nothing to test")
	}
	script, err := l.srv.Output(context.Background(), "curl", "-sf", baseURL+"/ipxe/"+n1MAC)
	if err != nil {
		t.Fatalf("GET /ipxe/%s: %v\n%s", n1MAC, err, script)
	}
	if !strings.Contains(string(script), "gitboot.secure=1") || strings.Contains(string(script), "/runtime/") || strings.Contains(string(script), "/runtime-initrd/") {
		t.Skipf("the iPXE script does not boot in secure mode yet (gitboot.secure=1, no runtime initrd; that server-side change is not merged):\n%s", script)
	}
	vm, took := l.boot(t, "n1", biosArgs(n1MAC)...)
	if !strings.Contains(vm.console(), "gitboot init: agent: runtime overlay fetched (secure mode)") {
		t.Errorf("no \"agent: runtime overlay fetched (secure mode)\" line from gitboot's /init%s", l.report())
	}
	t.Logf("n1 (secure runtime): power-on to the image's init %s", took.Round(100*time.Millisecond))
	l.checkServed(t, "n1", "10.99.0.11")
	l.waitPowerOff(t, vm)
}
