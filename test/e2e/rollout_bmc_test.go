package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/netnstest"
)

// simBMC is one OpenIPMI ipmi_sim: a lanplus BMC on addr:623 in the lab's
// bridge namespace whose "power on" starts the node's QEMU VM (vm.sh) and
// whose "power off" stops it, as TESTING.md describes.
type simBMC struct {
	node, addr, serial string
	pidFile            string // vm.sh writes QEMU's pid here
	log                *netnstest.SyncBuffer
}

// simBMCUser and simBMCPassword are the BMCs' administrator account.
const (
	simBMCUser     = "admin"
	simBMCPassword = "secret"
)

// startSimBMC starts node's BMC at addr (added to the bridge) with its VM
// on a new tap of the bridge; vmPort is the local TCP port between the BMC
// and QEMU's ipmi-bmc-extern device. The VM is off until powered on.
func startSimBMC(t *testing.T, l *qemuLab, node, mac, addr string, vmPort int) *simBMC {
	t.Helper()
	dir := filepath.Join(l.dir, "bmc-"+node)
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	b := &simBMC{node: node, addr: addr, serial: filepath.Join(l.dir, "serial-"+node+".log"), pidFile: filepath.Join(dir, "qemu.pid")}
	l.lan.MustIP(t, "addr", "add", addr+"/24", "dev", l.br)
	tap := l.lan.Tap(t, l.br)
	// The console appends, so every boot of the VM stays in one log.
	qemu := []string{"qemu-system-x86_64", "-accel", "tcg", "-smp", "1", "-nographic", "-monitor", "none",
		"-chardev", "file,id=ser0,path=" + b.serial + ",append=on", "-serial", "chardev:ser0",
		"-netdev", "tap,id=n0,ifname=" + tap + ",script=no,downscript=no",
		"-machine", "pc", "-m", "384", "-boot", "n", "-device", "virtio-net-pci,netdev=n0,mac=" + mac,
		"-chardev", "socket,id=ipmi0,host=127.0.0.1,port=" + strconv.Itoa(vmPort) + ",reconnect=10",
		"-device", "ipmi-bmc-extern,id=bmc0,chardev=ipmi0", "-device", "isa-ipmi-bt,bmc=bmc0"}
	script := "#!/bin/sh\necho $$ > " + b.pidFile + "\nexec " + strings.Join(qemu, " ") + " >>" + filepath.Join(dir, "qemu.out") + " 2>&1\n"
	vmSh := filepath.Join(dir, "vm.sh")
	if err := os.WriteFile(vmSh, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`name "%s"
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
  serial 15 127.0.0.1 %d codec VM
  startcmd "%s"
  startnow false
  user 2 true "%s" "%s" admin 10 none md2 md5 straight
`, node, addr, vmPort, vmSh, simBMCUser, simBMCPassword)
	emu := "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n"
	for name, data := range map[string]string{"lan.conf": conf, "cmds.emu": emu} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, b.log = l.lan.Start(t, "ipmi_sim", "-c", filepath.Join(dir, "lan.conf"), "-f", filepath.Join(dir, "cmds.emu"), "-n", "-s", filepath.Join(dir, "state"))
	// ipmi_sim may start QEMU outside its process group: stop it by pid.
	t.Cleanup(func() {
		if pid := b.qemuPID(); pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	l.vms = append(l.vms, &qemuVM{node: node, ip: labNodes[node].ip, serial: b.serial, out: b.log})
	return b
}

// qemuPID is the pid of the VM's QEMU, 0 when it does not run.
func (b *simBMC) qemuPID() int {
	data, err := os.ReadFile(b.pidFile)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

// ipmitool runs ipmitool against the BMC from the server's namespace, the
// way an operator would.
func (b *simBMC) ipmitool(t *testing.T, l *qemuLab, args ...string) string {
	t.Helper()
	base := []string{"-I", "lanplus", "-C", "3", "-H", b.addr, "-p", "623", "-U", simBMCUser, "-P", simBMCPassword}
	out, err := l.srv.Output(context.Background(), "ipmitool", append(base, args...)...)
	if err != nil {
		t.Fatalf("ipmitool %v against %s's BMC: %v\n%s\nipmi_sim:\n%s", args, b.node, err, out, b.log.String())
	}
	return string(out)
}

// console is the VM's serial log, all boots, without carriage returns.
func (b *simBMC) console() string {
	data, _ := os.ReadFile(b.serial)
	return strings.ReplaceAll(string(data), "\r", "")
}

// waitConsoleCount waits until the console shows substr at least n times.
func (b *simBMC) waitConsoleCount(t *testing.T, l *qemuLab, substr string, n int, limit time.Duration) {
	t.Helper()
	for start := time.Now(); strings.Count(b.console(), substr) < n; time.Sleep(250 * time.Millisecond) {
		if time.Since(start) > limit {
			t.Fatalf("%s: %q not %d times on the console within %s%s", b.node, substr, n, limit, l.report())
		}
	}
}

// writeCredentials writes the server's BMC credentials file: one
// credentials block per node, password as given.
func writeCredentials(t *testing.T, path string, passwords map[string]string) {
	t.Helper()
	var b strings.Builder
	for node, pw := range passwords {
		fmt.Fprintf(&b, "credentials %q {\n  username = %q\n  password = %q\n}\n", "bmc-"+node, simBMCUser, pw)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}
