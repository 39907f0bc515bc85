package reconcile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"testing"
)

// TestEncodeIsMarshalIndent checks that Encode, which encodes node by
// node, writes exactly what encoding/json writes for the whole inventory,
// so digests of inventories written before and after it agree.
func TestEncodeIsMarshalIndent(t *testing.T) {
	for name, inv := range encodeCases() {
		want, err := json.MarshalIndent(inv, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		got, err := inv.Encode()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: Encode differs from json.MarshalIndent:\ngot:\n%s\nwant:\n%s", name, got, want)
		}
	}
}

// TestSameEncoding checks sameEncoding, which compares node by node,
// against comparing the two whole encodings.
func TestSameEncoding(t *testing.T) {
	cases := encodeCases()
	variants := map[string]func(*Inventory){
		"same":    func(*Inventory) {},
		"subject": func(inv *Inventory) { inv.Subject += "!" },
		"node tag": func(inv *Inventory) {
			n := inv.Nodes["c001"]
			n.Tags = map[string]string{"role": "other"}
			inv.Nodes["c001"] = n
		},
		"node renamed":  func(inv *Inventory) { inv.Nodes["c003"] = inv.Nodes["c001"]; delete(inv.Nodes, "c001") },
		"node removed":  func(inv *Inventory) { delete(inv.Nodes, "c002") },
		"nil args":      func(inv *Inventory) { n := inv.Nodes["c001"]; n.KernelArgs = nil; inv.Nodes["c001"] = n },
		"nil nodes":     func(inv *Inventory) { inv.Nodes = nil },
		"empty nodes":   func(inv *Inventory) { inv.Nodes = map[string]NodeState{} },
		"no artifacts":  func(inv *Inventory) { n := inv.Nodes["c002"]; n.Artifacts = nil; inv.Nodes["c002"] = n },
		"overlay files": func(inv *Inventory) { inv.Overlays["o"] = map[string]string{} },
	}
	for name, change := range variants {
		a, b := cases["full"], encodeCases()["full"]
		change(b)
		ea, _ := a.Encode()
		eb, _ := b.Encode()
		if got, want := sameEncoding(a, b), bytes.Equal(ea, eb); got != want {
			t.Errorf("%s: sameEncoding %v, encodings equal %v", name, got, want)
		}
		if name != "same" && sameEncoding(a, b) {
			t.Errorf("%s: the change is not seen", name)
		}
	}
	empty, emptyNodes := &Inventory{}, &Inventory{Nodes: map[string]NodeState{}}
	if sameEncoding(empty, emptyNodes) || !sameEncoding(empty, &Inventory{}) {
		t.Error("nil and empty nodes: sameEncoding must tell them apart, as the encodings do")
	}
}

func encodeCases() map[string]*Inventory {
	full := func() *Inventory {
		inv := &Inventory{Version: InventoryVersion, Commit: "c0ffee", Subject: "a <subject> & \"quotes\"",
			Cluster: "abc", Manifest: "sha256:01", Agent: "a9",
			Server:   ServerState{Name: "head", Address: "10.0.0.1", Networks: []string{"n"}, HTTPPort: 9873},
			Networks: map[string]NetworkState{"n": {Subnet: "10.0.0.0/8", DNS: []string{"10.0.0.1"}, LeaseTime: "1h"}},
			Images:   map[string]ImageState{"i": {Source: "/x", Input: "k", Digest: "sha256:02"}},
			Overlays: map[string]map[string]string{"o": {"etc/nodes": "x", "etc/motd.tmpl": "y"}, "nodes": {}},
			Nodes:    map[string]NodeState{},
		}
		for i, name := range []string{"c002", "c001", "é-ü", "a<b>&c", "nodes", "Z"} {
			inv.Nodes[name] = NodeState{MAC: fmt.Sprintf("52:54:00:00:00:%02x", i), IP: "10.0.0.5", Network: "n", Image: "i",
				KernelArgs: []string{"quiet", "x=<y>"}, Tags: map[string]string{"role": "compute", "k\"q": "\u2028"},
				SystemInput: "s", RuntimeInput: "r", Artifacts: &NodeArtifacts{Kernel: "k", Image: "i", System: "s", Runtime: "r"}}
		}
		inv.Nodes["bare"] = NodeState{}
		return inv
	}
	oneNode := full()
	oneNode.Nodes = map[string]NodeState{"only": {MAC: "52:54:00:00:00:01"}}
	return map[string]*Inventory{
		"empty":     {},
		"no nodes":  {Version: InventoryVersion, Commit: "c", Nodes: map[string]NodeState{}},
		"nil nodes": {Version: InventoryVersion, Commit: "c", Overlays: map[string]map[string]string{"nodes": {}}},
		"one node":  oneNode,
		"full":      full(),
	}
}

func TestBoundMemory(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	for _, gogc := range []int{100, 400, 20, -1} {
		debug.SetGCPercent(gogc)
		done := boundMemory(true)
		during := debug.SetGCPercent(gogc)
		debug.SetGCPercent(during)
		want := evalGCPercent
		if gogc < evalGCPercent {
			want = gogc
		}
		if during != want {
			t.Errorf("GOGC %d: %d during an evaluation, want %d", gogc, during, want)
		}
		done()
		if after := debug.SetGCPercent(gogc); after != gogc {
			t.Errorf("GOGC %d: %d after an evaluation", gogc, after)
		}
	}
}
