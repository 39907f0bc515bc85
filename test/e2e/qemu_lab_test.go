package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// qemuLab is `gitboot serve` on examples/lab in namespace srv, attached at
// 10.99.0.1/24 to a bridge in namespace lan that also holds a tap for one
// QEMU VM. The BIOS and UEFI boot tests share it.
type qemuLab struct {
	bin, serial string
	lan, srv    *netnstest.NS
	tap         string
	log         *netnstest.SyncBuffer
	vm          *netnstest.SyncBuffer // QEMU's own output, once it runs
	vmPid       int
	start       time.Time
}

// startQEMULab builds the image around kernel, starts gitboot serve and
// waits until it answers.
func startQEMULab(t *testing.T, kernel string) *qemuLab {
	t.Helper()
	l := &qemuLab{bin: gitbootBinary(t)}
	repo := labRepo(t)
	image := bootableImage(t, kernel)
	dir := t.TempDir()
	l.serial = filepath.Join(dir, "serial.log")
	l.lan = netnstest.New(t, "gblan")
	br := l.lan.Bridge(t)
	l.srv = netnstest.New(t, "gbsrv")
	netnstest.Attach(t, l.lan, br, l.srv, serverIP+"/24")
	l.tap = l.lan.Tap(t, br)

	proc, log := l.srv.Start(t, l.bin, "serve", "--repo", repo, "--state", filepath.Join(dir, "state"), "--var", "image_source="+image)
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

// report is the tail of the serial console, gitboot's log and QEMU's
// output, for failure messages.
func (l *qemuLab) report() string {
	data, _ := os.ReadFile(l.serial)
	s := fmt.Sprintf("\n--- serial log (tail) ---\n%s\n--- gitboot serve log (tail) ---\n%s", tail(string(data), 60), tail(l.log.String(), 60))
	if l.vm != nil {
		s += "\n--- qemu output ---\n" + tail(l.vm.String(), 20)
	}
	return s
}

// boot starts QEMU (TCG, serial console to the log file, NIC on the lab's
// tap) with the extra arguments, waits for the image's init to print its
// marker and checks that node booted with all four layers. It returns the
// time from power-on to the marker.
func (l *qemuLab) boot(t *testing.T, node string, qemuArgs ...string) time.Duration {
	t.Helper()
	args := append([]string{"-accel", "tcg", "-smp", "1", "-nographic", "-monitor", "none", "-serial", "file:" + l.serial,
		"-netdev", "tap,id=n0,ifname=" + l.tap + ",script=no,downscript=no"}, qemuArgs...)
	l.start = time.Now()
	vm, out := l.lan.Start(t, "qemu-system-x86_64", args...)
	l.vm, l.vmPid = out, vm.Process.Pid

	// Wait for the marker; a VM that stops before printing it failed.
	markerRE := regexp.MustCompile(bootMarker + ` node=(\S*) hostname=(\S*) cluster=(\S*)`)
	var m []string
	for {
		data, _ := os.ReadFile(l.serial)
		if m = markerRE.FindStringSubmatch(string(data)); m != nil {
			break
		}
		if syscall.Kill(l.vmPid, 0) != nil {
			// Gone: read once more, it may have printed and powered off.
			data, _ = os.ReadFile(l.serial)
			if m = markerRE.FindStringSubmatch(string(data)); m != nil {
				break
			}
			t.Fatalf("the VM stopped after %s without reaching the image's init%s", time.Since(l.start).Round(time.Second), l.report())
		}
		if time.Since(l.start) > bootDeadline {
			t.Fatalf("no %s line on the serial console within %s%s", bootMarker, bootDeadline, l.report())
		}
		time.Sleep(250 * time.Millisecond)
	}
	took := time.Since(l.start)
	t.Logf("power-on to the image's init: %s: %s", took.Round(100*time.Millisecond), m[0])
	if m[1] != node || m[2] != node || m[3] != "lab" {
		t.Errorf("the node booted with node=%q hostname=%q cluster=%q; want %s (kernel command line), %s (runtime overlay), lab (system overlay)%s",
			m[1], m[2], m[3], node, node, l.report())
	}
	return took
}

// checkServed asserts that gitboot recorded node's whole boot path: status
// at RUNTIME_OVERLAY from ip, and a successful request on every HTTP
// route. It returns the /metrics text.
func (l *qemuLab) checkServed(t *testing.T, node, ip string) string {
	t.Helper()
	ctx := context.Background()
	st, err := l.srv.Output(ctx, l.bin, "status", "--server", baseURL, "--json")
	if err != nil {
		t.Fatalf("gitboot status --json: %v\n%s%s", err, st, l.report())
	}
	n := findNode(t, st, node)
	if n.Stage != status.StageRuntimeOverlay || n.Sent != "runtime.img.gz" || n.Addr.String() != ip {
		t.Errorf("status of %s: stage %s sent %q from %s; want %s sent runtime.img.gz from %s%s",
			node, n.Stage, n.Sent, n.Addr, status.StageRuntimeOverlay, ip, l.report())
	}
	metrics, err := l.srv.Output(ctx, "curl", "-sf", baseURL+"/metrics")
	if err != nil {
		t.Fatalf("curl /metrics: %v\n%s", err, metrics)
	}
	for _, route := range []string{"ipxe", "kernel", "image", "system", "runtime"} {
		re := regexp.MustCompile(`(?m)^gitboot_http_requests_total\{code="200",route="` + route + `"\} ([0-9]+)$`)
		if c := re.FindStringSubmatch(string(metrics)); c == nil || c[1] == "0" {
			t.Errorf("/metrics shows no successful %s request:\n%s", route, grepLines(string(metrics), "gitboot_http_requests_total"))
		}
	}
	return string(metrics)
}

// waitPowerOff gives the VM 30 s to power off after its marker. Not a
// failure if it is slow: netnstest kills it at cleanup either way.
func (l *qemuLab) waitPowerOff(t *testing.T) {
	for wait := time.Now().Add(30 * time.Second); syscall.Kill(l.vmPid, 0) == nil && time.Now().Before(wait); {
		time.Sleep(250 * time.Millisecond)
	}
	if syscall.Kill(l.vmPid, 0) == nil {
		t.Logf("the VM did not power off within 30 s of the marker; killing it")
	}
}
