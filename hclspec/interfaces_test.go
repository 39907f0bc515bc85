package hclspec

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

const netsHCL = `
network "ib" {
  subnet = "10.100.0.0/24"
}

network "data" {
  subnet  = "10.101.0.0/24"
  gateway = "10.101.0.1"
}
`

// interfacesMergeHCL declares interfaces in two profiles, one including
// the other, and in nodes that add to and override them.
const interfacesMergeHCL = `
profile "ib" {
  network_config = "ifupdown"
  interface "ib0" {
    type    = "infiniband"
    network = network.ib
    mtu     = 2044
  }
  interface "eth1" {
    mac = "52:54:00:00:01:01"
  }
}

profile "compute" {
  profiles = [profile.ib]
  image    = image.rocky9
  interface "ib0" {
    mtu = 4092
  }
}

node "c001" {
  mac            = "52:54:00:00:00:01"
  ip             = "10.99.0.11"
  profiles       = [profile.compute]
  network_config = "networkd"
  interface "ib0" {
    mac = "80:00:00:48:FE:80:00:00:00:00:00:00:F4:52:14:03:00:7B:E1:B1"
    ip  = "10.100.0.11"
  }
  interface "eth1" {
    mac = "52:54:00:00:02:01"
  }
  interface "eth0" {
    mac = "52:54:00:00:00:01"
  }
  interface "bond0" {
    type    = "bond"
    members = ["eth1", "eth2"]
    ip      = "10.101.0.11"
    mtu     = 9000
  }
  interface "vlan42" {
    type    = "vlan"
    parent  = "eth1"
    vlan_id = 42
  }
}

node "c002" {
  mac      = "52:54:00:00:00:02"
  ip       = "10.99.0.12"
  profiles = [profile.ib]
  image    = image.rocky9
  interface "ib0" {
    mac = "80:00:00:48:fe:80:00:00:00:00:00:00:f4:52:14:03:00:7b:e1:b2"
  }
}
`

func TestInterfacesMerge(t *testing.T) {
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL + netsHCL, "nodes.hcl": interfacesMergeHCL}), Options{})
	n, _ := c.Node("c001")
	if n.NetworkConfig != "networkd" {
		t.Errorf("c001 network_config %q, want the node's networkd over the profile's ifupdown", n.NetworkConfig)
	}
	var names []string
	for _, it := range n.Interfaces {
		names = append(names, it.Name)
	}
	if want := []string{"bond0", "eth0", "eth1", "ib0", "vlan42"}; !slices.Equal(names, want) {
		t.Fatalf("interfaces %v, want %v (sorted by name)", names, want)
	}
	want := map[string]Interface{
		"bond0":  {Name: "bond0", Type: "bond", IP: netip.MustParseAddr("10.101.0.11"), Network: "data", MTU: 9000, Members: []string{"eth1", "eth2"}},
		"eth0":   {Name: "eth0", Type: "ethernet", MAC: "52:54:00:00:00:01", IP: netip.MustParseAddr("10.99.0.11"), Network: "cluster", Boot: true},
		"eth1":   {Name: "eth1", Type: "ethernet", MAC: "52:54:00:00:02:01"},
		"ib0":    {Name: "ib0", Type: "infiniband", MAC: "80:00:00:48:fe:80:00:00:00:00:00:00:f4:52:14:03:00:7b:e1:b1", IP: netip.MustParseAddr("10.100.0.11"), Network: "ib", MTU: 4092},
		"vlan42": {Name: "vlan42", Type: "vlan", Parent: "eth1", VLANID: 42},
	}
	for _, it := range n.Interfaces {
		w := want[it.Name]
		if it.Name != w.Name || it.Type != w.Type || it.MAC != w.MAC || it.IP != w.IP || it.Network != w.Network || it.MTU != w.MTU ||
			!slices.Equal(it.Members, w.Members) || it.Parent != w.Parent || it.VLANID != w.VLANID || it.Boot != w.Boot {
			t.Errorf("interface %s:\n got %+v\nwant %+v", it.Name, *it, w)
		}
	}
	m, _ := c.Node("c002")
	if m.NetworkConfig != "ifupdown" || len(m.Interfaces) != 2 || m.Interfaces[1].Name != "ib0" || m.Interfaces[1].MTU != 2044 || !strings.HasSuffix(m.Interfaces[1].MAC, ":b2") || m.Interfaces[1].Type != "infiniband" {
		t.Errorf("c002 got network_config %q and %+v; want the profile's ifupdown, eth1 and ib0 (infiniband, mtu 2044, the node's mac)", m.NetworkConfig, m.Interfaces)
	}
}

// An ib0 from a profile without a mac is an error on the node that does
// not give one; an interface change changes the cluster's hash.
func TestInterfacesHash(t *testing.T) {
	files := func(mtu string) map[string]string {
		return map[string]string{"main.hcl": baseHCL + netsHCL + `
node "c001" {
  mac   = "52:54:00:00:00:01"
  ip    = "10.99.0.11"
  image = image.rocky9
  interface "eth1" {
    mac = "52:54:00:00:02:01"
    mtu = ` + mtu + `
  }
}
`}
	}
	a := mustLoad(t, mapFS(files("1500")), Options{})
	b := mustLoad(t, mapFS(files("9000")), Options{})
	if a.Hash == b.Hash {
		t.Error("an interface's mtu change left the cluster hash unchanged")
	}
	if a.Hash != hashWhole(a) {
		t.Error("hash of a cluster with interfaces differs from hashWhole's")
	}
}

func TestInterfaceErrors(t *testing.T) {
	for _, tc := range append(interfaceAddressErrors(), interfaceShapeErrors()...) {
		t.Run(tc.name, func(t *testing.T) {
			c, diags := Load(mapFS(tc.files), Options{})
			if c != nil {
				t.Fatal("Load returned a cluster despite errors")
			}
			got := errorLines(diags)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// interfaceErrorCase is a repository with an error in an interface block
// and the diagnostics it gives.
type interfaceErrorCase struct {
	name  string
	files map[string]string
	want  []string
}

// interfaceNode is a repository with node c001 holding body.
func interfaceNode(body string) map[string]string {
	return map[string]string{"main.hcl": baseHCL + netsHCL, "n.hcl": `node "c001" {
  mac   = "52:54:00:00:00:01"
  ip    = "10.99.0.11"
  image = image.rocky9
` + body + `}
`}
}

// interfaceAddressErrors: bad or duplicate MACs and addresses, networks
// that do not hold them or do not exist.
func interfaceAddressErrors() []interfaceErrorCase {
	return []interfaceErrorCase{{
		name:  "bad mac",
		files: interfaceNode("  interface \"eth1\" {\n    mac = \"52:54:00:00:02\"\n  }\n"),
		want:  []string{`n.hcl:6:11: Invalid MAC address: mac of interface "eth1" of node "c001" must be six hex bytes such as "52:54:00:00:00:01" (InfiniBand: twenty), not "52:54:00:00:02".`},
	}, {
		name:  "mac length for the type",
		files: interfaceNode("  interface \"ib0\" {\n    type = \"infiniband\"\n    mac  = \"52:54:00:00:02:01\"\n  }\n"),
		want:  []string{`n.hcl:7:12: Invalid MAC address: interface "ib0" of node "c001" is of type infiniband: its mac must have twenty octets (an IPoIB hardware address), not "52:54:00:00:02:01".`},
	}, {
		name:  "ethernet without mac",
		files: interfaceNode("  interface \"eth1\" {\n    ip = \"10.101.0.11\"\n  }\n"),
		want:  []string{`n.hcl:5:13: Interface without mac: interface "eth1" of node "c001" (type ethernet) needs mac: gitboot matches the interface by its hardware address.`},
	}, {
		name:  "ip outside its network",
		files: interfaceNode("  interface \"eth1\" {\n    mac     = \"52:54:00:00:02:01\"\n    ip      = \"10.101.0.11\"\n    network = network.ib\n  }\n"),
		want:  []string{`n.hcl:7:15: IP outside its network: interface "eth1" of node "c001" has ip 10.101.0.11, outside subnet 10.100.0.0/24 of network "ib".`},
	}, {
		name:  "ip no network holds",
		files: interfaceNode("  interface \"eth1\" {\n    mac = \"52:54:00:00:02:01\"\n    ip  = \"192.168.5.5\"\n  }\n"),
		want:  []string{`n.hcl:7:11: Interface without network: interface "eth1" of node "c001" has ip 192.168.5.5, which no network's subnet holds: set network = network.NAME or fix the ip.`},
	}, {
		name:  "unknown network with suggestion",
		files: interfaceNode("  interface \"eth1\" {\n    mac     = \"52:54:00:00:02:01\"\n    network = network.dat\n  }\n"),
		want:  []string{`n.hcl:7:15: Reference to undeclared network: No network named "dat" is declared. Did you mean "network.data"?`},
	}, {
		name: "duplicate ip and mac across nodes",
		files: map[string]string{"main.hcl": baseHCL + netsHCL, "n.hcl": `node "c001" {
  mac   = "52:54:00:00:00:01"
  ip    = "10.99.0.11"
  image = image.rocky9
  interface "eth1" {
    mac = "52:54:00:00:00:02"
    ip  = "10.101.0.11"
  }
}
node "c002" {
  mac   = "52:54:00:00:00:02"
  ip    = "10.99.0.12"
  image = image.rocky9
  interface "eth1" {
    mac = "52:54:00:00:02:01"
    ip  = "10.101.0.11"
  }
  interface "eth2" {
    mac = "52:54:00:00:02:01"
    ip  = "10.99.0.11"
  }
}
`},
		want: []string{
			`n.hcl:6:11: Duplicate MAC address: interface "eth1" of node "c001" has mac 52:54:00:00:00:02, the mac of node "c002" (set at n.hcl:11,11-30).`,
			`n.hcl:16:11: Duplicate IP address: interface "eth1" of node "c002" has ip 10.101.0.11, as has interface "eth1" of node "c001" (set at n.hcl:7,11-24).`,
			`n.hcl:19:11: Duplicate MAC address: interface "eth2" of node "c002" has mac 52:54:00:00:02:01, as has interface "eth1" of node "c002" (set at n.hcl:15,11-30).`,
			`n.hcl:20:11: Duplicate IP address: interface "eth2" of node "c002" has ip 10.99.0.11, the ip of node "c001" (set at n.hcl:3,11-23).`,
		},
	}, {
		name:  "boot interface with another ip",
		files: interfaceNode("  interface \"eth0\" {\n    mac = \"52:54:00:00:00:01\"\n    ip  = \"10.99.0.12\"\n  }\n"),
		want:  []string{`n.hcl:7:11: Boot interface with another ip: interface "eth0" of node "c001" has the node's mac, so it is the boot NIC; its ip 10.99.0.12 differs from the node's ip 10.99.0.11 (leave it out or make it the same).`},
	}, {
		name:  "bond with the node's mac",
		files: interfaceNode("  interface \"bond0\" {\n    type    = \"bond\"\n    mac     = \"52:54:00:00:00:01\"\n    members = [\"eth1\"]\n  }\n"),
		want:  []string{`n.hcl:7:15: Duplicate MAC address: interface "bond0" of node "c001" has mac 52:54:00:00:00:01, the mac of node "c001" (set at n.hcl:2,11-30).`},
	}}
}

// interfaceShapeErrors: bonds, VLANs, types, MTUs, network_config and
// interface names that are not right.
func interfaceShapeErrors() []interfaceErrorCase {
	return []interfaceErrorCase{{
		name:  "bond without members",
		files: interfaceNode("  interface \"bond0\" {\n    type = \"bond\"\n    ip   = \"10.101.0.11\"\n  }\n"),
		want:  []string{`n.hcl:5:13: Bond without members: interface "bond0" of node "c001" is a bond and needs members = ["NAME", ...], the interfaces it bonds.`},
	}, {
		name:  "vlan without parent and vlan_id",
		files: interfaceNode("  interface \"vlan42\" {\n    type = \"vlan\"\n  }\n"),
		want: []string{
			`n.hcl:5:13: VLAN without parent: interface "vlan42" of node "c001" is a vlan and needs parent = "NAME", the interface it is tagged on.`,
			`n.hcl:5:13: VLAN without vlan_id: interface "vlan42" of node "c001" is a vlan and needs vlan_id, a number from 1 to 4094.`,
		},
	}, {
		name:  "vlan_id out of range",
		files: interfaceNode("  interface \"vlan42\" {\n    type    = \"vlan\"\n    parent  = \"eth1\"\n    vlan_id = 4095\n  }\n"),
		want:  []string{`n.hcl:8:15: Value out of range: vlan_id of interface "vlan42" of node "c001" must be a whole number from 1 to 4094, not 4095.`},
	}, {
		name:  "unknown type",
		files: interfaceNode("  interface \"eth1\" {\n    type = \"ethernt\"\n    mac  = \"52:54:00:00:02:01\"\n  }\n"),
		want:  []string{`n.hcl:6:12: Unknown interface type: type must be one of "ethernet", "infiniband", "bond", "vlan", not "ethernt". Did you mean "ethernet"?`},
	}, {
		name:  "mtu out of range",
		files: interfaceNode("  interface \"eth1\" {\n    mac = \"52:54:00:00:02:01\"\n    mtu = 65536\n  }\n"),
		want:  []string{`n.hcl:7:11: Value out of range: mtu of interface "eth1" of node "c001" must be a whole number from 68 to 65535, not 65536.`},
	}, {
		name:  "bad network_config",
		files: interfaceNode("  network_config = \"networkmanger\"\n"),
		want:  []string{`n.hcl:5:20: Invalid network_config: network_config must be one of "networkd", "networkmanager", "ifupdown", not "networkmanger" (leave it out to detect the image's stack at boot). Did you mean "networkmanager"?`},
	}, {
		name:  "duplicate interface block and bad name",
		files: interfaceNode("  interface \"eth1\" {\n    mac = \"52:54:00:00:02:01\"\n  }\n  interface \"eth1\" {\n    mac = \"52:54:00:00:02:02\"\n  }\n  interface \"a-very-long-interface\" {\n    mac = \"52:54:00:00:02:03\"\n  }\n"),
		want: []string{
			`n.hcl:8:13: Duplicate interface: node "c001" declares interface "eth1" twice.`,
			`n.hcl:11:13: Invalid interface name: Interface name "a-very-long-interface" must start with a letter, hold only letters, digits, '_', '-' and '.', and be at most 15 characters (Linux's limit).`,
		},
	}, {
		name:  "bond member with an address",
		files: interfaceNode("  interface \"eth1\" {\n    mac = \"52:54:00:00:02:01\"\n    ip  = \"10.101.0.12\"\n  }\n  interface \"bond0\" {\n    type    = \"bond\"\n    members = [\"eth1\"]\n  }\n"),
		want:  []string{`n.hcl:11:15: Bond member with an address: interface "eth1" of node "c001" is a member of bond "bond0" and has ip 10.101.0.12; the address belongs on the bond.`},
	}}
}

// TestInterfacesForEach: interface blocks of a for_each node are evaluated
// per element (each.value), and a structural problem of a block is
// reported once, not once per element.
func TestInterfacesForEach(t *testing.T) {
	files := map[string]string{"main.hcl": baseHCL + netsHCL, "n.hcl": `node "n" {
  for_each = { n1 = 1, n2 = 2 }
  mac   = format("52:54:00:00:00:%02x", each.value)
  ip    = cidrhost("10.99.0.0/24", 10 + each.value)
  image = image.rocky9
  interface "ib0" {
    type = "infiniband"
    mac  = format("80:00:00:48:fe:80:00:00:00:00:00:00:f4:52:14:03:00:7b:e1:%02x", each.value)
    ip   = cidrhost("10.100.0.0/24", 10 + each.value)
  }
}
`}
	c := mustLoad(t, mapFS(files), Options{})
	n2, _ := c.Node("n2")
	if len(n2.Interfaces) != 1 || n2.Interfaces[0].IP.String() != "10.100.0.12" || !strings.HasSuffix(n2.Interfaces[0].MAC, ":02") || n2.Interfaces[0].Network != "ib" {
		t.Errorf("n2 interfaces %+v", n2.Interfaces)
	}
	files["n.hcl"] = strings.Replace(files["n.hcl"], `interface "ib0" {`, "interface \"ib0\" {\n    bogus = 1", 1)
	_, diags := Load(mapFS(files), Options{})
	if got := errorLines(diags); len(got) != 1 || !strings.Contains(got[0], "Unsupported argument") {
		t.Errorf("errors %q, want one Unsupported argument", got)
	}
}
