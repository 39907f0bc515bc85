package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/reconcile"
)

// golden compares got with testdata/discover/NAME (rewritten with
// -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "discover", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func gitbootExec(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runWith(args, &out, &errb)
	return code, out.String(), errb.String()
}

// labTree copies examples/lab into a temporary working tree whose network
// has a dynamic range from .2 to .9 (below the declared nodes .11 and .12).
func labTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "lab")
	if out, err := exec.Command("cp", "-r", "../../examples/lab", dir).CombinedOutput(); err != nil {
		t.Fatalf("copying the lab: %v %s", err, out)
	}
	p := filepath.Join(dir, "cluster.hcl")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte(`  lease_time = "1h"`), []byte(`  lease_time = "1h"`+"\n"+`  dynamic_range = ["10.99.0.2", "10.99.0.9"]`), 1)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := gitbootExec("fmt", dir); code != 0 {
		t.Fatalf("gitboot fmt: %s", errOut)
	}
	if code, _, errOut := gitbootExec("validate", dir); code != 0 {
		t.Fatalf("the lab with a dynamic range is invalid: %s", errOut)
	}
	return dir
}

// TestDiscoverMACFileWrite: MACs from a vendor file, in its order, are
// appended as canonical node blocks (golden) that skip the declared MAC,
// the dynamic range and the declared addresses; the tree then validates;
// a second run continues the names and addresses.
func TestDiscoverMACFileWrite(t *testing.T) {
	dir := labTree(t)
	macs := filepath.Join(t.TempDir(), "rack1.macs")
	os.WriteFile(macs, []byte("# rack 1, bottom to top\n52-54-00-AA-00-01 serial=X1\n\n52:54:00:99:00:01\n52:54:00:aa:00:02,serial=X2\n52:54:00:aa:00:03\n"), 0o644)
	out := filepath.Join(dir, "discovered.hcl")
	code, stdout, stderr := gitbootExec("discover", "--macs", macs, "--write", out, "--name-format", "r1n%02d")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "52:54:00:99:00:01 is node n1 already: skipped") {
		t.Errorf("stderr: %s", stderr)
	}
	if stdout != "Appended 3 node block(s) to "+out+" (network cluster, profile compute): review, commit and push.\n" {
		t.Errorf("stdout: %q", stdout)
	}
	b, _ := os.ReadFile(out)
	golden(t, "rack1.hcl", string(b))
	if code, _, errOut := gitbootExec("validate", dir); code != 0 {
		t.Fatalf("validate after --write: %s", errOut)
	}
	if code, _, errOut := gitbootExec("fmt", "-check", dir); code != 0 {
		t.Fatalf("fmt -check after --write: %s", errOut)
	}

	os.WriteFile(macs, []byte("52:54:00:aa:00:04\n52:54:00:aa:00:05\n"), 0o644)
	if code, _, stderr := gitbootExec("discover", "--macs", macs, "--write", out, "--name-format", "r1n%02d"); code != 0 {
		t.Fatalf("second run: exit %d: %s", code, stderr)
	}
	b, _ = os.ReadFile(out)
	if !strings.Contains(string(b), `node "r1n04" {`) || !strings.Contains(string(b), `ip       = "10.99.0.15"`) {
		t.Errorf("second run:\n%s", b)
	}
	if code, _, errOut := gitbootExec("validate", dir); code != 0 {
		t.Fatalf("validate after a second --write: %s", errOut)
	}

	// Bad input is refused with the file and line.
	os.WriteFile(macs, []byte("52:54:00:aa:00:06\nnot-a-mac\n"), 0o644)
	if code, _, stderr := gitbootExec("discover", "--macs", macs, "--write", out); code != 1 || !strings.Contains(stderr, "rack1.macs:2: \"not-a-mac\" (column 1) is not a MAC address") {
		t.Errorf("a bad MAC file: exit %d: %s", code, stderr)
	}
	os.WriteFile(macs, []byte("52:54:00:aa:00:06\n"), 0o644)
	if code, _, stderr := gitbootExec("discover", "--macs", macs, "--write", out, "--profile", "nope"); code != 1 || !strings.Contains(stderr, "no such profile") {
		t.Errorf("an undeclared profile: exit %d: %s", code, stderr)
	}
}

// TestDiscoverFromServer: the unknown MACs a real HTTP boot service has
// seen, first seen first, become node blocks (golden) that avoid the
// addresses of its running inventory.
func TestDiscoverFromServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inv := reconcile.Inventory{Version: 1, Commit: statusCommit,
		Server:   reconcile.ServerState{Name: "head", Address: "10.99.0.1"},
		Networks: map[string]reconcile.NetworkState{"cluster": {Subnet: "10.99.0.0/24", Gateway: "10.99.0.254", DNS: []string{"10.99.0.2"}, DynamicRange: []string{"10.99.0.4", "10.99.0.10"}}},
		Nodes:    map[string]reconcile.NodeState{"n001": {MAC: "52:54:00:00:00:01", IP: "10.99.0.3", Network: "cluster"}},
	}
	invJSON, err := json.Marshal(&inv)
	if err != nil {
		t.Fatal(err)
	}
	store := status.NewMemory()
	t0 := time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)
	store.Record(status.Event{MAC: "52:54:00:bb:00:02", Stage: status.StageIPXE, Addr: netip.MustParseAddr("10.99.0.5"), Time: t0.Add(time.Second)})
	store.Record(status.Event{MAC: "52:54:00:bb:00:01", Stage: status.StageDHCP, Time: t0})
	store.Record(status.Event{MAC: "52:54:00:bb:00:01", Stage: status.StageDHCP, Time: t0.Add(2 * time.Second)})
	snap := bootsvc.NewSnapshot(bootsvc.Server{Name: "head", Address: netip.MustParseAddr("10.99.0.1")}, nil,
		[]bootsvc.Node{{Name: "n001", MAC: "52:54:00:00:00:01", IP: netip.MustParseAddr("10.99.0.3")}}, statusCommit)
	h := httpboot.New(httpboot.Config{Snapshot: snap, Status: store, Inventory: func() *httpboot.EncodedInventory { return httpboot.InventoryBytes(invJSON) }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.ServeAdmin(ctx, ln, "") }()
	defer func() { cancel(); <-done }()

	code, stdout, stderr := gitbootExec("discover", "--server", "http://"+ln.Addr().String(), "--profile", "gpu")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	golden(t, "server.hcl", stdout)
	if code, _, stderr := gitbootExec("discover", "--server", "http://"+ln.Addr().String(), "--network", "other"); code != 1 || !strings.Contains(stderr, `no network "other" (declared: cluster)`) {
		t.Errorf("an undeclared network: exit %d: %s", code, stderr)
	}
}
