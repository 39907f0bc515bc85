package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/netnstest"
	"github.com/gitboot/gitboot/internal/redfishtest"
)

// qemuMachine is a QEMU node whose power is its process: on starts QEMU in
// the lab's namespace, off kills it. Its console appends to one log.
type qemuMachine struct {
	l        *qemuLab
	tap, mac string
	serial   string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (m *qemuMachine) On() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

func (m *qemuMachine) PowerOn() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cmd := m.l.lan.Command(context.Background(), "qemu-system-x86_64", "-accel", "tcg", "-smp", "1", "-nographic", "-monitor", "none",
		"-machine", "pc", "-m", "384", "-boot", "n",
		"-chardev", "file,id=con,path="+m.serial+",append=on", "-serial", "chardev:con",
		"-netdev", "tap,id=n0,ifname="+m.tap+",script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0,mac="+m.mac)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting QEMU: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	m.cmd, m.done = cmd, done
	return nil
}

func (m *qemuMachine) PowerOff() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return nil
	}
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		return errors.New("QEMU did not stop")
	}
	m.cmd = nil
	return nil
}

func (m *qemuMachine) Reset() error {
	if err := m.PowerOff(); err != nil {
		return err
	}
	return m.PowerOn()
}

func (m *qemuMachine) console() string {
	data, _ := os.ReadFile(m.serial)
	return strings.ReplaceAll(string(data), "\r", "")
}

func (m *qemuMachine) waitBoots(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(bootDeadline)
	for strings.Count(m.console(), bootMarker+" ") < n {
		if time.Now().After(deadline) {
			t.Fatalf("boot %d: no %s line within %s\n--- serial (tail) ---\n%s%s", n, bootMarker, bootDeadline, tail(m.console(), 40), m.l.report())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestPowerRedfish: n1's BMC is redfishtest's Redfish service (HTTPS with a
// self-signed certificate, basic auth) driving n1's QEMU process. Debian's
// redfishtool reads its power state and switches it on (n1 boots through
// gitboot) and off; then gitboot power does the same over Redfish.
func TestPowerRedfish(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireCommands(t, "qemu-system-x86_64", "git", "curl", "redfishtool")
	kernel := testKernel(t)
	repo, creds := redfishLabRepo(t)

	l := startQEMULabRepo(t, kernel, repo)
	l.lan.MustIP(t, "addr", "add", bmcIP+"/24", "dev", l.br)
	m := &qemuMachine{l: l, tap: l.lan.Tap(t, l.br), mac: n1MAC, serial: filepath.Join(l.dir, "serial-n1-redfish.log")}
	t.Cleanup(func() { _ = m.PowerOff() })
	svc := redfishtest.New(m, bmcUser, bmcPass)
	ln, err := l.lan.Listen("tcp", bmcIP+":443")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go svc.ServeTLS(ln, bmcIP)

	checkRedfishtool(t, l, m)

	// gitboot power over Redfish.
	local := []string{"n1", "--repo", repo, "--bmc-credentials", creds, "--timeout", "60s"}
	run := func(action, want string) {
		t.Helper()
		out, err := powerCmd(l, append([]string{action}, local...)...)
		p, res, ok := tableRow(out, "n1")
		if err != nil || !ok || p != want || res != "ok" {
			t.Fatalf("gitboot power %s n1: %v\n%s\nwant n1 %s ok", action, err, out, want)
		}
		t.Logf("gitboot power %s n1:\n%s", action, out)
	}
	run("status", "off")
	run("on", "on")
	m.waitBoots(t, 2)
	n := l.nodeStatus(t, "n1")
	if n.Stage != "RUNTIME_OVERLAY" {
		t.Errorf("n1 after gitboot power on: stage %s, want RUNTIME_OVERLAY%s", n.Stage, l.report())
	}
	run("off", "off")
	if m.On() {
		t.Errorf("QEMU still runs after gitboot power off")
	}
	if got, want := svc.Resets(), []string{"On", "ForceOff", "On", "ForceOff"}; !slices.Equal(got, want) {
		t.Errorf("reset types posted %v, want %v", got, want)
	}
}

// redfishLabRepo returns examples/lab with n1 given a Redfish BMC
// (credentials "lab", a self-signed certificate) and kernel arguments
// that keep it up, committed, and the BMC credentials file.
func redfishLabRepo(t *testing.T) (repo, creds string) {
	t.Helper()
	repo = labRepo(t)
	nodes := filepath.Join(repo, "nodes.hcl")
	data, err := os.ReadFile(nodes)
	if err != nil {
		t.Fatal(err)
	}
	n1 := "  tags     = { slot = \"1\" }\n"
	withBMC := strings.Replace(string(data), n1, n1+`  kernel_args = ["console=ttyS0", "quiet", "e2e.stay", "no_timer_check"]
  bmc {
    driver      = "redfish"
    address     = "`+bmcIP+`"
    credentials = "lab"
    insecure    = true
  }
`, 1)
	if err := os.WriteFile(nodes, []byte(withBMC), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "commit", "-q", "-am", "n1: a Redfish BMC, and stay up")
	creds = filepath.Join(t.TempDir(), "bmc.hcl")
	if err := os.WriteFile(creds, []byte(fmt.Sprintf("credentials \"lab\" {\n  username = %q\n  password = %q\n}\n", bmcUser, bmcPass)), 0o600); err != nil {
		t.Fatal(err)
	}
	return repo, creds
}

// checkRedfishtool: redfishtool, a real Redfish client, reads n1's power
// state from the service (Off), switches it on (n1 boots) and off.
func checkRedfishtool(t *testing.T, l *qemuLab, m *qemuMachine) {
	redfishtool := func(args ...string) string {
		t.Helper()
		out, err := l.srv.Output(context.Background(), "redfishtool",
			append([]string{"-r", bmcIP + ":443", "-u", bmcUser, "-p", bmcPass, "-A", "Basic", "-S", "Always"}, args...)...)
		if err != nil {
			t.Fatalf("redfishtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	powerState := regexp.MustCompile(`"PowerState":\s*"(\w+)"`)
	state := func() string {
		t.Helper()
		m := powerState.FindStringSubmatch(redfishtool("Systems", "get"))
		if m == nil {
			t.Fatal("redfishtool Systems get: no PowerState")
		}
		return m[1]
	}
	if s := state(); s != "Off" {
		t.Fatalf("redfishtool: PowerState %s at start, want Off", s)
	}
	redfishtool("Systems", "reset", "On")
	m.waitBoots(t, 1)
	if s := state(); s != "On" {
		t.Errorf("redfishtool: PowerState %s after reset On, want On", s)
	}
	redfishtool("Systems", "reset", "ForceOff")
	if s := state(); s != "Off" || m.On() {
		t.Errorf("redfishtool: PowerState %s after reset ForceOff (QEMU running: %v), want Off", s, m.On())
	}
	t.Logf("redfishtool: Off, On (n1 booted), ForceOff")
}
