package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/netnstest"
)

const (
	serverIP = "10.99.0.1"
	n1MAC    = "52:54:00:99:00:01"
	baseURL  = "http://10.99.0.1:9873"
)

// servedLab is `gitboot serve` on a git repository of examples/lab, inside
// namespace srv, with a client namespace cli on the same link whose
// interface has node n1's MAC.
type servedLab struct {
	repo, state, image string
	kernel             []byte
	srv, cli           *netnstest.NS
	cliIf              string
	proc               *exec.Cmd
	log                *netnstest.SyncBuffer
	bin                string
}

func startLab(t *testing.T) *servedLab {
	t.Helper()
	netnstest.Require(t)
	netnstest.RequireCommands(t, "git", "dhclient", "tftp", "curl", "cpio", "gzip")
	l := &servedLab{bin: gitbootBinary(t), repo: labRepo(t), state: filepath.Join(t.TempDir(), "state")}
	l.image, l.kernel = tinyImage(t)
	l.srv = netnstest.New(t, "gbsrv")
	l.cli = netnstest.New(t, "gbcli")
	_, l.cliIf = netnstest.Veth(t, l.srv, serverIP+"/24", l.cli, "")
	l.cli.SetMAC(t, l.cliIf, n1MAC)
	l.serve(t)
	return l
}

// serve starts `gitboot serve` in srv and waits until it answers.
func (l *servedLab) serve(t *testing.T) {
	t.Helper()
	l.proc, l.log = l.srv.Start(t, l.bin, "serve", "--repo", l.repo, "--state", l.state, "--var", "image_source="+l.image,
		"--image-root", filepath.Dir(l.image))
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := l.srv.Output(context.Background(), "curl", "-sf", "http://127.0.0.1:9873/healthz")
		if err == nil {
			break
		}
		if time.Now().After(deadline) || syscall.Kill(l.proc.Process.Pid, 0) != nil {
			t.Fatalf("gitboot serve did not become ready: %v %s\nlog:\n%s", err, out, l.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// nodeStatus reads GET /status from the admin listener (in the server's
// namespace) and returns node n1.
func (l *servedLab) nodeStatus(t *testing.T, name string) status.NodeRecord {
	t.Helper()
	out, err := l.srv.Output(context.Background(), l.bin, "status", "--server", adminURL, "--json")
	if err != nil {
		t.Fatalf("gitboot status --json: %v\n%s", err, out)
	}
	var rep status.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("status is not JSON: %v\n%s", err, out)
	}
	for _, n := range rep.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("node %s missing from status: %s", name, out)
	return status.NodeRecord{}
}

func (l *servedLab) expectStage(t *testing.T, stage status.Stage, sent string) {
	t.Helper()
	n := l.nodeStatus(t, "n1")
	if n.Stage != stage || (sent != "" && n.Sent != sent) {
		t.Errorf("after %s: n1 is at %s sent %q; want %s sent %q", stage, n.Stage, n.Sent, stage, sent)
	}
}

// TestServeLab walks the boot path of node n1 with real clients from
// another namespace: DHCP (dhclient), TFTP (tftp-hpa), the iPXE script and
// the four artifacts (curl), checking the recorded stage after each step.
func TestServeLab(t *testing.T) {
	l := startLab(t)
	dir := t.TempDir()

	walkDHCP(t, l, dir)
	walkTFTP(t, l, dir)
	walkScript(t, l)
	walkArtifacts(t, l, dir)
	n := l.nodeStatus(t, "n1")
	if n.Sent != "runtime.img.gz" || n.Addr.String() != "10.99.0.11" {
		t.Errorf("final status: sent %q from %s; want runtime.img.gz from 10.99.0.11", n.Sent, n.Addr)
	}
	if n2 := l.nodeStatus(t, "n2"); n2.Stage != "" {
		t.Errorf("n2 was never seen but shows stage %s", n2.Stage)
	}

	checkUnknownMAC(t, l)
	checkServedMetrics(t, l)
	checkStopsOnSIGTERM(t, l)

	// Status survives a restart on the same state directory.
	l.serve(t)
	if again := l.nodeStatus(t, "n1"); again.Stage != status.StageRuntimeOverlay || again.Sent != "runtime.img.gz" || !again.LastSeen.Equal(n.LastSeen) {
		t.Errorf("after a restart n1 is at %s sent %q seen %v; want RUNTIME_OVERLAY runtime.img.gz seen %v", again.Stage, again.Sent, again.LastSeen, n.LastSeen)
	}
}

// walkDHCP: dhclient, from the client namespace, gets n1's reserved address,
// gateway and DNS; its scripts' files go to dir.
func walkDHCP(t *testing.T, l *servedLab, dir string) {
	ctx := context.Background()
	script := filepath.Join(dir, "dhclient-script")
	env := filepath.Join(dir, "env")
	if err := os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\nenv > %s.$reason\nif [ \"$reason\" = BOUND ]; then ip addr add $new_ip_address/24 dev $interface; fi\n", env)), 0o755); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	pidFile := filepath.Join(dir, "pid")
	t.Cleanup(func() { // dhclient stays in the background after binding: stop it
		if data, err := os.ReadFile(pidFile); err == nil {
			var pid int
			if _, err := fmt.Sscan(string(data), &pid); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	})
	out, err := l.cli.Output(dctx, "dhclient", "-1", "-v", "-sf", script, "-lf", filepath.Join(dir, "leases"), "-pf", pidFile, l.cliIf)
	if err != nil {
		t.Fatalf("dhclient: %v\n%s\nserver log:\n%s", err, out, l.log.String())
	}
	bound, err := os.ReadFile(env + ".BOUND")
	if err != nil {
		t.Fatalf("dhclient did not bind: %v\n%s", err, out)
	}
	for _, want := range []string{"new_ip_address=10.99.0.11", "new_routers=10.99.0.1", "new_domain_name_servers=10.99.0.1", "new_host_name=n1"} {
		if !strings.Contains(string(bound), want) {
			t.Errorf("dhclient environment lacks %s:\n%s", want, bound)
		}
	}
	l.expectStage(t, status.StageDHCP, "")
}

// walkTFTP: tftp gets the BIOS iPXE binary, byte for byte, into dir.
func walkTFTP(t *testing.T, l *servedLab, dir string) {
	ctx := context.Background()
	got := filepath.Join(dir, "undionly.kpxe")
	if out, err := l.cli.Output(ctx, "tftp", "-m", "binary", serverIP, "-c", "get", "undionly.kpxe", got); err != nil {
		t.Fatalf("tftp: %v\n%s", err, out)
	}
	want, _ := os.ReadFile("/usr/lib/ipxe/undionly.kpxe")
	if data, _ := os.ReadFile(got); len(want) == 0 || !bytes.Equal(data, want) {
		t.Errorf("tftp undionly.kpxe: %d bytes, want the %d of /usr/lib/ipxe/undionly.kpxe", len(data), len(want))
	}
	l.expectStage(t, status.StageTFTP, "undionly.kpxe")
}

// walkScript: n1's iPXE script, as iPXE asks for it, names its kernel,
// image and kernel arguments.
func walkScript(t *testing.T, l *servedLab) {
	ctx := context.Background()
	out, err := l.cli.Output(ctx, "curl", "-sf", "-A", "iPXE/1.21.1", baseURL+"/ipxe/"+n1MAC)
	if err != nil {
		t.Fatalf("curl script: %v\n%s", err, out)
	}
	for _, want := range []string{"#!ipxe", baseURL + "/kernel/" + n1MAC, "initrd --name image " + baseURL + "/image/" + n1MAC,
		"gitboot.node=n1", "gitboot.server=" + baseURL, "console=ttyS0"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("script lacks %q:\n%s", want, out)
		}
	}
	l.expectStage(t, status.StageIPXE, "")
}

// walkArtifacts: curl gets the kernel and the image, system and runtime
// overlays (into dir) with the files they must hold, each moving n1 to
// its stage.
func walkArtifacts(t *testing.T, l *servedLab, dir string) {
	ctx := context.Background()
	steps := []struct {
		route string
		stage status.Stage
		files []string // paths cpio -it must list
	}{
		{"kernel", status.StageKernel, nil},
		{"image", status.StageImage, []string{"sbin/init", "bin/busybox", "etc/os-release"}},
		{"system", status.StageSystemOverlay, []string{"init", "etc/gitboot/cluster"}},
		{"runtime", status.StageRuntimeOverlay, []string{"etc/hosts", "etc/motd", "etc/hostname"}},
	}
	for _, s := range steps {
		file := filepath.Join(dir, s.route)
		if out, err := l.cli.Output(ctx, "curl", "-sf", "-o", file, baseURL+"/"+s.route+"/"+strings.ReplaceAll(n1MAC, ":", "-")); err != nil {
			t.Fatalf("curl %s: %v\n%s", s.route, err, out)
		}
		if s.files == nil {
			if data, _ := os.ReadFile(file); !bytes.Equal(data, l.kernel) {
				t.Errorf("kernel: got %q, want the image's vmlinuz", data)
			}
		} else {
			list := cpioEach(t, file, "", "-it", "--quiet")
			names := map[string]bool{}
			for _, n := range strings.Fields(string(list)) {
				names[strings.TrimPrefix(n, "./")] = true
			}
			for _, f := range s.files {
				if !names[f] {
					t.Errorf("%s artifact lacks %s; it lists:\n%s", s.route, f, list)
				}
			}
		}
		l.expectStage(t, s.stage, "")
	}
}

// checkUnknownMAC: an undeclared MAC gets the reboot script and is listed
// for discovery, with a node block ready to paste.
func checkUnknownMAC(t *testing.T, l *servedLab) {
	ctx := context.Background()
	out, err := l.cli.Output(ctx, "curl", "-sf", baseURL+"/ipxe/52-54-00-AA-BB-CC")
	if err != nil || !strings.Contains(string(out), "52:54:00:aa:bb:cc") || !strings.Contains(string(out), "reboot") {
		t.Errorf("script for an unknown MAC: %v\n%s", err, out)
	}
	out, err = l.srv.Output(ctx, l.bin, "status", "--unknown") // the admin listener, the default --server
	if err != nil || !strings.Contains(string(out), "52:54:00:aa:bb:cc") || !strings.Contains(string(out), `node "`) || !strings.Contains(string(out), `"52:54:00:aa:bb:cc"`) {
		t.Errorf("gitboot status --unknown: %v\n%s", err, out)
	}
}

// checkServedMetrics: /metrics on the admin listener counts what was
// served, including the build at start; neither it nor the admin
// listener is reachable from the boot network.
func checkServedMetrics(t *testing.T, l *servedLab) {
	ctx := context.Background()
	out, err := l.srv.Output(ctx, "curl", "-sf", adminURL+"/metrics")
	if err != nil {
		t.Fatalf("curl /metrics: %v\n%s", err, out)
	}
	// The boot port has no operator route; the admin listener is on the
	// server's loopback only.
	if out, _ := l.cli.Output(ctx, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", baseURL+"/metrics"); string(out) != "404" {
		t.Errorf("GET /metrics on the boot port from the node: %s, want 404", out)
	}
	if out, err := l.cli.Output(ctx, "curl", "-s", "--max-time", "5", "http://"+serverIP+":9875/status"); err == nil {
		t.Errorf("the admin listener answers the boot network: %s", out)
	}
	for _, want := range []string{"gitboot_build_duration_seconds_count 1", "gitboot_apply_duration_seconds_count 1",
		`gitboot_http_requests_total{code="200",route="runtime"} 1`, `gitboot_dhcp_replies_total{type="offer"} 1`,
		`gitboot_dhcp_replies_total{type="ack"} 1`, `gitboot_tftp_transfers_total{result="ok"} 1`,
		"gitboot_dhcp_max_booting 64", "gitboot_dhcp_held 0", `gitboot_dhcp_admission_total{event="dropped"} 0`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// checkStopsOnSIGTERM: SIGTERM stops every service and the process exits.
func checkStopsOnSIGTERM(t *testing.T, l *servedLab) {
	if err := l.proc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// netnstest reaps the process; wait until it is gone and check that it
	// said it stopped.
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(l.proc.Process.Pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("gitboot serve did not stop within 30 s of SIGTERM\n%s", l.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(l.log.String(), "msg=stopped") {
		t.Errorf("gitboot serve did not stop cleanly after SIGTERM:\n%s", l.log.String())
	}
}

// TestServeReload commits a change and then an invalid commit, sending
// SIGHUP after each: the first is served, the second is refused and the
// last good state stays served.
func TestServeReload(t *testing.T) {
	l := startLab(t)
	ctx := context.Background()
	script := func() string {
		out, err := l.srv.Output(ctx, "curl", "-sf", "http://127.0.0.1:9873/ipxe/"+n1MAC)
		if err != nil {
			t.Fatalf("curl script: %v\n%s", err, out)
		}
		return string(out)
	}
	waitFor := func(cond func() bool, what string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not happen within 60 s\nlog:\n%s", what, l.log.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if strings.Contains(script(), "gitboot.debug") {
		t.Fatal("unexpected kernel argument before the change")
	}
	nodes := filepath.Join(l.repo, "nodes.hcl")
	src, _ := os.ReadFile(nodes)
	changed := strings.Replace(string(src), `tags     = { slot = "1" }`, `tags     = { slot = "1" }
  kernel_args = ["console=ttyS0", "gitboot.debug"]`, 1)
	if changed == string(src) {
		t.Fatal("could not edit nodes.hcl")
	}
	os.WriteFile(nodes, []byte(changed), 0o644)
	git(t, l.repo, "commit", "-q", "-am", "debug n1")
	l.proc.Process.Signal(syscall.SIGHUP)
	waitFor(func() bool { return strings.Contains(script(), "gitboot.debug") }, "serving the new commit")

	os.WriteFile(nodes, []byte(strings.Replace(changed, "profile.compute", "profile.computer", 1)), 0o644)
	git(t, l.repo, "commit", "-q", "-am", "broken")
	l.proc.Process.Signal(syscall.SIGHUP)
	waitFor(func() bool { return strings.Contains(l.log.String(), "commit rejected") }, "refusing the invalid commit")
	if s := script(); !strings.Contains(s, "gitboot.debug") || !strings.Contains(s, "gitboot.node=n1") {
		t.Errorf("after an invalid commit the last good state must stay served; script:\n%s", s)
	}
	if !strings.Contains(l.log.String(), "profile.computer") && !strings.Contains(l.log.String(), "computer") {
		t.Errorf("the log should name the bad reference:\n%s", l.log.String())
	}
}

// TestServeRefusesInvalidCommit: an invalid commit at start is an error
// that prints the diagnostics, and nothing is served.
func TestServeRefusesInvalidCommit(t *testing.T) {
	bin := gitbootBinary(t)
	repo := labRepo(t)
	os.WriteFile(filepath.Join(repo, "nodes.hcl"), []byte("node \"n1\" {\n  mac = \"52:54:00:99:00:zz\"\n  ip = \"10.99.0.11\"\n  profiles = [profile.compute]\n}\n"), 0o644)
	git(t, repo, "commit", "-q", "-am", "bad mac")
	cmd := exec.Command(bin, "serve", "--repo", repo, "--state", t.TempDir(), "--var", "image_source=/nonexistent")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve of an invalid commit must fail:\n%s", out)
	}
	for _, want := range []string{"is invalid", "Invalid MAC address", "nodes.hcl line 2"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
