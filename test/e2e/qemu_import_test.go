package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/netnstest"
)

// TestQEMUImportWarewulf imports a two-node Warewulf site
// (testdata/warewulf: nodes.conf, warewulf.conf, an overlay with a static
// file and a template) with `gitboot import warewulf`, commits the result,
// serves it with `gitboot serve` and boots n1 in a BIOS QEMU VM. The node
// must reach RUNTIME_OVERLAY with the overlay's static file (/etc/motd,
// printed by the image's init) and the translated template
// (/etc/gitboot/cluster from {{ .Tags.cluster }}) in place.
func TestQEMUImportWarewulf(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireCommands(t, "qemu-system-x86_64", "git", "curl")
	if !haveFile("/usr/lib/ipxe/qemu/efi-virtio.rom", "/usr/share/qemu/efi-virtio.rom") {
		skipOrFail(t, "QEMU's iPXE ROM efi-virtio.rom is missing: install ipxe-qemu")
	}
	images := t.TempDir()
	if err := os.MkdirAll(filepath.Join(images, "e2e-busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Warewulf keeps an image's tree in IMAGE/rootfs.
	if err := os.Rename(bootableImage(t, testKernel(t)), filepath.Join(images, "e2e-busybox", "rootfs")); err != nil {
		t.Fatal(err)
	}
	bin := gitbootBinary(t)
	src := filepath.Join("testdata", "warewulf")
	repo := filepath.Join(t.TempDir(), "site")
	out, err := exec.Command(bin, "import", "warewulf", "--nodes-conf", filepath.Join(src, "nodes.conf"),
		"--warewulf-conf", filepath.Join(src, "warewulf.conf"), "--overlays", filepath.Join(src, "overlays"),
		"--images", images, "--out", repo).CombinedOutput()
	if err != nil {
		t.Fatalf("gitboot import warewulf: %v\n%s", err, out)
	}
	t.Logf("gitboot import warewulf:\n%s", out)
	for _, f := range []string{"overlays/site/etc/motd", "overlays/site/etc/gitboot/cluster.tmpl"} {
		if _, err := os.Stat(filepath.Join(repo, f)); err != nil {
			t.Fatalf("the import did not write %s: %v", f, err)
		}
	}
	git(t, repo, "init", "-q", "-b", "main")
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-q", "-m", "imported from Warewulf")

	l := &qemuLab{bin: bin, repo: repo, dir: t.TempDir()}
	l.lan = netnstest.New(t, "gblan")
	l.br = l.lan.Bridge(t)
	l.srv = netnstest.New(t, "gbsrv")
	netnstest.Attach(t, l.lan, l.br, l.srv, serverIP+"/24")
	proc, log := l.srv.Start(t, bin, "serve", "--repo", repo, "--state", filepath.Join(l.dir, "state"), "--image-root", images)
	l.log = log
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err := l.srv.Output(context.Background(), "curl", "-sf", "http://127.0.0.1:9873/healthz"); err == nil {
			break
		}
		if time.Now().After(deadline) || syscall.Kill(proc.Process.Pid, 0) != nil {
			t.Fatalf("gitboot serve did not become ready%s", l.report())
		}
	}

	vm := l.start(t, "n1", biosArgs(n1MAC)...)
	booted := regexp.MustCompile(bootMarker + ` node=n1 hostname=n1 cluster=wwlab uname=n1 net=\S*=10\.99\.0\.11/24\S* http=ok`)
	motd := "GITBOOT-E2E-MOTD| imported from warewulf: the static file is in place"
	for {
		c := vm.console()
		if booted.MatchString(c) && strings.Contains(c, motd) {
			break
		}
		if !vm.running() || time.Since(vm.start) > bootDeadline {
			t.Fatalf("n1 did not print %q and %q within %s (running: %v)%s", booted, motd, bootDeadline, vm.running(), l.report())
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("n1 booted the imported site in %s", time.Since(vm.start).Round(100*time.Millisecond))
	l.checkServed(t, "n1", "10.99.0.11")
}
