package power

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/hclspec"
)

// startSims starts n OpenIPMI ipmi_sim BMCs (lanplus) on loopback, with
// no machine behind them (status only), and returns their ports.
func startSims(t *testing.T, n int) []int {
	t.Helper()
	if _, err := exec.LookPath("ipmi_sim"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ipmi_sim is missing: install openipmi")
		}
		t.Skip("ipmi_sim is missing: install openipmi")
	}
	dir := t.TempDir()
	emu := filepath.Join(dir, "cmds.emu")
	if err := os.WriteFile(emu, []byte("mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var ports []int
	for i := 0; i < n; i++ {
		// A free UDP port: bind, note, release (ipmi_sim binds it next).
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		pc.Close()
		// And a free TCP port for the (absent) machine's connection,
		// without which ipmi_sim refuses chassis control.
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		vmPort := l.Addr().(*net.TCPAddr).Port
		l.Close()
		d := filepath.Join(dir, fmt.Sprint(i))
		if err := os.MkdirAll(filepath.Join(d, "state"), 0o755); err != nil {
			t.Fatal(err)
		}
		conf := fmt.Sprintf(`name "bmc%d"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 %d
    priv_limit admin
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  serial 15 127.0.0.1 %d codec VM
  startcmd "sleep 120"
  startnow false
  user 2 true "admin" "secret" admin 10 none md2 md5 straight
`, i, port, vmPort)
		if err := os.WriteFile(filepath.Join(d, "lan.conf"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("ipmi_sim", "-c", filepath.Join(d, "lan.conf"), "-f", emu, "-n", "-s", filepath.Join(d, "state"))
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
		ports = append(ports, port)
	}
	return ports
}

// TestRunIPMI: Run asks many real (simulated) BMCs with bounded
// parallelism and returns one result per target in order; a wrong
// password, a BMC that does not answer (within the timeout) and a target
// with an error fail on their own rows only.
func TestRunIPMI(t *testing.T) {
	ports := startSims(t, 12)
	var targets []Target
	for i, p := range ports {
		targets = append(targets, Target{Node: fmt.Sprintf("n%02d", i), Cred: Cred{"admin", "secret"},
			BMC: hclspec.BMC{Driver: "ipmi", Address: "127.0.0.1", Port: p}})
	}
	targets[3].Cred.Password = "wrong"
	// Nothing listens on this port: the per-BMC timeout ends it.
	pc, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	silent := pc.LocalAddr().(*net.UDPAddr).Port
	defer pc.Close() // keep it bound and silent
	targets[7].BMC.Port = silent
	targets[9].Err = fmt.Errorf("credentials %q are not in the credentials file", "x")

	// ipmi_sim may need a moment before it answers.
	for i, tg := range targets {
		if i == 7 || i == 9 {
			continue
		}
		tg.Cred.Password = "secret"
		deadline := time.Now().Add(10 * time.Second)
		for Run(context.Background(), []Target{tg}, Status, Options{Timeout: time.Second})[0].Err != nil && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	}
	start := time.Now()
	res := Run(context.Background(), targets, Status, Options{Parallel: 4, Timeout: 3 * time.Second})
	took := time.Since(start)
	if len(res) != len(targets) {
		t.Fatalf("%d results for %d targets", len(res), len(targets))
	}
	for i, r := range res {
		if r.Node != targets[i].Node {
			t.Errorf("result %d is %s, want %s (targets' order)", i, r.Node, targets[i].Node)
		}
		var want string
		switch i {
		case 3:
			want = "the BMC refused the user name or password"
		case 7:
			want = "no answer within the timeout"
		case 9:
			want = `credentials "x" are not in the credentials file`
		}
		switch {
		case want == "" && (r.Err != nil || r.Power != StateOff):
			t.Errorf("%s: %s %v, want off", r.Node, r.Power, r.Err)
		case want != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), want) || r.Power != StateUnknown):
			t.Errorf("%s: %s %v, want unknown and %q", r.Node, r.Power, r.Err, want)
		}
	}
	if Failed(res) != 3 {
		t.Errorf("Failed = %d, want 3", Failed(res))
	}
	if took > 20*time.Second {
		t.Errorf("Run took %s: the silent BMC's timeout (3 s) should bound it", took)
	}
	t.Logf("12 targets, 4 at once: %s", took.Round(time.Millisecond))

	// An action switches the state and reads it back.
	on := Run(context.Background(), targets[:2], On, Options{Timeout: 10 * time.Second})
	for _, r := range on {
		if r.Err != nil || r.Power != StateOn {
			t.Errorf("power on %s: %s %v", r.Node, r.Power, r.Err)
		}
	}
	if r := Run(context.Background(), targets[:1], Status, Options{})[0]; r.Power != StateOn {
		t.Errorf("status after power on: %s %v", r.Power, r.Err)
	}
}
