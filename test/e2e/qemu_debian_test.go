package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// TestQEMUDebian boots a real Debian 12 image (mmdebstrap minbase with
// systemd, udev, openssh-server, ifupdown and Debian's kernel; made and
// cached by scripts/debian-image.sh) through gitboot alone, on two QEMU
// nodes at once: d1 by BIOS with a second NIC, d2 by UEFI (OVMF, snponly.efi
// by TFTP) with root = "tmpfs". One boot of the pair serves every check:
//
//   - systemd reaches multi-user.target on both (a unit wanted by it and
//     ordered after it prints so on the console), and the facts
//     unit of the system overlay (started after gitboot-agent.service)
//     prints what the node sees: /sbin still the image's link to usr/sbin,
//     pid 1 systemd, gitboot-agent.service active, the runtime overlay's
//     file there, the system overlay's file 0640 root:users and the
//     runtime overlay's secret 0400 sshd:nogroup (owners resolved from the
//     image's own passwd and group by name);
//   - the declared user alice (uid 1001, in the declared group hpc) is
//     in the node's accounts (getent passwd, id), a system overlay file
//     owned alice:hpc by its file block has those owners, and /etc/shadow
//     keeps the image's 0640 root:shadow;
//   - pivot_root in a new mount namespace works on d2 (tmpfs root) and
//     not on d1 (the kernel's rootfs): the control that proves the tmpfs;
//   - d1's second NIC gets its static address from an `interface` block,
//     configured by the image's own network stack, and the server
//     namespace pings it there;
//   - `gitboot status --json` shows both at RUNTIME_OVERLAY;
//   - a pushed commit that drops the runtime overlay's /etc/issue (which
//     shadows the image's) gives both running nodes the image's own
//     /etc/issue back (runtime_interval = "5s"; the default, non-secure
//     mode: the runtime overlay comes as a file in the initrd).
func TestQEMUDebian(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireCommands(t, "qemu-system-x86_64", "git", "curl", "busybox")
	if !haveFile("/usr/lib/ipxe/qemu/efi-virtio.rom", "/usr/share/qemu/efi-virtio.rom") {
		skipOrFail(t, "QEMU's iPXE ROM efi-virtio.rom is missing: install ipxe-qemu")
	}
	for _, f := range []string{ovmfCode, ovmfVars, "/usr/lib/ipxe/snponly.efi"} {
		if !haveFile(f) {
			skipOrFail(t, "%s is missing: install ovmf and ipxe", f)
		}
	}
	began := time.Now()
	image := debianImage(t)
	repo := debianRepo(t)
	l := startDebianLab(t, repo, image)
	l.checkServedZstd(t, d1MAC)

	d1 := l.startDebian(t, "d1", d1IP, d1DataMAC, debianBIOS(d1MAC)...)
	d2 := l.startDebian(t, "d2", d2IP, "", debianUEFI(t, d2MAC)...)
	vms := []*qemuVM{d1, d2}
	facts := waitAllMultiUser(t, l, vms)

	checkDebianFacts(t, l, facts, d1, d2)

	// The agent keeps the secret's mode and owners: the newest watch line
	// is after several of its fetches.
	for _, vm := range vms {
		waitWatch(t, l, vm, "agent", "active", 60*time.Second)
		waitWatch(t, l, vm, "issue", strings.ReplaceAll(issueOverlay, " ", "_"), 30*time.Second)
		if w := lastWatch(vm); w["secret"] != "400:sshd:nogroup" {
			t.Errorf("%s: the secret is %s on the node; want 400:sshd:nogroup (its file block)%s", vm.node, w["secret"], l.debianReport(vm))
		}
		n := l.nodeStatus(t, vm.node)
		if n.Stage != status.StageRuntimeOverlay || n.Addr.String() != vm.ip {
			t.Errorf("status of %s: stage %s from %s; want %s from %s", vm.node, n.Stage, n.Addr, status.StageRuntimeOverlay, vm.ip)
		}
	}

	checkImageIssueBack(t, l, repo, vms)
	checkUserCollision(t, l, repo)
	t.Logf("TestQEMUDebian: %s in all (image %s)", time.Since(began).Round(time.Second), image)
}

// waitAllMultiUser waits, for all VMs at once, until each reaches
// multi-user.target and returns the facts each printed, by node; the test
// fails now if one did not.
func waitAllMultiUser(t *testing.T, l *debianLab, vms []*qemuVM) map[string]map[string]string {
	facts := map[string]map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, vm := range vms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// t.Fatalf from a goroutine is not allowed: wait here, fail below.
			f, took, err := l.waitMultiUserErr(vm)
			mu.Lock()
			defer mu.Unlock()
			if err != "" {
				t.Errorf("%s", err)
				return
			}
			facts[vm.node] = f
			t.Logf("%s: power-on to multi-user.target %s; facts: %v", vm.node, took.Round(100*time.Millisecond), f)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return facts
}

// checkDebianFacts checks what the nodes d1 and d2 reported (facts, by
// node): layout, init, agent, runtime overlay, the declared accounts and
// file owners; pivot_root works on d2's tmpfs root and not on d1's rootfs;
// d1's second NIC has its static address, and the server pings it there.
func checkDebianFacts(t *testing.T, l *debianLab, facts map[string]map[string]string, d1, d2 *qemuVM) {
	vms := []*qemuVM{d1, d2}
	for _, vm := range vms {
		f := facts[vm.node]
		want := map[string]string{
			"node":    vm.node,
			"sbin":    "usr/sbin",
			"pid1":    "/usr/lib/systemd/systemd",
			"agent":   "active",
			"runtime": "from-the-runtime-overlay",
			"syscfg":  "640:root:users",
			// Declared accounts (user and group blocks) merged into the
			// image's: getent, id and a file block naming them.
			"alice":     "1001:1001:/bin/bash",
			"aliceid":   "alice,hpc",
			"aliceconf": "644:alice:hpc",
			"shadow":    "640:root:shadow",
		}
		for k, v := range want {
			if f[k] != v {
				t.Errorf("%s: %s=%q on the node; want %q%s", vm.node, k, f[k], v, l.debianReport(vm))
			}
		}
	}
	// pivot_root needs a real root mount: d2 has root = "tmpfs", d1 the
	// kernel's rootfs, where it must fail (else the check proves nothing).
	if f := facts["d2"]; f["pivot"] != "ok" || f["rootfs"] != "tmpfs" {
		t.Errorf("d2 (root = \"tmpfs\"): root file system %q, pivot_root in a new mount namespace %s; want tmpfs, ok%s", f["rootfs"], f["pivot"], l.debianReport(d2))
	}
	if f := facts["d1"]; f["pivot"] != "fail" || f["rootfs"] != "rootfs" {
		t.Errorf("d1 (root = \"initramfs\"): root file system %q, pivot_root %s; want rootfs, fail (the kernel's initramfs)", f["rootfs"], f["pivot"])
	}
	if a := facts["d1"]["addrs"]; !strings.Contains(a, "="+d1DataIP+"/24") {
		t.Errorf("d1: IPv4 addresses %s; want %s/24 on its second NIC (interface \"data0\")%s", a, d1DataIP, l.debianReport(d1))
	}
	if out, err := l.srv.Output(context.Background(), "busybox", "ping", "-c", "3", "-W", "5", d1DataIP); err != nil {
		t.Errorf("the server cannot ping d1's second NIC at %s: %v\n%s%s", d1DataIP, err, out, l.debianReport(d1))
	}
}

// checkImageIssueBack: a commit that drops the runtime overlay's
// /etc/issue gives the running nodes the image's own back, the secret and
// the agent unchanged.
func checkImageIssueBack(t *testing.T, l *debianLab, repo string, vms []*qemuVM) {
	// Drop the overlay's /etc/issue: the running nodes get the image's back.
	git(t, repo, "rm", "-q", filepath.Join("overlays", "site", "etc", "issue"))
	git(t, repo, "commit", "-q", "-m", "site: the image's /etc/issue again")
	short := git(t, repo, "rev-parse", "--short=12", "HEAD")
	pushed := time.Now()
	for !strings.Contains(l.log.String(), `msg="applied commit" commit=`+short) {
		if time.Since(pushed) > 2*time.Minute {
			t.Fatalf("gitboot did not apply commit %s within 2 min%s", short, l.report())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, vm := range vms {
		took := waitWatch(t, l, vm, "issue", "Debian_GNU_Linux_12", 90*time.Second)
		t.Logf("%s: the image's /etc/issue back %s after the push", vm.node, took.Round(100*time.Millisecond))
		if w := lastWatch(vm); w["secret"] != "400:sshd:nogroup" || w["agent"] != "active" {
			t.Errorf("%s: after the push the secret is %s and the agent %s; want 400:sshd:nogroup, active", vm.node, w["secret"], w["agent"])
		}
		if n := l.nodeStatus(t, vm.node); n.Stage != status.StageRuntimeOverlay {
			t.Errorf("%s: stage %s at the end; want %s", vm.node, n.Stage, status.StageRuntimeOverlay)
		}
	}
}

// waitMultiUserErr waits for the GBMULTIUSER line (multi-user.target
// reached, multiUserUnit) and the GBFACT line on vm's console and returns
// the facts and the time from power-on to the GBMULTIUSER line. It runs
// in a goroutine: a failure is returned as its message instead of
// failing the test.
func (l *debianLab) waitMultiUserErr(vm *qemuVM) (map[string]string, time.Duration, string) {
	var reached time.Duration
	for {
		con := vm.console()
		if m := multiUserRE.FindStringSubmatch(con); reached == 0 && m != nil {
			if m[1] != "active" {
				return nil, 0, vm.node + ": multi-user.target is " + m[1] + " after its wanted units started" + l.debianReport(vm)
			}
			reached = time.Since(vm.start)
		}
		if m := factRE.FindStringSubmatch(con); m != nil && reached != 0 {
			return fields(m[1]), reached, ""
		}
		if !vm.running() {
			return nil, 0, vm.node + ": the VM stopped after " + time.Since(vm.start).Round(time.Second).String() +
				" without reaching multi-user.target (GBMULTIUSER) and the GBFACT line" + l.debianReport(vm)
		}
		if time.Since(vm.start) > debianDeadline {
			return nil, 0, vm.node + ": no GBMULTIUSER (multi-user.target reached) and GBFACT lines on the console within " +
				debianDeadline.String() + l.debianReport(vm)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitWatch waits until the newest GBWATCH line of vm has key=value and
// returns how long it waited.
func waitWatch(t *testing.T, l *debianLab, vm *qemuVM, key, value string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		w := lastWatch(vm)
		if w != nil && strings.HasPrefix(w[key], value) {
			return time.Since(start)
		}
		if !vm.running() {
			t.Fatalf("%s: the VM stopped before its GBWATCH line showed %s=%s%s", vm.node, key, value, l.debianReport(vm))
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: the newest GBWATCH line has %s=%q, not %s, after %s%s", vm.node, key, w[key], value, limit, l.debianReport(vm))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkUserCollision pushes a user whose uid is the image's sshd's: the
// commit is rejected, its note naming the user block and the image.
func checkUserCollision(t *testing.T, l *debianLab, repo string) {
	t.Helper()
	writeUnitRepoFile(t, repo, "users.hcl", "user \"eve\" {\n  uid = 100\n}\n")
	git(t, repo, "add", "users.hcl")
	git(t, repo, "commit", "-q", "-m", "eve takes sshd's uid")
	head := git(t, repo, "rev-parse", "HEAD")
	want := "uid 100 of user eve is user sshd's in image debian12"
	start := time.Now()
	for {
		out, _ := exec.Command("git", "-C", repo, "notes", "--ref=gitboot", "show", head).CombinedOutput()
		if strings.Contains(string(out), "result=rejected") {
			if !strings.Contains(string(out), want) || !strings.Contains(string(out), "file=users.hcl line=1") {
				t.Errorf("the note of a commit whose user collides with the image's:\n%s\nwant %q at users.hcl line 1", out, want)
			}
			return
		}
		if time.Since(start) > 2*time.Minute {
			t.Fatalf("no rejected note on %s within 2 min (note: %s)%s", head, out, l.report())
		}
		time.Sleep(500 * time.Millisecond)
	}
}
