package httpboot

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// TestNotOwnAddress, with real curl from network namespaces: a neighbour
// at another address fetching a node's script, kernel, image and system
// overlay is served every byte, but the node's stage, timeline, booted
// commit and needs-reboot mark stay as they were, and the log says
// NOT_OWN_ADDRESS (at a bounded rate). The same requests from the node's
// declared address are recorded; for a node without a declared ip, the
// address its last DHCP exchange showed (Config.DHCPAddr) counts.
func TestNotOwnAddress(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireCommands(t, "curl")
	srvNS, cliNS := netnstest.New(t, "own-s"), netnstest.New(t, "own-c")
	_, cliIf := netnstest.Veth(t, srvNS, "10.99.0.1/24", cliNS, "10.99.0.50/24")
	// The node's own addresses live on the same client interface, so the
	// test picks the source address with curl --interface.
	cliNS.MustIP(t, "addr", "add", "10.99.0.11/24", "dev", cliIf)
	cliNS.MustIP(t, "addr", "add", "10.99.0.12/24", "dev", cliIf)

	dir := t.TempDir()
	nodes := labNodes(t, dir)
	nodes[0].IP = netip.MustParseAddr("10.99.0.11") // c001: declared ip
	nodes[1].IP = netip.Addr{}                      // c002: none; DHCP showed 10.99.0.12
	ln, err := srvNS.Listen("tcp", "10.99.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := bootsvc.Server{Name: "head", Address: netip.MustParseAddr("10.99.0.1"), HTTPPort: ln.Addr().(*net.TCPAddr).Port,
		RuntimeInterval: time.Minute}
	snap := bootsvc.NewSnapshot(srv, []bootsvc.Network{{Name: "lo", Subnet: netip.MustParsePrefix("10.99.0.0/24")}}, nodes, "c0ffee")
	store := status.NewMemory()
	logs := &netnstest.SyncBuffer{}
	h := New(Config{Snapshot: snap, Status: store, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		DHCPAddr: func(mac string) (netip.Addr, bool) {
			if mac == nodes[1].MAC {
				return netip.MustParseAddr("10.99.0.12"), true
			}
			return netip.Addr{}, false
		}})
	start(t, h, ln)
	base := "http://" + ln.Addr().String()

	fetchAll := func(from, mac string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, p := range []string{"/ipxe/", "/kernel/", "/image/", "/system/"} {
			out, err := cliNS.Output(ctx, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
				"--interface", from, base+p+mac)
			code, size, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
			if err != nil || code != "200" || size == "0" {
				t.Fatalf("curl %s%s from %s: %v %s", p, mac, from, err, out)
			}
		}
	}
	// A neighbour (10.99.0.50) asks for both nodes' files: all served,
	// nothing recorded.
	fetchAll("10.99.0.50", nodes[0].MAC)
	fetchAll("10.99.0.50", nodes[1].MAC)
	checkUnrecorded(t, store, snap, "c001")
	checkUnrecorded(t, store, snap, "c002")
	// c002's address is not c001's, and the other way round.
	fetchAll("10.99.0.12", nodes[0].MAC)
	fetchAll("10.99.0.11", nodes[1].MAC)
	checkUnrecorded(t, store, snap, "c001")
	checkUnrecorded(t, store, snap, "c002")
	if n := strings.Count(logs.String(), NotOwnAddress); n == 0 || n > h.bad.Burst()+2 {
		t.Fatalf("%d %s log lines for 16 requests (burst %d):\n%s", n, NotOwnAddress, h.bad.Burst(), logs)
	}

	// From the nodes' own addresses: recorded, with the booted commit.
	fetchAll("10.99.0.11", nodes[0].MAC)
	fetchAll("10.99.0.12", nodes[1].MAC)
	for _, tc := range []struct{ name, addr string }{{"c001", "10.99.0.11"}, {"c002", "10.99.0.12"}} {
		r, _ := store.Node(tc.name)
		if r.Stage != status.StageSystemOverlay || r.Addr.String() != tc.addr || r.Booted != "c0ffee" {
			t.Fatalf("%s after its own requests: %+v", tc.name, r)
		}
	}
}

// checkUnrecorded checks that node name has no stage, LASTSEEN, booted
// commit or needs-reboot mark in store (snap being the served snapshot):
// requests from other addresses did not move it.
func checkUnrecorded(t *testing.T, store *status.Store, snap *bootsvc.Snapshot, name string) {
	t.Helper()
	r, _ := store.Node(name)
	if r.Stage != "" || !r.LastSeen.IsZero() || r.Booted != "" || r.BootedDigests != (status.BootDigests{}) {
		t.Fatalf("%s moved by another address's requests: %+v", name, r)
	}
	rep := store.Report("head", "c0ffee", time.Minute, []string{name})
	rep.MarkReboots(CurrentDigests(snap))
	if rep.Nodes[0].NeedsReboot || rep.Nodes[0].Stage != "" {
		t.Fatalf("%s in the report after another address's requests: %+v", name, rep.Nodes[0])
	}
}
