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

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// labNodes are examples/lab's nodes: MAC and address.
var labNodes = map[string]struct{ mac, ip string }{
	"n1": {n1MAC, "10.99.0.11"},
	"n2": {n2MAC, n2IP},
}

// qemuLab is `gitboot serve` on examples/lab in namespace srv, attached at
// 10.99.0.1/24 to a bridge in namespace lan that also holds a tap per QEMU
// VM. The BIOS, UEFI and agent tests share it.
type qemuLab struct {
	bin, repo, dir string
	lan, srv       *netnstest.NS
	br             string
	log            *netnstest.SyncBuffer
	vms            []*qemuVM
	hasAgent       *bool // the system overlay holds /usr/lib/gitboot/gitboot-agent
}

// qemuVM is one node's VM.
type qemuVM struct {
	node, ip, serial string
	out              *netnstest.SyncBuffer // QEMU's own output
	pid              int
	start            time.Time
}

// startQEMULab builds the image around kernel, starts gitboot serve on a
// fresh copy of examples/lab and waits until it answers.
func startQEMULab(t *testing.T, kernel string) *qemuLab {
	t.Helper()
	return startQEMULabRepo(t, kernel, labRepo(t))
}

// startQEMULabRepo is startQEMULab on the repository repo (a work tree
// whose branch main holds the lab), with extra arguments for serve.
func startQEMULabRepo(t *testing.T, kernel, repo string, serveArgs ...string) *qemuLab {
	t.Helper()
	return startQEMULabImage(t, kernel, repo, nil, serveArgs...)
}

// startQEMULabImage is startQEMULabRepo with editImage run on the image
// tree (bootableImage) before gitboot serves it; nil leaves it alone.
func startQEMULabImage(t *testing.T, kernel, repo string, editImage func(dir string), serveArgs ...string) *qemuLab {
	t.Helper()
	l := &qemuLab{bin: gitbootBinary(t), repo: repo, dir: t.TempDir()}
	image := bootableImage(t, kernel)
	if editImage != nil {
		editImage(image)
	}
	l.lan = netnstest.New(t, "gblan")
	l.br = l.lan.Bridge(t)
	l.srv = netnstest.New(t, "gbsrv")
	netnstest.Attach(t, l.lan, l.br, l.srv, serverIP+"/24")

	proc, log := l.srv.Start(t, l.bin, append([]string{"serve", "--repo", repo, "--state", filepath.Join(l.dir, "state"), "--var", "image_source=" + image, "--image-root", filepath.Dir(image)}, serveArgs...)...)
	l.log = log
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := l.srv.Output(context.Background(), "curl", "-sf", "http://127.0.0.1:9873/healthz")
		if err == nil {
			return l
		}
		if time.Now().After(deadline) || syscall.Kill(proc.Process.Pid, 0) != nil {
			t.Fatalf("gitboot serve did not become ready: %v %s%s", err, out, l.report())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// report is the tail of each VM's serial console, gitboot's log and QEMU's
// output, for failure messages.
func (l *qemuLab) report() string {
	var s string
	for _, vm := range l.vms {
		data, _ := os.ReadFile(vm.serial)
		s += fmt.Sprintf("\n--- %s serial log (tail) ---\n%s", vm.node, tail(strings.ReplaceAll(string(data), "\r", ""), 60))
		s += fmt.Sprintf("\n--- %s qemu output ---\n%s", vm.node, tail(vm.out.String(), 20))
	}
	return s + fmt.Sprintf("\n--- gitboot serve log (tail) ---\n%s", tail(l.log.String(), 60))
}

// start powers on node's VM: QEMU (TCG, serial console to a log file, NIC
// on a new tap of the lab's bridge) with the extra arguments.
func (l *qemuLab) start(t *testing.T, node string, qemuArgs ...string) *qemuVM {
	t.Helper()
	vm := &qemuVM{node: node, ip: labNodes[node].ip, serial: filepath.Join(l.dir, "serial-"+node+".log")}
	tap := l.lan.Tap(t, l.br)
	args := append([]string{"-accel", "tcg", "-smp", "1", "-nographic", "-monitor", "none", "-serial", "file:" + vm.serial,
		"-netdev", "tap,id=n0,ifname=" + tap + ",script=no,downscript=no"}, qemuArgs...)
	vm.start = time.Now()
	cmd, out := l.lan.Start(t, "qemu-system-x86_64", args...)
	vm.out, vm.pid = out, cmd.Process.Pid
	l.vms = append(l.vms, vm)
	return vm
}

// console is the VM's serial log so far, without carriage returns.
func (vm *qemuVM) console() string {
	data, _ := os.ReadFile(vm.serial)
	return strings.ReplaceAll(string(data), "\r", "")
}

func (vm *qemuVM) running() bool { return syscall.Kill(vm.pid, 0) == nil }

// markerRE matches the line the image's init (testdata/qemu-init.sh)
// prints first.
var markerRE = regexp.MustCompile(bootMarker + ` node=(\S*) hostname=(\S*) cluster=(\S*) uname=(\S*) net=(\S*) http=(\S*)`)

// waitBooted waits for the image's init to print its marker and checks
// what the node booted with: every layer, and gitboot's /init before the
// image's (network, hostname, agent, exec). It returns the time from
// power-on to the marker.
func (l *qemuLab) waitBooted(t *testing.T, vm *qemuVM) time.Duration {
	t.Helper()
	var m []string
	for {
		if m = markerRE.FindStringSubmatch(vm.console()); m != nil {
			break
		}
		if !vm.running() {
			// Gone: read once more, it may have printed and powered off.
			if m = markerRE.FindStringSubmatch(vm.console()); m != nil {
				break
			}
			t.Fatalf("%s: the VM stopped after %s without reaching the image's init%s", vm.node, time.Since(vm.start).Round(time.Second), l.report())
		}
		if time.Since(vm.start) > bootDeadline {
			t.Fatalf("%s: no %s line on the serial console within %s%s", vm.node, bootMarker, bootDeadline, l.report())
		}
		time.Sleep(250 * time.Millisecond)
	}
	took := time.Since(vm.start)
	t.Logf("%s: power-on to the image's init: %s: %s", vm.node, took.Round(100*time.Millisecond), m[0])
	node := vm.node
	if m[1] != node || m[2] != node || m[3] != "lab" {
		t.Errorf("%s booted with node=%q hostname=%q cluster=%q; want %s (kernel command line), %s (runtime overlay), lab (system overlay)%s",
			node, m[1], m[2], m[3], node, node, l.report())
	}
	// What gitboot's /init did, as the image sees it.
	if m[4] != node {
		t.Errorf("%s: the kernel's hostname is %q after gitboot's /init; want %s", node, m[4], node)
	}
	if !strings.Contains(","+m[5]+",", "="+vm.ip+"/24,") {
		t.Errorf("%s: interfaces %s after gitboot's /init; want %s/24 on the boot interface%s", node, m[5], vm.ip, l.report())
	}
	if m[6] != "ok" {
		t.Errorf("%s: the image's init could not reach gitboot over HTTP (http=%s)%s", node, m[6], l.report())
	}
	l.checkInitLines(t, vm)
	return took
}

// checkInitLines asserts the lines gitboot's /init printed on the console,
// in order, before the image's init ran: no failure line, the runtime
// overlay applied from the initrd (outside secure mode), the network up
// with the node's address, the hostname, the agent, the exec.
func (l *qemuLab) checkInitLines(t *testing.T, vm *qemuVM) {
	t.Helper()
	log := vm.console()
	marker := strings.Index(log, bootMarker)
	var lines []string
	for _, line := range strings.Split(log[:marker], "\n") {
		if i := strings.Index(line, "gitboot init: "); i >= 0 {
			lines = append(lines, line[i:])
		}
	}
	t.Logf("%s: gitboot's /init said:\n\t%s", vm.node, strings.Join(lines, "\n\t"))
	agent := `gitboot init: agent: /usr/lib/gitboot/gitboot-agent missing`
	if l.systemHasAgent(t) {
		agent = `gitboot init: agent: started, pid [0-9]+ \(every \S+ from http://10\.99\.0\.1:9873\)`
	}
	want := []string{
		`gitboot init: starting \(node ` + vm.node + `, mac ` + labNodes[vm.node].mac + `, server http://10\.99\.0\.1:9873; [0-9.]+ s after the kernel started\)`,
		`gitboot init: network \S+ ` + regexp.QuoteMeta(vm.ip) + `/24 up, gateway 10\.99\.0\.1`,
		`gitboot init: hostname ` + vm.node,
		agent,
		`gitboot init: exec /sbin/init \([0-9.]+ s after the kernel started\)`,
	}
	next := 0
	for _, line := range lines {
		if next < len(want) && regexp.MustCompile(`^`+want[next]+`$`).MatchString(line) {
			next++
			continue
		}
		if strings.HasPrefix(line, "gitboot init: root: ") && next == 1 {
			continue // root = "tmpfs": the move into a tmpfs, before the network
		}
		if next == 1 && regexp.MustCompile(`^gitboot init: runtime overlay applied from the initrd \([0-9]+ files\)$`).MatchString(line) {
			continue // not secure_runtime: the agent applied /runtime-initrd/'s file, before the network
		}
		if !strings.HasPrefix(line, "gitboot init: agent: ") || next != 3 {
			t.Errorf("%s: unexpected line from gitboot's /init: %q", vm.node, line)
		}
	}
	if next < len(want) {
		t.Errorf("%s: gitboot's /init printed no line matching %q before the image's init (in this order: %q)%s", vm.node, want[next], want, l.report())
	}
}

// systemHasAgent reports whether the system overlays gitboot built hold
// /usr/lib/gitboot/gitboot-agent, where /init looks for it (the agent is
// added to the built-in init overlay by its own change). It reads the artifact store in gitboot's state
// directory: fetching /system/{mac} would count as the node's own boot.
func (l *qemuLab) systemHasAgent(t *testing.T) bool {
	t.Helper()
	if l.hasAgent != nil {
		return *l.hasAgent
	}
	files, _ := filepath.Glob(filepath.Join(l.dir, "state", "artifacts", "sha256", "*"))
	if len(files) == 0 {
		t.Fatalf("no artifacts in %s", filepath.Join(l.dir, "state", "artifacts", "sha256"))
	}
	has := false
	for _, f := range files {
		out, err := exec.Command("sh", "-c", `gzip -dc "$1" | cpio -it --quiet`, "sh", f).Output()
		if err != nil {
			continue // not an archive (a kernel)
		}
		for _, name := range strings.Fields(string(out)) {
			if strings.TrimPrefix(name, "./") == "usr/lib/gitboot/gitboot-agent" {
				has = true
			}
		}
	}
	l.hasAgent = &has
	return has
}

// boot powers on node's VM and waits until it booted (waitBooted).
func (l *qemuLab) boot(t *testing.T, node string, qemuArgs ...string) (*qemuVM, time.Duration) {
	t.Helper()
	vm := l.start(t, node, qemuArgs...)
	return vm, l.waitBooted(t, vm)
}

// biosArgs are QEMU's arguments for a BIOS node with mac: the NIC's iPXE
// option ROM boots it from the network.
func biosArgs(mac string) []string {
	return []string{"-machine", "pc", "-m", "384", "-no-reboot", "-boot", "n",
		"-device", "virtio-net-pci,netdev=n0,mac=" + mac}
}

// uefiArgs are QEMU's arguments for a UEFI (OVMF) node with mac: no option
// ROM, so OVMF's own PXE client runs the real flow. No -no-reboot: OVMF may
// reset once on a fresh variable store, and a reset PXE-boots again.
func uefiArgs(t *testing.T, mac string) []string {
	vars := filepath.Join(t.TempDir(), "OVMF_VARS.fd")
	copyFile(t, ovmfVars, vars, 0o644) // OVMF writes its variables here
	return []string{"-machine", "q35", "-m", "512",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + ovmfCode,
		"-drive", "if=pflash,format=raw,unit=1,file=" + vars,
		"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=n",
		"-device", "virtio-net-pci,netdev=n0,mac=" + mac + ",romfile=,bootindex=0"}
}

// nodeStatus returns node's record from `gitboot status --json`.
func (l *qemuLab) nodeStatus(t *testing.T, node string) status.NodeRecord {
	t.Helper()
	st, err := l.srv.Output(context.Background(), l.bin, "status", "--server", adminURL, "--json")
	if err != nil {
		t.Fatalf("gitboot status --json: %v\n%s%s", err, st, l.report())
	}
	return findNode(t, st, node)
}

// checkServed asserts that gitboot recorded node's whole boot path: status
// at RUNTIME_OVERLAY from ip, and a successful request on every HTTP
// route. It returns the /metrics text.
func (l *qemuLab) checkServed(t *testing.T, node, ip string) string {
	t.Helper()
	n := l.nodeStatus(t, node)
	if n.Stage != status.StageRuntimeOverlay || n.Sent != "runtime.img.gz" || n.Addr.String() != ip {
		t.Errorf("status of %s: stage %s sent %q from %s; want %s sent runtime.img.gz from %s%s",
			node, n.Stage, n.Sent, n.Addr, status.StageRuntimeOverlay, ip, l.report())
	}
	metrics, err := l.srv.Output(context.Background(), "curl", "-sf", adminURL+"/metrics")
	if err != nil {
		t.Fatalf("curl /metrics: %v\n%s", err, metrics)
	}
	// The runtime overlay reaches a booting node in its initrd
	// (/runtime-initrd/, from iPXE) or, secure or later, from the agent
	// over HTTPS (/runtime/): either counts.
	for _, route := range []string{"ipxe", "kernel", "image", "system", "runtime(?:-initrd)?"} {
		re := regexp.MustCompile(`(?m)^gitboot_http_requests_total\{code="200",route="` + route + `"\} ([0-9]+)$`)
		if c := re.FindStringSubmatch(string(metrics)); c == nil || c[1] == "0" {
			t.Errorf("/metrics shows no successful %s request:\n%s", route, grepLines(string(metrics), "gitboot_http_requests_total"))
		}
	}
	return string(metrics)
}

// waitPowerOff gives the VM 30 s to power off after its marker. Not a
// failure if it is slow: netnstest kills it at cleanup either way.
func (l *qemuLab) waitPowerOff(t *testing.T, vm *qemuVM) {
	for wait := time.Now().Add(30 * time.Second); vm.running() && time.Now().Before(wait); {
		time.Sleep(250 * time.Millisecond)
	}
	if vm.running() {
		t.Logf("%s: the VM did not power off within 30 s of the marker; killing it", vm.node)
	}
}
