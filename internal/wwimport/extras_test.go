package wwimport

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/gitboot/gitboot/hclspec"
)

// The attributes below (root, interfaces, bmc) come from other branches
// (init, netif, power); the checks read the node through its JSON form so
// this file compiles whichever of them the tree holds.

func nodeJSON(t *testing.T, n *hclspec.Node) map[string]any {
	t.Helper()
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// checkNodeExtras checks a node's root and BMC ("" bmc: none).
func checkNodeExtras(t *testing.T, n *hclspec.Node, root, bmc, cred string) {
	t.Helper()
	m := nodeJSON(t, n)
	if got, _ := m["Root"].(string); got != root {
		t.Errorf("%s: root %q, want %q", n.Name, got, root)
	}
	b, _ := m["BMC"].(map[string]any)
	switch {
	case bmc == "" && b != nil:
		t.Errorf("%s: bmc %v, want none", n.Name, b)
	case bmc != "" && b == nil:
		t.Errorf("%s: no bmc, want %s", n.Name, bmc)
	case bmc != "":
		got := fmt.Sprintf("%v:%v", b["address"], b["port"])
		if got != bmc || b["driver"] != "ipmi" || b["credentials"] != cred {
			t.Errorf("%s: bmc %v, want ipmi %s credentials %s", n.Name, b, bmc, cred)
		}
	}
}

// checkLogin checks login1's interfaces: the boot NIC with its MTU, an
// InfiniBand interface, a bond of two ethernet interfaces and a vlan.
func checkLogin(t *testing.T, n *hclspec.Node) {
	t.Helper()
	m := nodeJSON(t, n)
	list, _ := m["Interfaces"].([]any)
	got := map[string]string{}
	for _, x := range list {
		i := x.(map[string]any)
		got[i["Name"].(string)] = fmt.Sprintf("%v %v %v %v %v %v %v", i["Type"], i["MAC"], i["IP"], i["MTU"], i["Members"], i["Parent"], i["VLANID"])
	}
	want := map[string]string{
		"eth0":     "ethernet 02:00:00:00:01:01 10.0.1.1 9000 <nil> <nil> <nil>",
		"ib0":      "infiniband 80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:0b:0c 10.1.1.1 65520 <nil> <nil> <nil>",
		"eth1":     "ethernet 02:00:00:00:11:01  <nil> <nil> <nil> <nil>",
		"eth2":     "ethernet 02:00:00:00:12:01  <nil> <nil> <nil> <nil>",
		"bond0":    "bond <nil> 10.3.0.10 <nil> [eth1 eth2] <nil> <nil>",
		"eth0.100": "vlan <nil> 10.100.0.10 <nil> <nil> eth0 100",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("login1 interface %s: %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("login1 interfaces %v, want %v", got, want)
	}
	if n.AssetKeySHA256 == "" {
		t.Error("login1: asset key not imported")
	}
}
