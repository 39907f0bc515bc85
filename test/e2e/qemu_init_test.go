package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// editLab replaces old with new in file of the lab repository repo and
// commits it.
func editLab(t *testing.T, repo, file, old, new, msg string) {
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
	git(t, repo, "commit", "-q", "-am", msg)
}

func requireQEMU(t *testing.T) {
	t.Helper()
	netnstest.Require(t)
	netnstest.RequireCommands(t, "qemu-system-x86_64", "git", "curl")
	if !haveFile("/usr/lib/ipxe/qemu/efi-virtio.rom", "/usr/share/qemu/efi-virtio.rom") {
		skipOrFail(t, "QEMU's iPXE ROM efi-virtio.rom is missing: install ipxe-qemu")
	}
}

// TestQEMUInitFailed boots n1 (BIOS) from an image without an init and
// with gitboot.init=/nonexistent: gitboot's /init must not leave a root
// shell. It must say on the console what it tried, report INIT_FAILED with
// the reason (gitboot status --json and the table show it), and reboot
// after 60 s: the VM (no -no-reboot) PXE-boots a second time.
func TestQEMUInitFailed(t *testing.T) {
	requireQEMU(t)
	kernel := testKernel(t)
	repo := labRepo(t)
	editLab(t, repo, "cluster.hcl", `kernel_args      = ["console=ttyS0", "quiet"]`,
		`kernel_args      = ["console=ttyS0", "quiet", "gitboot.init=/nonexistent"]`, "init test: an init that is not there")
	l := startQEMULabImage(t, kernel, repo, func(dir string) {
		if err := os.Remove(filepath.Join(dir, "sbin", "init")); err != nil {
			t.Fatal(err)
		}
	})
	// biosArgs without -no-reboot: the reboot must happen.
	vm := l.start(t, "n1", "-machine", "pc", "-m", "384", "-boot", "n", "-device", "virtio-net-pci,netdev=n0,mac="+n1MAC)
	waitConsole(t, l, vm, regexp.MustCompile(`gitboot init: init-failed: rebooting in 60 s`), bootDeadline)
	console := vm.console()
	tried := "gitboot.init=/nonexistent (missing) /sbin/init (missing) /etc/init (missing) /bin/init (missing)"
	for _, want := range []string{
		"gitboot init: exec: gitboot.init=/nonexistent is not an executable file; trying /sbin/init",
		"gitboot init: init-failed: no init to exec\n",
		"gitboot init: init-failed: tried: " + tried + "\n",
		"gitboot init: init-failed: reported to " + baseURL,
	} {
		if !strings.Contains(console, want) {
			t.Errorf("no %q on the console%s", want, l.report())
		}
	}
	t.Logf("n1: gitboot's /init said:\n\t%s", strings.Join(regexp.MustCompile(`(?m)^.*gitboot init: (exec|init-failed).*$`).FindAllString(console, -1), "\n\t"))
	if strings.Contains(console, "starting a shell") {
		t.Errorf("a shell was started without gitboot.debug%s", l.report())
	}

	n := l.nodeStatus(t, "n1")
	if n.Error == nil || n.Error.Stage != status.StageInitFailed || n.Error.Reason != "no init to exec; tried: "+tried || n.Error.Addr.String() != "10.99.0.11" {
		t.Fatalf("status of n1: %+v, error %+v; want INIT_FAILED with the reason from 10.99.0.11%s", n, n.Error, l.report())
	}
	table, err := l.srv.Output(context.Background(), l.bin, "status", "--server", adminURL, "n1")
	if err != nil || !regexp.MustCompile(`(?m)^n1 +INIT_FAILED `).Match(table) || !strings.Contains(string(table), "n1: INIT_FAILED: no init to exec; tried: ") {
		t.Errorf("gitboot status n1: %v\n%s", err, table)
	}

	// The reboot: 60 s later the VM boots again from the network, and its
	// new boot clears the error.
	start := time.Now()
	for strings.Count(vm.console(), "gitboot init: starting (") < 2 {
		if !vm.running() {
			t.Fatalf("the VM stopped instead of rebooting%s", l.report())
		}
		if time.Since(start) > 60*time.Second+bootDeadline {
			t.Fatalf("no second boot within %s of the reboot notice%s", 60*time.Second+bootDeadline, l.report())
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("n1: booted again %s after the reboot notice", time.Since(start).Round(time.Second))
	if n := l.nodeStatus(t, "n1"); n.Error != nil || n.PrevBoot.InitReason == "" {
		t.Errorf("after the reboot: error %+v, previous boot %+v; want the error cleared and the previous boot marked", n.Error, n.PrevBoot)
	}
}

// TestQEMUTmpfsRoot boots n1 (BIOS) with root = "tmpfs", root_size =
// "40%" from its profile: gitboot's /init moves the tree into a tmpfs and
// switch_roots, so the image's init finds / on a tmpfs mount of about 40%
// of RAM, and pivot_root in a new mount namespace works. n2, booted beside
// it, sets root = "initramfs" itself (a node wins over its profile) and
// shows the difference: / is the kernel's rootfs and pivot_root fails.
func TestQEMUTmpfsRoot(t *testing.T) {
	requireQEMU(t)
	kernel := testKernel(t)
	repo := labRepo(t)
	editLab(t, repo, "cluster.hcl", `kernel_args      = ["console=ttyS0", "quiet"]`,
		"kernel_args      = [\"console=ttyS0\", \"quiet\", \"e2e.rootcheck\"]\n  root             = \"tmpfs\"\n  root_size        = \"40%\"",
		"tmpfs root test")
	editLab(t, repo, "nodes.hcl", `ip       = "10.99.0.12"`, "ip       = \"10.99.0.12\"\n  root     = \"initramfs\"", "n2 stays on the initramfs")
	l := startQEMULabRepo(t, kernel, repo)
	vm, vm2 := l.start(t, "n1", biosArgs(n1MAC)...), l.start(t, "n2", biosArgs(n2MAC)...)
	took := l.waitBooted(t, vm)
	t.Logf("n1 (tmpfs root): power-on to the image's init %s", took.Round(100*time.Millisecond))
	l.waitBooted(t, vm2)
	rootRE := regexp.MustCompile(`GITBOOT-E2E-ROOT mount=(\S*) size=(\S*) pivot=(\S*)`)
	if m := rootRE.FindStringSubmatch(vm2.console()); m == nil || m[1] != "rootfs:rootfs" || m[3] != "fail" {
		t.Errorf("n2 (root = \"initramfs\"): %q; want / on rootfs and pivot_root failing%s", m, l.report())
	}
	if strings.Contains(vm2.console(), "gitboot init: root:") {
		t.Errorf("n2 (root = \"initramfs\") moved its root%s", l.report())
	}
	console := vm.console()
	if !regexp.MustCompile(`gitboot init: root: switch_root into the tmpfs\n`).MatchString(console) ||
		!regexp.MustCompile(`gitboot init: root: / is a tmpfs of \S+ \(gitboot.root_size=40%\)`).MatchString(console) {
		t.Errorf("gitboot's /init did not say it moved / into a tmpfs%s", l.report())
	}
	m := rootRE.FindStringSubmatch(console)
	if m == nil {
		t.Fatalf("no GITBOOT-E2E-ROOT line%s", l.report())
	}
	if m[1] != "tmpfs:tmpfs" || m[3] != "ok" {
		t.Errorf("/ is %s and pivot_root %s; want tmpfs:tmpfs and ok", m[1], m[3])
	}
	// 40% of the VM's 384 MiB, less what the kernel keeps: 120-160 MiB.
	if kb, err := strconv.Atoi(m[2]); err != nil || kb < 120<<10 || kb > 160<<10 {
		t.Errorf("/ is %s KiB; want about 40%% of 384 MiB", m[2])
	}
	l.checkServed(t, "n1", "10.99.0.11")
	l.waitPowerOff(t, vm)
	l.waitPowerOff(t, vm2)
}
