package reconcile

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/reconcile/artifact"
)

// seedInventories returns real encoded inventories of the test cluster: a
// desired state and the running state of a build of it (with artifact
// digests and a dynamic range).
func seedInventories(tb testing.TB) [][]byte {
	tb.Helper()
	img := makeImage(tb, filepath.Join(tb.TempDir(), "rocky"))
	files := edit(tb, baseFiles(), "main.hcl", `lease_time = "1h"`, "lease_time = \"1h\"\n  dynamic_range = [\"10.99.0.200\", \"10.99.0.250\"]")
	c, srv := loadFiles(tb, files, map[string]string{"image": img})
	desired, err := Desire(fakeCommit(priorHash, "first"), c, srv, true)
	if err != nil {
		tb.Fatal(err)
	}
	res := &artifact.Result{Manifest: "sha256:" + strings.Repeat("ab", 32), Nodes: map[string]bootsvc.Artifacts{}}
	for name := range desired.Nodes {
		var a bootsvc.Artifacts
		for i, p := range []*bootsvc.Artifact{&a.Kernel, &a.Image, &a.System, &a.Runtime} {
			p.Digest = "sha256:" + strings.Repeat(string(rune('0'+i)), 64)
		}
		res.Nodes[name] = a
	}
	var out [][]byte
	for _, inv := range []*Inventory{desired, desired.withBuild(res, fakeCommit(priorHash, "").When.Add(time.Minute))} {
		data, err := inv.Encode()
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

// badInventories are inventories Snapshot must refuse, with the words
// its error must contain.
var badInventories = []struct{ name, json, want string }{
	{"no runtime interval", `{"version":1}`, "runtime_interval"},
	{"server address IPv6", `{"version":1,"server":{"runtime_interval":"60s","address":"::1"}}`, "not an IPv4 address"},
	{"server address zone", `{"version":1,"server":{"runtime_interval":"60s","address":"fe80::1%eth0"}}`, "not an IPv4 address"},
	{"network null", `{"version":1,"server":{"runtime_interval":"60s"},"networks":{"n":null}}`, "network n"},
	{"subnet IPv6", `{"version":1,"server":{"runtime_interval":"1m"},"networks":{"n":{"subnet":"fd00::/64","lease_time":"1h"}}}`, "not IPv4"},
	{"dynamic range of one", `{"version":1,"server":{"runtime_interval":"1m"},"networks":{"n":{"subnet":"10.0.0.0/8","lease_time":"1h","dynamic_range":["10.0.0.1"]}}}`, "dynamic_range"},
	{"node null", `{"version":1,"server":{"runtime_interval":"1m"},"nodes":{"a":null}}`, "malformed MAC"},
	{"mac malformed", `{"version":1,"server":{"runtime_interval":"1m"},"nodes":{"a":{"mac":"52:54:00:aa:bb"}}}`, "malformed MAC"},
	{"mac duplicate", `{"version":1,"server":{"runtime_interval":"1m"},"nodes":{"a":{"mac":"52-54-00-AA-BB-CC"},"b":{"mac":"52:54:00:aa:bb:cc"}}}`, "nodes a and b both have MAC 52:54:00:aa:bb:cc"},
	{"ip duplicate", `{"version":1,"server":{"runtime_interval":"1m"},"nodes":{"a":{"mac":"52:54:00:aa:bb:01","ip":"10.0.0.1"},"b":{"mac":"52:54:00:aa:bb:02","ip":"10.0.0.1"}}}`, "nodes a and b both have address 10.0.0.1"},
	{"ip mapped", `{"version":1,"server":{"runtime_interval":"1m"},"nodes":{"a":{"mac":"52:54:00:aa:bb:01","ip":"::ffff:10.0.0.1"}}}`, "not an IPv4 address"},
}

func TestSnapshotRefuses(t *testing.T) {
	for _, tc := range badInventories {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := DecodeInventory([]byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := inv.Snapshot(nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Snapshot: %v; want an error with %q", err, tc.want)
			}
		})
	}
	// The real ones are accepted, and a MAC in another spelling is served
	// in the canonical one.
	for _, data := range seedInventories(t) {
		inv, err := DecodeInventory(data)
		if err != nil {
			t.Fatal(err)
		}
		n := inv.Nodes["c001"]
		n.MAC = strings.ToUpper(strings.ReplaceAll(n.MAC, ":", "-"))
		inv.Nodes["c001"] = n
		snap, err := inv.Snapshot(nil)
		if err != nil {
			t.Fatal(err)
		}
		if node, ok := snap.NodeByName("c001"); !ok || node.MAC != "52:54:00:00:00:01" {
			t.Errorf("c001: %+v", node)
		}
	}
}

// FuzzInventorySnapshot: an inventory read from disk or from another
// server (plan --server) is decoded and turned into a snapshot without a
// panic; hostile content is an error. A snapshot made finds each of its
// nodes by name, MAC and address.
func FuzzInventorySnapshot(f *testing.F) {
	for _, s := range seedInventories(f) {
		f.Add(s)
	}
	for _, s := range []string{``, `null`, `{}`, `{"version":2}`} {
		f.Add([]byte(s))
	}
	for _, tc := range badInventories {
		f.Add([]byte(tc.json))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := DecodeInventory(data)
		if err != nil {
			return
		}
		if inv == nil {
			t.Fatal("DecodeInventory: nil inventory, nil error")
		}
		snap, err := inv.Snapshot(nil)
		if err != nil {
			return
		}
		if snap == nil {
			t.Fatal("Snapshot: nil snapshot, nil error")
		}
		if len(snap.Nodes) != len(inv.Nodes) || len(snap.Networks) != len(inv.Networks) {
			t.Fatalf("snapshot has %d nodes, %d networks; inventory %d, %d", len(snap.Nodes), len(snap.Networks), len(inv.Nodes), len(inv.Networks))
		}
		for i := range snap.Nodes {
			n := &snap.Nodes[i]
			if got, ok := snap.NodeByName(n.Name); !ok || got != n {
				t.Fatalf("node %q not found by its name", n.Name)
			}
			if got, ok := snap.NodeByMAC(n.MAC); !ok || got != n {
				t.Fatalf("node %q not found by its MAC %q", n.Name, n.MAC)
			}
			if n.IP.IsValid() {
				if got, ok := snap.NodeByIP(n.IP); !ok || got != n {
					t.Fatalf("node %q not found by its address %v", n.Name, n.IP)
				}
			}
		}
	})
}
