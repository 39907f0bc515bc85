package reconcile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// TestEncodeIsMarshalIndent checks that Encode, which encodes node by
// node, writes exactly what encoding/json writes for the whole inventory,
// so digests of inventories written before and after it agree.
func TestEncodeIsMarshalIndent(t *testing.T) {
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
	cases := map[string]*Inventory{
		"empty":     {},
		"no nodes":  {Version: InventoryVersion, Commit: "c", Nodes: map[string]NodeState{}},
		"nil nodes": {Version: InventoryVersion, Commit: "c", Overlays: map[string]map[string]string{"nodes": {}}},
		"one node":  oneNode,
		"full":      full(),
	}
	for name, inv := range cases {
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
