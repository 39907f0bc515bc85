package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/netnstest"
)

const (
	n2MAC    = "52:54:00:99:00:02"
	n2IP     = "10.99.0.12"
	ovmfCode = "/usr/share/OVMF/OVMF_CODE.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS.fd"
)

// TestQEMUBootUEFI boots node n2 of examples/lab through the whole PXE
// flow a UEFI machine goes through: an OVMF QEMU VM (TCG) whose NIC has no
// option ROM (empty romfile=), so OVMF's own PXE client asks gitboot's DHCP
// with arch 7 and vendor class PXEClient, fetches snponly.efi by TFTP and
// starts it; that iPXE asks DHCP again with user class iPXE, gets the
// script URL and loads the kernel and initrds over HTTP (with the
// initrd=NAME arguments UEFI kernels need). The image's init
// (testdata/qemu-init.sh) prints the marker line on ttyS0; then the TFTP
// transfer must be in gitboot's log and `gitboot status --json` must show
// n2 at RUNTIME_OVERLAY.
func TestQEMUBootUEFI(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireCommands(t, "qemu-system-x86_64", "git", "curl")
	for _, f := range []string{ovmfCode, ovmfVars} {
		if !haveFile(f) {
			skipOrFail(t, "UEFI firmware %s is missing: install ovmf", f)
		}
	}
	if !haveFile("/usr/lib/ipxe/snponly.efi") {
		skipOrFail(t, "/usr/lib/ipxe/snponly.efi is missing: install ipxe")
	}
	kernel := testKernel(t)
	bin := gitbootBinary(t)
	repo := labRepo(t)
	image := bootableImage(t, kernel)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	serial := filepath.Join(dir, "serial.log")
	vars := filepath.Join(dir, "OVMF_VARS.fd")
	copyFile(t, ovmfVars, vars, 0o644) // OVMF writes its variables here

	lan := netnstest.New(t, "gblan")
	br := lan.Bridge(t)
	srv := netnstest.New(t, "gbsrv")
	netnstest.Attach(t, lan, br, srv, serverIP+"/24")
	tap := lan.Tap(t, br)

	proc, log := srv.Start(t, bin, "serve", "--repo", repo, "--state", state, "--var", "image_source="+image)
	var vmOut *netnstest.SyncBuffer
	report := func() string {
		data, _ := os.ReadFile(serial)
		s := fmt.Sprintf("\n--- serial log (tail) ---\n%s\n--- gitboot serve log (tail) ---\n%s", tail(string(data), 60), tail(log.String(), 60))
		if vmOut != nil {
			s += "\n--- qemu output ---\n" + tail(vmOut.String(), 20)
		}
		return s
	}

	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := srv.Output(ctx, "curl", "-sf", "http://127.0.0.1:9873/healthz")
		if err == nil {
			break
		}
		if time.Now().After(deadline) || syscall.Kill(proc.Process.Pid, 0) != nil {
			t.Fatalf("gitboot serve did not become ready: %v %s%s", err, out, report())
		}
		time.Sleep(200 * time.Millisecond)
	}

	// No -no-reboot: OVMF may reset once on a fresh variable store, and a
	// reset PXE-boots again. The image's init powers off, which ends QEMU.
	start := time.Now()
	vm, out := lan.Start(t, "qemu-system-x86_64",
		"-accel", "tcg", "-machine", "q35", "-m", "512", "-smp", "1",
		"-nographic", "-monitor", "none", "-serial", "file:"+serial,
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+ovmfCode,
		"-drive", "if=pflash,format=raw,unit=1,file="+vars,
		"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=n",
		"-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac="+n2MAC+",romfile=,bootindex=0")
	vmOut = out

	markerRE := regexp.MustCompile(bootMarker + ` node=(\S*) hostname=(\S*) cluster=(\S*)`)
	var m []string
	for {
		data, _ := os.ReadFile(serial)
		if m = markerRE.FindStringSubmatch(string(data)); m != nil {
			break
		}
		if syscall.Kill(vm.Process.Pid, 0) != nil {
			data, _ = os.ReadFile(serial)
			if m = markerRE.FindStringSubmatch(string(data)); m != nil {
				break
			}
			t.Fatalf("the VM stopped after %s without reaching the image's init%s", time.Since(start).Round(time.Second), report())
		}
		if time.Since(start) > bootDeadline {
			t.Fatalf("no %s line on the serial console within %s%s", bootMarker, bootDeadline, report())
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("power-on to the image's init (UEFI): %s: %s", time.Since(start).Round(100*time.Millisecond), m[0])
	if m[1] != "n2" || m[2] != "n2" || m[3] != "lab" {
		t.Errorf("the node booted with node=%q hostname=%q cluster=%q; want n2 (kernel command line), n2 (runtime overlay), lab (system overlay)%s",
			m[1], m[2], m[3], report())
	}

	// The firmware's PXE client fetched snponly.efi by TFTP: the first
	// step of the real flow, which no BIOS QEMU boot exercises.
	if line := tftpSentLine(log.String(), "snponly.efi", n2IP, "n2"); line == "" {
		t.Errorf("no \"tftp: sent\" line for snponly.efi to n2 (%s) in the gitboot log%s", n2IP, report())
	} else {
		t.Logf("gitboot log: %s", line)
	}

	st, err := srv.Output(ctx, bin, "status", "--server", baseURL, "--json")
	if err != nil {
		t.Fatalf("gitboot status --json: %v\n%s%s", err, st, report())
	}
	n := findNode(t, st, "n2")
	if n.Stage != status.StageRuntimeOverlay || n.Sent != "runtime.img.gz" || n.Addr.String() != n2IP {
		t.Errorf("status of n2: stage %s sent %q from %s; want %s sent runtime.img.gz from %s%s",
			n.Stage, n.Sent, n.Addr, status.StageRuntimeOverlay, n2IP, report())
	}
	metrics, err := srv.Output(ctx, "curl", "-sf", baseURL+"/metrics")
	if err != nil {
		t.Fatalf("curl /metrics: %v\n%s", err, metrics)
	}
	for _, route := range []string{"ipxe", "kernel", "image", "system", "runtime"} {
		re := regexp.MustCompile(`(?m)^gitboot_http_requests_total\{code="200",route="` + route + `"\} ([0-9]+)$`)
		if c := re.FindStringSubmatch(string(metrics)); c == nil || c[1] == "0" {
			t.Errorf("/metrics shows no successful %s request:\n%s", route, grepLines(string(metrics), "gitboot_http_requests_total"))
		}
	}
	// gitboot_tftp_transfers_total: reported, not asserted (the log line
	// above is the check), since the TFTP server does not feed it yet.
	if c := regexp.MustCompile(`(?m)^gitboot_tftp_transfers_total\{result="ok"\} ([0-9]+)$`).FindStringSubmatch(string(metrics)); c == nil || c[1] == "0" {
		t.Logf("note: /metrics counts no TFTP transfer although one was logged: %q", grepLines(string(metrics), "gitboot_tftp_transfers_total"))
	}

	for wait := time.Now().Add(30 * time.Second); syscall.Kill(vm.Process.Pid, 0) == nil && time.Now().Before(wait); {
		time.Sleep(250 * time.Millisecond)
	}
	if syscall.Kill(vm.Process.Pid, 0) == nil {
		t.Logf("the VM did not power off within 30 s of the marker; killing it")
	}
}

// tftpSentLine returns the first "tftp: sent" line of a gitboot log (text
// or JSON handler) that names file, client and node, or "".
func tftpSentLine(log, file, client, node string) string {
	var res []*regexp.Regexp
	for _, kv := range [][2]string{{"file", file}, {"client", client}, {"node", node}} {
		res = append(res, regexp.MustCompile(`\b`+kv[0]+`"?[=:]"?`+regexp.QuoteMeta(kv[1])+`(["\s]|$)`))
	}
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, "tftp: sent") {
			continue
		}
		if res[0].MatchString(l) && res[1].MatchString(l) && res[2].MatchString(l) {
			return l
		}
	}
	return ""
}
