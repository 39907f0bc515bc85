package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// The lab's BMC network: ipmi_sim listens on the lab's bridge, beside the
// nodes, so the server reaches it as it would a rack's BMC network.
const (
	bmcIP   = "10.99.0.250"
	bmcUser = "admin"
	bmcPass = "secret"
)

// ipmiBMC is OpenIPMI's ipmi_sim acting as n1's BMC: a lanplus BMC whose
// power on runs vm.sh (QEMU with an ipmi-bmc-extern device connected back
// to ipmi_sim), and whose power off, reset and cycle go to that QEMU.
type ipmiBMC struct {
	dir, serial string
	out         *netnstest.SyncBuffer
}

// startIPMIBMC writes ipmi_sim's configuration for node (mac) of lab l and
// starts it in the lab's namespace, powered off.
func startIPMIBMC(t *testing.T, l *qemuLab, node, mac string) *ipmiBMC {
	t.Helper()
	b := &ipmiBMC{dir: filepath.Join(l.dir, "bmc-"+node)}
	b.serial = filepath.Join(b.dir, "serial.log")
	if err := os.MkdirAll(filepath.Join(b.dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	l.lan.MustIP(t, "addr", "add", bmcIP+"/24", "dev", l.br)
	tap := l.lan.Tap(t, l.br)
	vm := fmt.Sprintf(`#!/bin/sh
echo $$ > %[1]s/qemu.pid
exec qemu-system-x86_64 -accel tcg -smp 1 -nographic -monitor none -machine pc -m 384 -boot n \
  -chardev file,id=con,path=%[2]s,append=on -serial chardev:con \
  -netdev tap,id=n0,ifname=%[3]s,script=no,downscript=no -device virtio-net-pci,netdev=n0,mac=%[4]s \
  -chardev socket,id=ipmi0,host=127.0.0.1,port=9002,reconnect=10 \
  -device ipmi-bmc-extern,id=bmc0,chardev=ipmi0 -device isa-ipmi-bt,bmc=bmc0 >>%[1]s/qemu.out 2>&1
`, b.dir, b.serial, tap, mac)
	write := func(name, data string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(b.dir, name), []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("vm.sh", vm, 0o755)
	write("lan.conf", fmt.Sprintf(`name "%s-bmc"
set_working_mc 0x20
  startlan 1
    addr %s 623
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  serial 15 127.0.0.1 9002 codec VM
  startcmd "%s"
  startnow false
  user 2 true "%s" "%s" admin 10 none md2 md5 straight
`, node, bmcIP, filepath.Join(b.dir, "vm.sh"), bmcUser, bmcPass), 0o644)
	write("cmds.emu", "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n", 0o644)
	_, b.out = l.lan.Start(t, "ipmi_sim", "-c", filepath.Join(b.dir, "lan.conf"), "-f", filepath.Join(b.dir, "cmds.emu"), "-n", "-s", filepath.Join(b.dir, "state"))
	t.Cleanup(func() {
		if pid, ok := b.qemuPID(); ok {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return b
}

// qemuPID is the pid of the QEMU vm.sh started last, if it runs.
func (b *ipmiBMC) qemuPID() (int, bool) {
	data, err := os.ReadFile(filepath.Join(b.dir, "qemu.pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid, err == nil && syscall.Kill(pid, 0) == nil
}

func (b *ipmiBMC) console() string {
	data, _ := os.ReadFile(b.serial)
	return strings.ReplaceAll(string(data), "\r", "")
}

func (b *ipmiBMC) report() string {
	qemu, _ := os.ReadFile(filepath.Join(b.dir, "qemu.out"))
	return fmt.Sprintf("\n--- serial log (tail) ---\n%s\n--- qemu output ---\n%s\n--- ipmi_sim output ---\n%s",
		tail(b.console(), 40), tail(string(qemu), 20), tail(b.out.String(), 20))
}

// waitBoots waits until the serial log holds n boot markers.
func (b *ipmiBMC) waitBoots(t *testing.T, l *qemuLab, n int) {
	t.Helper()
	deadline := time.Now().Add(bootDeadline)
	for strings.Count(b.console(), bootMarker+" ") < n {
		if time.Now().After(deadline) {
			t.Fatalf("boot %d: no %s line within %s%s%s", n, bootMarker, bootDeadline, b.report(), l.report())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// powerCmd runs `gitboot power ARGS` in the server's namespace.
func powerCmd(l *qemuLab, args ...string) (string, error) {
	out, err := l.srv.Output(context.Background(), l.bin, append([]string{"power"}, args...)...)
	return string(out), err
}

// tableRow finds node's row of the power table: POWER and RESULT.
func tableRow(out, node string) (power, result string, ok bool) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == node {
			return f[1], strings.Join(f[2:], " "), true
		}
	}
	return "", "", false
}

// TestPowerIPMI: n1 of the lab has ipmi_sim as its BMC (lanplus on the
// lab's network). `gitboot power status` reads off; `power on` boots it
// through gitboot to RUNTIME_OVERLAY; `power cycle` boots it a second
// time, `power reset` a third; `power off` stops its QEMU; a wrong password is a clear failure in
// the table and exit status 1.
func TestPowerIPMI(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireCommands(t, "qemu-system-x86_64", "git", "curl", "ipmi_sim")
	kernel := testKernel(t)
	repo, creds, bad := ipmiLabRepo(t)

	l := startQEMULabRepo(t, kernel, repo, "--bmc-credentials", creds)
	b := startIPMIBMC(t, l, "n1", n1MAC)
	local := []string{"--repo", repo, "--bmc-credentials", creds, "--timeout", "60s"}
	run := func(action string, wantPower string) {
		t.Helper()
		var out string
		var err error
		// ipmi_sim may need a moment to listen after it started.
		for try := 0; try < 20; try++ {
			if out, err = powerCmd(l, append([]string{action, "n1"}, local...)...); err == nil || action != "status" {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		p, res, ok := tableRow(out, "n1")
		if err != nil || !ok || p != wantPower || res != "ok" {
			t.Fatalf("gitboot power %s n1: %v\n%s\nwant n1 %s ok%s", action, err, out, wantPower, b.report())
		}
		t.Logf("gitboot power %s n1:\n%s", action, out)
	}

	run("status", "off")
	if _, running := b.qemuPID(); running {
		t.Fatalf("QEMU runs before power on%s", b.report())
	}

	on := time.Now()
	run("on", "on")
	b.waitBoots(t, l, 1)
	t.Logf("power on to the image's init: %s", time.Since(on).Round(100*time.Millisecond))
	n := l.nodeStatus(t, "n1")
	if n.Stage != status.StageRuntimeOverlay || n.Addr.String() != "10.99.0.11" {
		t.Errorf("n1 after power on: stage %s from %s, want %s from 10.99.0.11%s", n.Stage, n.Addr, status.StageRuntimeOverlay, l.report())
	}
	if !regexp.MustCompile(bootMarker + ` node=n1 hostname=n1 `).MatchString(b.console()) {
		t.Errorf("n1's console has no marker for n1%s", b.report())
	}

	run("cycle", "on")
	b.waitBoots(t, l, 2)
	t.Logf("a second boot after power cycle")
	run("reset", "on")
	b.waitBoots(t, l, 3)
	t.Logf("a third boot after power reset")

	run("off", "off")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		if _, running := b.qemuPID(); !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("QEMU still runs 30 s after power off%s", b.report())
		}
	}
	run("status", "off")

	checkServerPower(t, l)

	// A wrong password: the row says so, the exit status is 1.
	out, err := powerCmd(l, "status", "n1", "--repo", repo, "--bmc-credentials", bad, "--timeout", "20s")
	p, res, _ := tableRow(out, "n1")
	if err == nil || p != "unknown" || !strings.Contains(res, "FAILED: ipmi "+bmcIP+":623: the BMC refused the user name or password") {
		t.Errorf("gitboot power status with a wrong password: %v\n%s\nwant exit status 1 and n1 unknown FAILED: ... refused the user name or password", err, out)
	}
	t.Logf("with a wrong password:\n%s", out)
}

// ipmiLabRepo returns examples/lab with n1 given an IPMI BMC (credentials
// "lab") and kernel arguments that keep it up, committed, and two BMC
// credentials files: creds with the right password, bad with a wrong one.
func ipmiLabRepo(t *testing.T) (repo, creds, bad string) {
	t.Helper()
	repo = labRepo(t)
	nodes := filepath.Join(repo, "nodes.hcl")
	data, err := os.ReadFile(nodes)
	if err != nil {
		t.Fatal(err)
	}
	n1 := "  tags     = { slot = \"1\" }\n"
	if !strings.Contains(string(data), n1) {
		t.Fatalf("nodes.hcl has no %q", n1)
	}
	withBMC := strings.Replace(string(data), n1, n1+`  kernel_args = ["console=ttyS0", "quiet", "e2e.stay", "no_timer_check"]
  bmc {
    driver      = "ipmi"
    address     = "`+bmcIP+`"
    credentials = "lab"
  }
`, 1)
	if err := os.WriteFile(nodes, []byte(withBMC), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "commit", "-q", "-am", "n1: a BMC, and stay up")
	creds = filepath.Join(t.TempDir(), "bmc.hcl")
	bad = filepath.Join(t.TempDir(), "bmc-bad.hcl")
	for path, pw := range map[string]string{creds: bmcPass, bad: "wrong"} {
		if err := os.WriteFile(path, []byte(fmt.Sprintf("credentials \"lab\" {\n  username = %q\n  password = %q\n}\n", bmcUser, pw)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return repo, creds, bad
}

// checkServerPower: the server does what gitboot power does with its own
// credentials (POST /power on the admin listener), for a client on its
// host only; n1's status names its BMC.
func checkServerPower(t *testing.T, l *qemuLab) {
	out, err := powerCmd(l, "status", "--all", "--server", adminURL, "--json")
	if err != nil || !strings.Contains(out, `"node": "n1"`) || !strings.Contains(out, `"power": "off"`) || !strings.Contains(out, `"ok": true`) {
		t.Errorf("gitboot power status --all --server: %v\n%s", err, out)
	}
	if out, err := l.lan.Output(context.Background(), "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
		"-d", `{"action":"status","all":true}`, "http://"+serverIP+":9873/power"); err != nil || string(out) != "404" {
		t.Errorf("POST /power on the boot port from the lab's network: %v %s, want 404 (an operator route)", err, out)
	}
	if n := l.nodeStatus(t, "n1"); n.BMC != "ipmi "+bmcIP+":623" {
		t.Errorf("gitboot status --json: n1's bmc %q, want ipmi %s:623", n.BMC, bmcIP)
	}
}
