package artifact

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gitboot/gitboot/hclspec"
)

var updateNet = flag.Bool("update", false, "rewrite the golden files under testdata (netconfig, builtin)")

// netClusterHCL has the networks and image the netconfig tests' nodes use.
const netClusterHCL = `
server "head" {
  address = "10.99.0.1"
}
network "cluster" {
  subnet  = "10.99.0.0/24"
  gateway = "10.99.0.1"
  dns     = ["10.99.0.1", "10.99.0.2"]
  domain  = "cluster.example"
}
network "data" {
  subnet = "10.98.0.0/24"
  gateway = "10.98.0.1"
  dns    = ["10.98.0.1"]
  domain = "data.example"
}
network "ib" {
  subnet = "10.100.0.0/16"
}
image "debian" {
  source = "/images/debian"
}
`

// netCases are the nodes whose rendered network files are golden.
var netCases = []struct{ name, node string }{{
	// The Debian end-to-end test's node: the boot NIC undeclared, a
	// second NIC with its own address.
	name: "second-nic",
	node: `node "n1" {
  mac   = "52:54:00:00:00:01"
  ip    = "10.99.0.11"
  image = image.debian
  interface "data0" {
    mac = "52:54:00:00:01:01"
    ip  = "10.98.0.11"
  }
}`,
}, {
	name: "boot-only-networkd",
	node: `node "n1" {
  mac            = "52:54:00:00:00:01"
  ip             = "10.99.0.11"
  image          = image.debian
  network_config = "networkd"
}`,
}, {
	// The boot NIC declared (a pinned name, MTU 9000), InfiniBand, a bond
	// of a declared and an undeclared member with its own MAC, a vlan on
	// an undeclared parent.
	name: "everything",
	node: `node "n1" {
  mac   = "52:54:00:00:00:01"
  ip    = "10.99.0.11"
  image = image.debian
  interface "eno1" {
    mac = "52:54:00:00:00:01"
    mtu = 9000
  }
  interface "ib0" {
    type = "infiniband"
    mac  = "80:00:00:48:fe:80:00:00:00:00:00:00:f4:52:14:03:00:7b:e1:b1"
    ip   = "10.100.0.11"
    mtu  = 2044
  }
  interface "eth1" {
    mac = "52:54:00:00:01:01"
  }
  interface "bond0" {
    type    = "bond"
    mac     = "52:54:00:00:0b:01"
    members = ["eth1", "eth2"]
    ip      = "10.98.0.11"
  }
  interface "vlan42" {
    type    = "vlan"
    parent  = "eth3"
    vlan_id = 42
  }
}`,
}}

func loadNetCluster(t testing.TB, node string) *hclspec.Cluster {
	t.Helper()
	c, diags := hclspec.Load(fstest.MapFS{"main.hcl": {Data: []byte(netClusterHCL + node + "\n")}}, hclspec.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return c
}

// renderNetFiles lists every file of a node's network overlay but the
// netconfig script: path, mode, content.
func renderNetFiles(ov *overlay) string {
	var b strings.Builder
	for _, f := range ov.files {
		if f.mode&typeMask != typeReg || f.name == "usr/lib/gitboot/netconfig" {
			continue
		}
		fmt.Fprintf(&b, "=== %s (%04o)\n%s\n", f.name, f.mode&0o7777, f.data)
	}
	return b.String()
}

func TestNetConfigGolden(t *testing.T) {
	for _, tc := range netCases {
		t.Run(tc.name, func(t *testing.T) {
			c := loadNetCluster(t, tc.node)
			n, _ := c.Node("n1")
			ov := netOverlay(c, n)
			if ov == nil {
				t.Fatal("no network overlay")
			}
			got := renderNetFiles(ov)
			golden := filepath.Join("testdata", "netconfig", tc.name+".golden")
			if *updateNet {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("rendered files differ from %s (run with -update after checking):\n%s", golden, got)
			}
		})
	}
}

// TestNetOverlayOnlyWhenDeclared: a node without interfaces or
// network_config gets no network overlay, so its system overlay input
// key is what it was; one with them gets a key of its own, which changes
// with an interface's settings.
func TestNetOverlayOnlyWhenDeclared(t *testing.T) {
	plain := loadNetCluster(t, `node "n1" {
  mac   = "52:54:00:00:00:01"
  ip    = "10.99.0.11"
  image = image.debian
}`)
	n, _ := plain.Node("n1")
	if netOverlay(plain, n) != nil {
		t.Fatal("a node without interfaces got a network overlay")
	}
	key := func(c *hclspec.Cluster) string {
		t.Helper()
		ds := newDataSet(c, nil)
		var got string
		err := nodeInputs(c, ds, c.Nodes, nil, func(_ *hclspec.Node, rec nodeRecord, sys, _ []*overlay) { got = rec.SystemInput })
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	base := key(plain)
	a := key(loadNetCluster(t, netCases[0].node))
	b := key(loadNetCluster(t, strings.Replace(netCases[0].node, `ip  = "10.98.0.11"`, `ip  = "10.98.0.12"`, 1)))
	if a == base || b == base || a == b {
		t.Errorf("system input keys: plain %s, second NIC %s, its ip changed %s; want three different", base, a, b)
	}
}

// TestTemplateInterfaces: overlay templates see .Node.Interfaces.
func TestTemplateInterfaces(t *testing.T) {
	c := loadNetCluster(t, netCases[2].node)
	n, _ := c.Node("n1")
	tmpl, deps, err := parseTemplate("ifs.tmpl", `{{range .Node.Interfaces}}{{.Name}} {{.Type}} {{.IP}} {{.Network}} {{.MTU}} {{.Boot}} {{range .Members}}{{.}},{{end}}{{.Parent}}{{.VLANID}}
{{end}}`)
	if err != nil {
		t.Fatal(err)
	}
	if deps&depNode == 0 {
		t.Errorf("a template reading .Node.Interfaces does not depend on the node (deps %b)", deps)
	}
	out, err := render(tmpl, newDataSet(c, nil).data(n))
	if err != nil {
		t.Fatal(err)
	}
	want := "bond0 bond 10.98.0.11 data 0 false eth1,eth2,0\n" +
		"eno1 ethernet 10.99.0.11 cluster 9000 true 0\n" +
		"eth1 ethernet   0 false 0\n" +
		"ib0 infiniband 10.100.0.11 ib 2044 false 0\n" +
		"vlan42 vlan   0 false eth342\n"
	if string(out) != want {
		t.Errorf("rendered:\n%s\nwant:\n%s", out, want)
	}
}
