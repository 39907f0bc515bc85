package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// statusServer runs a real httpboot server on a loopback port with three
// declared nodes and some recorded history; it returns its URL.
func statusServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := bootsvc.Server{Name: "head", Address: netip.MustParseAddr("127.0.0.1"), HTTPPort: ln.Addr().(*net.TCPAddr).Port, RuntimeInterval: time.Minute}
	nodes := []bootsvc.Node{
		{Name: "c001", MAC: "52:54:00:00:00:01", IP: netip.MustParseAddr("10.99.0.11"),
			Artifacts: bootsvc.Artifacts{Kernel: bootsvc.Artifact{Digest: "sha256:kernel2"}}},
		{Name: "c002", MAC: "52:54:00:00:00:02", IP: netip.MustParseAddr("10.99.0.12"),
			Artifacts: bootsvc.Artifacts{Kernel: bootsvc.Artifact{Digest: "sha256:kernel2"}}},
		{Name: "login1", MAC: "52:54:00:00:00:03", IP: netip.MustParseAddr("10.99.0.13")},
	}
	store := status.NewMemory()
	now := time.Now()
	// c001 booted the kernel of an older commit, c002 the current one.
	store.Record(status.Event{Node: "c001", Stage: status.StageKernel, Sent: "vmlinuz", Digest: "sha256:kernel1", Commit: "0ld", Time: now.Add(-time.Hour)})
	store.Record(status.Event{Node: "c001", Stage: status.StageRuntimeOverlay, Sent: "runtime.img.gz", Addr: netip.MustParseAddr("10.99.0.11"), Time: now.Add(-16 * time.Second)})
	store.Record(status.Event{Node: "c002", Stage: status.StageKernel, Sent: "vmlinuz", Digest: "sha256:kernel2", Commit: statusCommit, Time: now.Add(-3 * time.Minute)})
	store.Record(status.Event{MAC: "52:54:00:aa:bb:cc", Stage: status.StageIPXE, Addr: netip.MustParseAddr("10.99.0.201")})
	h := httpboot.New(httpboot.Config{
		Snapshot: bootsvc.NewSnapshot(srv, nil, nodes, statusCommit),
		Status:   store,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.ServeAdmin(ctx, ln, "") }()
	t.Cleanup(func() { cancel(); <-done })
	return srv.HTTPBase()
}

// statusCommit is the commit statusServer's snapshot was built from.
const statusCommit = "3f2a9c1d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"

func statusExec(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runWith(append([]string{"status"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestStatusTable(t *testing.T) {
	url := statusServer(t)
	code, out, errOut := statusExec("--server", url)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("want header + 3 rows + blank + reboot footer:\n%s", out)
	}
	if lines[4] != "" || lines[5] != "* 1 node runs an older commit's boot artifacts: reboot it to pick up 3f2a9c1" {
		t.Fatalf("footer: %q", lines[4:])
	}
	if !strings.HasPrefix(lines[0], "NODENAME             STAGE                SENT                      LASTSEEN (s)") {
		t.Fatalf("header: %q", lines[0])
	}
	f := strings.Fields(lines[1])
	if age, err := strconv.Atoi(f[3]); f[0] != "c001" || f[1] != "RUNTIME_OVERLAY*" || f[2] != "runtime.img.gz" || err != nil || age < 16 || age > 60 {
		t.Fatalf("c001 row: %q", lines[1])
	}
	if f := strings.Fields(lines[2]); f[0] != "c002" || f[1] != "KERNEL" {
		t.Fatalf("c002 (booted the current kernel) row: %q", lines[2])
	}
	if f := strings.Fields(lines[3]); strings.Join(f, " ") != "login1 -- -- --" {
		t.Fatalf("never-seen row: %q", lines[3])
	}
	if strings.Contains(out, "\x1b") {
		t.Fatal("colour on a non-terminal")
	}
}

func TestStatusFilterAndJSON(t *testing.T) {
	url := statusServer(t)
	code, out, errOut := statusExec("--server", url, "--json", "c00*")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep status.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if len(rep.Nodes) != 2 || rep.Nodes[0].Name != "c001" || rep.Nodes[1].Stage != status.StageKernel || rep.Server != "head" {
		t.Fatalf("--json c00*: %+v", rep.Nodes)
	}
	if rep.Commit != statusCommit || !rep.Nodes[0].NeedsReboot || rep.Nodes[0].Booted != "0ld" || rep.Nodes[1].NeedsReboot || rep.Nodes[1].Booted != statusCommit {
		t.Fatalf("--json reboots: commit %q, %+v", rep.Commit, rep.Nodes)
	}
	if !strings.Contains(out, `"needs_reboot": false`) {
		t.Fatalf("--json lacks needs_reboot false:\n%s", out)
	}

	code, out, errOut = statusExec("--server", url, "login1", "nosuch")
	if code != 1 || !strings.Contains(errOut, "nosuch") || !strings.Contains(out, "login1") || strings.Contains(out, "c001") {
		t.Fatalf("undeclared node: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestStatusUnknown(t *testing.T) {
	url := statusServer(t)
	code, out, errOut := statusExec("--server", url, "--unknown")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{`node "n525400aabbcc" {`, `mac      = "52:54:00:aa:bb:cc"`, `ip       = "10.99.0.201"`, `profiles = [profile.`} {
		if !strings.Contains(out, want) {
			t.Errorf("--unknown lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = statusExec("--server", url, "--unknown", "--json")
	var u []status.Unknown
	if code != 0 || json.Unmarshal([]byte(out), &u) != nil || len(u) != 1 || u[0].MAC != "52:54:00:aa:bb:cc" {
		t.Fatalf("--unknown --json: %d %s", code, out)
	}
}

func TestStatusErrors(t *testing.T) {
	// A port nothing listens on: bind one, close it.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	if code, _, errOut := statusExec("--server", dead); code != 1 || !strings.Contains(errOut, dead) {
		t.Fatalf("dead server: exit %d: %s", code, errOut)
	}
	if code, _, errOut := statusExec("--repo", t.TempDir()); code != 1 || !strings.Contains(errOut, "opening git repository") {
		t.Fatalf("--repo on a directory that is no repository: exit %d: %s", code, errOut)
	}
}
