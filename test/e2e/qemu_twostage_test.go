package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// Two-stage boot, on the real Debian 12 image made ~730 MB by a 300 MB
// file of random bytes (incompressible: the initrd cannot shrink it), and
// nodes of 1 GiB RAM:
//
//   - t1 boots it in two stages (boot = "two-stage"): iPXE loads the kernel
//     and the stage-one initramfs, stage one streams the image and the
//     overlays into a tmpfs and switch_roots; the node reaches
//     multi-user.target with the padding file intact (its sha256 checked on
//     the node), its root a tmpfs, and every stage recorded by the server;
//   - t0, the control, boots the same image in one stage: the compressed
//     initrd and the unpacked tree do not both fit in 1 GiB, and the node
//     never reaches gitboot's /init.
const (
	t0MAC, t0IP = "52:54:00:99:00:30", "10.99.0.30"
	t1MAC, t1IP = "52:54:00:99:00:31", "10.99.0.31"
	// twoStageMemory is each VM's RAM in MiB.
	twoStageMemory = "1024"
	padBytes       = 300 << 20
)

const twoStageCluster = `server "head" {
  address          = "10.99.0.1"
  networks         = [network.cluster]
  runtime_interval = "5s"
}

network "cluster" {
  subnet  = "10.99.0.0/24"
  gateway = "10.99.0.1"
}

variable "image_source" {
  type = string
}

image "onestage" {
  source = var.image_source
  boot   = "one-stage"
}

image "twostage" {
  source = var.image_source
  boot   = "two-stage"
}

overlay "facts" {
  source = "overlays/facts"
}

overlay "site" {
  source = "overlays/site"
}

profile "big" {
  network          = network.cluster
  kernel_args      = ["console=ttyS0", "panic=5"]
  system_overlays  = [overlay.facts]
  runtime_overlays = [overlay.site]
  root_size        = "95%"
}

node "t0" {
  mac      = "` + t0MAC + `"
  ip       = "` + t0IP + `"
  profiles = [profile.big]
  image    = image.onestage
}

node "t1" {
  mac      = "` + t1MAC + `"
  ip       = "` + t1IP + `"
  profiles = [profile.big]
  image    = image.twostage
}
`

// twoStageFacts prints what the node sees, once systemd started the agent.
const twoStageFacts = `#!/bin/sh
pad=$(sha256sum /var/gbpad/pad.bin 2>/dev/null | cut -c1-64)
echo "GBFACT node=$(hostname) rootfs=$(findmnt -n -o FSTYPE /) pid1=$(readlink /proc/1/exe) agent=$(systemctl is-active gitboot-agent.service) runtime=$(cat /etc/gbtest/runtime.txt 2>/dev/null || echo missing) pad=$pad memtotal=$(awk '/MemTotal/ {print $2}' /proc/meminfo)" >/dev/ttyS0
`

func TestQEMUTwoStage(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireCommands(t, "qemu-system-x86_64", "git", "curl", "tar")
	began := time.Now()
	image, padSum := paddedDebianImage(t)
	repo := twoStageRepo(t)
	l := startDebianLab(t, repo, image)

	t1 := l.startDebianMem(t, "t1", t1IP, twoStageMemory, debianBIOS(t1MAC)...)
	t0 := l.startDebianMem(t, "t0", t0IP, twoStageMemory, debianBIOS(t0MAC)...)

	facts, took, errMsg := l.waitMultiUserErr(t1)
	if errMsg != "" {
		t.Fatalf("two-stage: %s", errMsg)
	}
	t.Logf("t1 (two-stage, %s MiB): power-on to multi-user.target %s; facts %v", twoStageMemory, took.Round(100*time.Millisecond), facts)
	for k, v := range map[string]string{"node": "t1", "rootfs": "tmpfs", "pid1": "/usr/lib/systemd/systemd", "agent": "active",
		"runtime": "from-the-runtime-overlay", "pad": padSum} {
		if facts[k] != v {
			t.Errorf("t1: %s=%q on the node, want %q%s", k, facts[k], v, l.debianReport(t1))
		}
	}
	con := t1.console()
	for _, want := range []string{"stage one: network up", "stage one: root ready", "gitboot init: root: / is a tmpfs"} {
		if !strings.Contains(con, want) {
			t.Errorf("t1's console lacks %q%s", want, l.debianReport(t1))
		}
	}
	n := l.nodeStatus(t, "t1")
	if n.Stage != status.StageRuntimeOverlay {
		t.Errorf("t1: stage %s, want %s", n.Stage, status.StageRuntimeOverlay)
	}
	for i, st := range status.BootStages {
		if st == status.StageDHCP || st == status.StageTFTP || st == status.StageIPXE {
			continue
		}
		if n.Boot.At[i].IsZero() {
			t.Errorf("t1: stage %s not recorded in its boot timeline %+v", st, n.Boot)
		}
	}

	// The control: one stage cannot hold it.
	deadline := time.Now().Add(debianDeadline)
	for t0.running() && time.Now().Before(deadline) && !oneStageFailed(t0.console()) {
		time.Sleep(time.Second)
	}
	c0 := t0.console()
	if strings.Contains(c0, "gitboot init: starting") || !oneStageFailed(c0) {
		t.Errorf("t0 (the same image in one stage, %s MiB): expected the boot to fail for lack of memory before gitboot's /init%s", twoStageMemory, l.debianReport(t0))
	} else {
		t.Logf("t0 (one stage, %s MiB) fails as expected: %s", twoStageMemory, firstMatch(c0, oneStageFailures))
	}
	t.Logf("TestQEMUTwoStage: %s in all", time.Since(began).Round(time.Second))
}

var oneStageFailures = []string{"Initramfs unpacking failed", "Kernel panic", "Out of memory", "No working init found", "Not enough space", "Could not boot"}

func oneStageFailed(con string) bool { return firstMatch(con, oneStageFailures) != "" }

func firstMatch(con string, any []string) string {
	for _, line := range strings.Split(con, "\n") {
		for _, s := range any {
			if strings.Contains(line, s) {
				return strings.TrimSpace(line)
			}
		}
	}
	return ""
}

// startDebianMem is startDebian with mem MiB of RAM.
func (l *debianLab) startDebianMem(t *testing.T, node, ip, mem string, firmware ...string) *qemuVM {
	t.Helper()
	vm := &qemuVM{node: node, ip: ip, serial: filepath.Join(l.dir, "serial-"+node+".log")}
	args := []string{"-accel", "tcg", "-smp", "1", "-m", mem, "-nographic", "-monitor", "none",
		"-serial", "file:" + vm.serial,
		"-netdev", "tap,id=n0,ifname=" + l.lan.Tap(t, l.br) + ",script=no,downscript=no"}
	args = append(args, firmware...)
	vm.start = time.Now()
	cmd, out := l.lan.Start(t, "qemu-system-x86_64", args...)
	vm.out, vm.pid = out, cmd.Process.Pid
	l.vms = append(l.vms, vm)
	return vm
}

// paddedDebianImage returns the Debian image with /var/gbpad/pad.bin of
// padBytes random bytes appended, and the file's sha256.
func paddedDebianImage(t *testing.T) (string, string) {
	t.Helper()
	base := debianImage(t)
	dir := t.TempDir()
	pad := filepath.Join(dir, "var", "gbpad", "pad.bin")
	if err := os.MkdirAll(filepath.Dir(pad), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(pad)
	if err != nil {
		t.Fatal(err)
	}
	rnd, err := os.Open("/dev/urandom")
	if err != nil {
		t.Fatal(err)
	}
	defer rnd.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rnd, padBytes); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out := filepath.Join(dir, "big.tar")
	cmd := exec.Command("sh", "-c", fmt.Sprintf("cp %s %s && tar -rf %s -C %s ./var/gbpad/pad.bin && rm %s", base, out, out, dir, pad))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("making the padded image: %v\n%s", err, b)
	}
	return out, hex.EncodeToString(h.Sum(nil))
}

// twoStageRepo writes the test repository and returns its path.
func twoStageRepo(t *testing.T) string {
	t.Helper()
	repo := filepath.Join(t.TempDir(), "twostage")
	files := map[string]string{
		"cluster.hcl": twoStageCluster,
		"overlays/facts/etc/systemd/system/gbfacts.service":     unit("gitboot e2e: facts on ttyS0", "/usr/local/sbin/gbfacts", "oneshot"),
		"overlays/facts/etc/systemd/system/gbmultiuser.service": multiUserUnit,
		"overlays/facts/usr/local/sbin/gbfacts":                 twoStageFacts,
		"overlays/site/etc/gbtest/runtime.txt":                  "from-the-runtime-overlay\n",
	}
	return writeUnitRepo(t, repo, files, []string{"gbfacts.service", "gbmultiuser.service"}, "two-stage test cluster")
}
