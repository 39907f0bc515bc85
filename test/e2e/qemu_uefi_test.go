package e2e

import (
	"regexp"
	"strings"
	"testing"

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
// initrd=NAME arguments UEFI kernels need). gitboot's /init brings up the
// network and execs the image's init (testdata/qemu-init.sh), which prints
// the marker line on ttyS0; then the TFTP
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
	l := startQEMULab(t, testKernel(t))
	vm, _ := l.boot(t, "n2", uefiArgs(t, n2MAC)...)

	// The firmware's PXE client fetched snponly.efi by TFTP: the first
	// step of the real flow, which no BIOS QEMU boot exercises.
	if line := tftpSentLine(l.log.String(), "snponly.efi", n2IP, "n2"); line == "" {
		t.Errorf("no \"tftp: sent\" line for snponly.efi to n2 (%s) in the gitboot log%s", n2IP, l.report())
	} else {
		t.Logf("gitboot log: %s", line)
	}
	metrics := l.checkServed(t, "n2", n2IP)
	if c := regexp.MustCompile(`(?m)^gitboot_tftp_transfers_total\{result="ok"\} ([0-9]+)$`).FindStringSubmatch(metrics); c == nil || c[1] == "0" {
		t.Errorf("/metrics counts no TFTP transfer although one was logged: %q", grepLines(metrics, "gitboot_tftp_transfers_total"))
	}
	l.waitPowerOff(t, vm)
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
