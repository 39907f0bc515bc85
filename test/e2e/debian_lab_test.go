package e2e

import (
	"context"
	"fmt"
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

// The Debian lab: two nodes booting the real Debian 12 image, d1 by BIOS
// with a second NIC on the data network, d2 by UEFI with a tmpfs root.
const (
	d1MAC     = "52:54:00:99:00:21"
	d1IP      = "10.99.0.21"
	d1DataMAC = "52:54:00:99:01:21"
	d1DataIP  = "10.98.0.21"
	d2MAC     = "52:54:00:99:00:22"
	d2IP      = "10.99.0.22"
	dataNetIP = "10.98.0.1"

	// debianMemory is each Debian VM's RAM in MiB: the image unpacked
	// (~500 MB) plus its compressed initrd while the kernel unpacks it.
	debianMemory = "2560"
	// debianDeadline is power-on to multi-user.target; ~60 s alone on an
	// idle machine, two TCG VMs share two cores with other work.
	debianDeadline = 8 * time.Minute
	// debianImageBuild is how long gitboot serve may take to pack the
	// image (cpio + compression of ~500 MB) before it answers.
	debianImageBuild = 5 * time.Minute
	// issueOverlay is /etc/issue as the runtime overlay ships it.
	issueOverlay = "gitboot e2e issue"
)

// debianCluster is the test repository's HCL. The image source is a
// variable: the cached tar on the server.
//
// The default, non-secure mode: the runtime overlay reaches the node as
// one file in an initrd (/runtime-initrd/), which /init applies with the
// agent over the image's own files, so the agent keeps the image's
// /etc/issue and gives it back when the overlay drops it. (Secure mode is
// proven on busybox nodes by TestQEMUSecureRuntime.)
const debianCluster = `server "head" {
  address          = "10.99.0.1"
  networks         = [network.cluster]
  runtime_interval = "5s"
}

network "cluster" {
  subnet     = "10.99.0.0/24"
  gateway    = "10.99.0.1"
  dns        = ["10.99.0.1"]
  domain     = "cluster.local"
  lease_time = "1h"
}

network "data" {
  subnet = "10.98.0.0/24"
}

variable "image_source" {
  type = string
}

image "debian12" {
  source = var.image_source
}

# System overlay: the units that print facts on the serial console.
overlay "facts" {
  source = "overlays/facts"
  file "etc/gbtest/system.conf" {
    mode  = "0640"
    owner = "root"
    group = "users"
  }
  file "etc/gbtest/alice.conf" {
    owner = "alice"
    group = "hpc"
  }
}

# Declared accounts, merged into the image's /etc/passwd, group, shadow.
user "alice" {
  uid    = 1001
  groups = ["hpc"]
  shell  = "/bin/bash"
}

group "hpc" {
  gid = 2000
}

# Runtime overlay: a secret, a plain file and /etc/issue over the image's.
overlay "site" {
  source = "overlays/site"
  file "etc/gbtest/secret.key" {
    mode  = "0400"
    owner = "sshd"
    group = "nogroup"
  }
}

overlay "hostname" {
  builtin = "hostname"
}

profile "debian" {
  image            = image.debian12
  network          = network.cluster
  kernel_args      = ["console=ttyS0"]
  system_overlays  = [overlay.facts]
  runtime_overlays = [overlay.site, overlay.hostname]
}

node "d1" {
  mac      = "` + d1MAC + `"
  ip       = "` + d1IP + `"
  profiles = [profile.debian]
  interface "data0" {
    type    = "ethernet"
    mac     = "` + d1DataMAC + `"
    ip      = "` + d1DataIP + `"
    network = network.data
  }
}

node "d2" {
  mac      = "` + d2MAC + `"
  ip       = "` + d2IP + `"
  profiles = [profile.debian]
  root     = "tmpfs"
}
`

// factsScript prints, once systemd started the agent, one GBFACT line of
// what the node looks like from inside. pivot: whether pivot_root works in
// a new mount namespace (only on a real root mount, not on rootfs).
const factsScript = `#!/bin/sh
pivot=fail
if unshare --mount --propagation private sh -c 'mount -t tmpfs gbt /mnt && mkdir /mnt/old && cd /mnt && pivot_root . old' >/dev/null 2>&1; then
  pivot=ok
fi
runtime=$(cat /etc/gbtest/runtime.txt 2>/dev/null || echo missing)
syscfg=$(stat -c %a:%U:%G /etc/gbtest/system.conf 2>/dev/null || echo missing)
addrs=$(ip -4 -o addr show | awk '{print $2"="$4}' | paste -sd, -)
alice=$(getent passwd alice | cut -d: -f3,4,7)
aliceid=$(id -nG alice 2>/dev/null | tr ' ' ,)
aliceconf=$(stat -c %a:%U:%G /etc/gbtest/alice.conf 2>/dev/null || echo missing)
echo "GBFACT alice=$alice aliceid=$aliceid aliceconf=$aliceconf shadow=$(stat -c %a:%U:%G /etc/shadow) node=$(hostname) sbin=$(readlink /sbin) pid1=$(readlink /proc/1/exe) agent=$(systemctl is-active gitboot-agent.service) runtime=$runtime syscfg=$syscfg rootfs=$(findmnt -n -o FSTYPE /) pivot=$pivot addrs=$addrs" >/dev/ttyS0
`

// watchScript prints a GBWATCH line whenever what the agent keeps up to
// date changes: the first line of /etc/issue, the secret's mode and
// owners, the agent's state.
const watchScript = `#!/bin/sh
last=
while :; do
  if [ -e /etc/issue ]; then
    issue=$(head -n 1 /etc/issue | tr -c 'A-Za-z0-9.\n' _)
  else
    issue=missing
  fi
  secret=$(stat -c %a:%U:%G /etc/gbtest/secret.key 2>/dev/null || echo missing)
  cur="issue=$issue secret=$secret agent=$(systemctl is-active gitboot-agent.service)"
  if [ "$cur" != "$last" ]; then
    echo "GBWATCH $cur" >/dev/ttyS0
    last=$cur
  fi
  sleep 2
done
`

// multiUserUnit prints GBMULTIUSER once multi-user.target is reached: it
// is wanted by the target and ordered after it. (systemd's own "Reached
// target ... Multi-User System" status line is not always printed: systemd
// holds its status output back while a getty uses the serial console.)
const multiUserUnit = `[Unit]
Description=gitboot e2e: multi-user.target reached
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "GBMULTIUSER target=$(systemctl is-active multi-user.target) uptime=$(cut -d" " -f1 /proc/uptime)" >/dev/ttyS0'

[Install]
WantedBy=multi-user.target
`

func unit(desc, execStart, typ string) string {
	return "[Unit]\nDescription=" + desc + "\nAfter=gitboot-agent.service\n\n[Service]\nType=" + typ +
		"\nExecStart=/bin/sh " + execStart + "\n\n[Install]\nWantedBy=multi-user.target\n"
}

// debianRepo writes the test repository (a work tree on branch main) and
// returns its path.
func debianRepo(t *testing.T) string {
	t.Helper()
	repo := filepath.Join(t.TempDir(), "debian")
	files := map[string]string{
		"cluster.hcl": debianCluster,
		"overlays/facts/etc/systemd/system/gbfacts.service":     unit("gitboot e2e: facts on ttyS0", "/usr/local/sbin/gbfacts", "oneshot"),
		"overlays/facts/etc/systemd/system/gbwatch.service":     unit("gitboot e2e: watch on ttyS0", "/usr/local/sbin/gbwatch", "simple"),
		"overlays/facts/etc/systemd/system/gbmultiuser.service": multiUserUnit,
		"overlays/facts/usr/local/sbin/gbfacts":                 factsScript,
		"overlays/facts/usr/local/sbin/gbwatch":                 watchScript,
		"overlays/facts/etc/gbtest/system.conf":                 "system overlay file\n",
		"overlays/facts/etc/gbtest/alice.conf":                  "owned by a declared user\n",
		"overlays/site/etc/gbtest/secret.key":                   "not really a secret\n",
		"overlays/site/etc/gbtest/runtime.txt":                  "from-the-runtime-overlay\n",
		"overlays/site/etc/issue":                               issueOverlay + "\n",
	}
	return writeUnitRepo(t, repo, files, []string{"gbfacts.service", "gbwatch.service", "gbmultiuser.service"}, "debian test cluster")
}

// debianImage returns the cached Debian 12 image tar, made (or found
// current) by scripts/debian-image.sh, which runs mmdebstrap the first
// time (~4 min) and is a no-op afterwards.
func debianImage(t *testing.T) string {
	t.Helper()
	script := filepath.Join(repoRoot(), "scripts", "debian-image.sh")
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		cache := os.Getenv(cacheEnv)
		if cache == "" {
			cache = defaultCacheDir
		}
		if p := filepath.Join(cache, "debian12.tar"); haveFile(p) {
			return p
		}
		skipOrFail(t, "no Debian image in the cache and no mmdebstrap to make one: apt-get install mmdebstrap, then run %s", script)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, script)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		skipOrFail(t, "%s: %v\n%s", script, err, tail(stderr.String(), 20))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Logf("%s took %s:\n%s", script, d.Round(time.Second), stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// debianLab is gitboot serve in namespace srv, reaching the nodes on two
// bridges of namespace lan: br (the boot network, 10.99.0.0/24) and data
// (10.98.0.0/24, for d1's second NIC).
type debianLab struct {
	qemuLab
	data string
}

// startDebianLab starts gitboot serve on repo with image (and serveArgs)
// and waits until it serves a snapshot (the image packed).
func startDebianLab(t *testing.T, repo, image string, serveArgs ...string) *debianLab {
	t.Helper()
	l := &debianLab{qemuLab: qemuLab{bin: gitbootBinary(t), repo: repo, dir: t.TempDir()}}
	l.lan = netnstest.New(t, "gbdlan")
	l.br = l.lan.Bridge(t)
	l.data = l.lan.Bridge(t)
	l.srv = netnstest.New(t, "gbdsrv")
	netnstest.Attach(t, l.lan, l.br, l.srv, serverIP+"/24")
	netnstest.Attach(t, l.lan, l.data, l.srv, dataNetIP+"/24")

	start := time.Now()
	proc, log := l.srv.Start(t, l.bin, append([]string{"serve", "--repo", repo, "--state", filepath.Join(l.dir, "state"),
		"--var", "image_source=" + image, "--image-root", filepath.Dir(image)}, serveArgs...)...)
	l.log = log
	for {
		out, err := l.srv.Output(context.Background(), "curl", "-sf", "http://127.0.0.1:9873/healthz")
		if err == nil {
			break
		}
		if time.Since(start) > debianImageBuild || syscall.Kill(proc.Process.Pid, 0) != nil {
			t.Fatalf("gitboot serve did not serve a snapshot within %s: %v %s%s", debianImageBuild, err, out, l.report())
		}
		time.Sleep(time.Second)
	}
	t.Logf("gitboot serve packed the Debian image and answers after %s", time.Since(start).Round(100*time.Millisecond))
	return l
}

// startDebian powers on node's VM: the boot NIC on the lab's bridge, a
// second NIC (no option ROM) on the data bridge when dataMAC is set, and
// the firmware's arguments.
func (l *debianLab) startDebian(t *testing.T, node, ip, dataMAC string, firmware ...string) *qemuVM {
	t.Helper()
	vm := &qemuVM{node: node, ip: ip, serial: filepath.Join(l.dir, "serial-"+node+".log")}
	args := []string{"-accel", "tcg", "-smp", "1", "-m", debianMemory, "-nographic", "-monitor", "none",
		"-serial", "file:" + vm.serial,
		"-netdev", "tap,id=n0,ifname=" + l.lan.Tap(t, l.br) + ",script=no,downscript=no"}
	if dataMAC != "" {
		args = append(args, "-netdev", "tap,id=n1,ifname="+l.lan.Tap(t, l.data)+",script=no,downscript=no",
			"-device", "virtio-net-pci,netdev=n1,mac="+dataMAC+",romfile=")
	}
	args = append(args, firmware...)
	vm.start = time.Now()
	cmd, out := l.lan.Start(t, "qemu-system-x86_64", args...)
	vm.out, vm.pid = out, cmd.Process.Pid
	l.vms = append(l.vms, vm)
	return vm
}

// debianBIOS are the firmware arguments of a BIOS node: the boot NIC's
// iPXE option ROM boots it from the network.
func debianBIOS(mac string) []string {
	return []string{"-machine", "pc", "-no-reboot", "-boot", "n",
		"-device", "virtio-net-pci,netdev=n0,mac=" + mac + ",bootindex=0"}
}

// debianUEFI are the firmware arguments of an OVMF node (uefiArgs with
// the Debian memory size).
func debianUEFI(t *testing.T, mac string) []string {
	args := uefiArgs(t, mac)
	for i := range args {
		if args[i] == "-m" {
			args = append(args[:i], args[i+2:]...)
			break
		}
	}
	return args
}

var (
	multiUserRE = regexp.MustCompile(`GBMULTIUSER target=(\S+)`)
	factRE      = regexp.MustCompile(`GBFACT (.*)`)
	watchRE     = regexp.MustCompile(`GBWATCH (.*)`)
)

// lastWatch is the newest GBWATCH line's fields on vm's console, or nil.
func lastWatch(vm *qemuVM) map[string]string {
	all := watchRE.FindAllStringSubmatch(vm.console(), -1)
	if len(all) == 0 {
		return nil
	}
	return fields(all[len(all)-1][1])
}

// fields splits "k=v k=v" into a map.
func fields(s string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

// debianReport is what a failure shows of vm: gitboot's /init lines,
// systemd's failures and the test's GB* lines pulled out of the (long)
// console log, then the end of each VM's console without systemd's
// progress spinner, and the end of gitboot's log.
func (l *debianLab) debianReport(vm *qemuVM) string {
	var keep []string
	for _, line := range strings.Split(vm.console(), "\n") {
		if strings.Contains(line, "gitboot init:") || strings.Contains(line, "FAILED") ||
			strings.Contains(line, "Kernel panic") || strings.Contains(line, "GBFACT") || strings.Contains(line, "GBWATCH") || strings.Contains(line, "GBMULTIUSER") {
			keep = append(keep, line)
		}
	}
	s := fmt.Sprintf("\n--- %s: gitboot init, FAILED, GB* lines ---\n%s", vm.node, strings.Join(keep, "\n"))
	for _, v := range l.vms {
		var lines []string
		for _, line := range strings.Split(v.console(), "\n") {
			if !spinnerRE.MatchString(line) {
				lines = append(lines, line)
			}
		}
		s += fmt.Sprintf("\n--- %s serial log (tail) ---\n%s", v.node, tail(strings.Join(lines, "\n"), 40))
	}
	return s + fmt.Sprintf("\n--- gitboot serve log (tail) ---\n%s", tail(l.log.String(), 40))
}

// spinnerRE matches systemd's progress lines ("Job X/start running (5s / 1min 30s)").
var spinnerRE = regexp.MustCompile(`Job \S+ running \(`)

// writeUnitRepo writes files into a new git repository at repo, enables
// each of units under overlays/facts the way systemctl enable does (links
// in multi-user.target.wants) and commits it all on main with msg.
func writeUnitRepo(t *testing.T, repo string, files map[string]string, units []string, msg string) string {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wants := filepath.Join(repo, "overlays/facts/etc/systemd/system/multi-user.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		if err := os.Symlink("../"+u, filepath.Join(wants, u)); err != nil {
			t.Fatal(err)
		}
	}
	git(t, repo, "init", "-q", "-b", "main")
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-q", "-m", msg)
	return repo
}

// writeUnitRepoFile writes one file into the repository's work tree.
func writeUnitRepoFile(t *testing.T, repo, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(repo, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
