package hclspec

import (
	"slices"
	"strings"
	"testing"
)

func TestBMCMergedFromProfiles(t *testing.T) {
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL, "nodes.hcl": `
profile "rack1" {
  image = image.rocky9
  bmc {
    driver      = "ipmi"
    credentials = "rack1"
  }
}
profile "redfish" {
  profiles = [profile.rack1]
  bmc {
    driver   = "redfish"
    insecure = true
  }
}
node "c001" {
  mac      = "52:54:00:00:00:01"
  ip       = "10.99.0.11"
  profiles = [profile.rack1]
  bmc { address = "10.98.8.21" }
}
node "c002" {
  mac      = "52:54:00:00:00:02"
  ip       = "10.99.0.12"
  profiles = [profile.redfish]
  bmc {
    address = "bmc-c002.example.org"
    port    = 8443
  }
}
node "r" {
  for_each = { r01 = "10.98.9.1", r02 = "10.98.9.2" }
  mac      = each.key == "r01" ? "52:54:00:00:01:01" : "52:54:00:00:01:02"
  ip       = each.key == "r01" ? "10.99.0.21" : "10.99.0.22"
  image    = image.rocky9
  bmc {
    driver      = "ipmi"
    address     = each.value
    credentials = "rack2"
  }
}
`}), Options{})
	want := map[string]BMC{
		"c001": {Driver: "ipmi", Address: "10.98.8.21", Port: 623, Credentials: "rack1"},
		"c002": {Driver: "redfish", Address: "bmc-c002.example.org", Port: 8443, Credentials: "rack1", Insecure: true},
		"r01":  {Driver: "ipmi", Address: "10.98.9.1", Port: 623, Credentials: "rack2"},
		"r02":  {Driver: "ipmi", Address: "10.98.9.2", Port: 623, Credentials: "rack2"},
	}
	for name, w := range want {
		n, _ := c.Node(name)
		if n.BMC == nil || *n.BMC != w {
			t.Errorf("node %s: bmc %+v, want %+v", name, n.BMC, w)
		}
	}
	if o := c.nodes["c001"].Origins["bmc.credentials"]; o.Start.Line != 6 {
		t.Errorf("c001's credentials come from line %d, want 6 (profile rack1)", o.Start.Line)
	}
}

func TestBMCDefaultPortAndHash(t *testing.T) {
	src := func(bmc string) map[string]string {
		return map[string]string{"main.hcl": baseHCL, "nodes.hcl": `
node "c001" {
  mac   = "52:54:00:00:00:01"
  ip    = "10.99.0.11"
  image = image.rocky9
  ` + bmc + `
}
`}
	}
	none := mustLoad(t, mapFS(src("")), Options{})
	a := mustLoad(t, mapFS(src("bmc {\n driver = \"redfish\"\n address = \"10.98.8.21\"\n}")), Options{})
	b := mustLoad(t, mapFS(src("bmc {\n driver = \"redfish\"\n address = \"10.98.8.22\"\n}")), Options{})
	if n, _ := a.Node("c001"); n.BMC.Port != DefaultRedfishPort || n.BMC.HostPort() != "10.98.8.21:443" {
		t.Errorf("redfish default port: %+v", n.BMC)
	}
	if none.Hash == a.Hash || a.Hash == b.Hash {
		t.Errorf("the bmc block is not part of the desired state: hashes %s %s %s", none.Hash[:8], a.Hash[:8], b.Hash[:8])
	}
}

func TestBMCDiagnostics(t *testing.T) {
	// Each case's bmc block starts on line 5; its attributes are lines 6+.
	for _, tc := range []struct {
		name, bmc, want string
	}{
		{"bad driver", "driver = \"ipmy\"\naddress = \"10.0.0.1\"", `nodes.hcl:6:10: Invalid BMC driver: driver must be one of "ipmi", "redfish", not "ipmy".`},
		{"bad address", "driver = \"ipmi\"\naddress = \"10.0.0.1/24\"", `nodes.hcl:7:11: Invalid BMC address`},
		{"bad port", "driver = \"ipmi\"\naddress = \"10.0.0.1\"\nport = 70000", `nodes.hcl:8:8: Port out of range`},
		{"bad credentials", "driver = \"ipmi\"\naddress = \"10.0.0.1\"\ncredentials = \"a b\"", `nodes.hcl:8:15: Invalid credentials name`},
		{"no driver", "address = \"10.0.0.1\"", `nodes.hcl:5:3: Missing BMC driver: The bmc of node "c001" needs driver`},
		{"no address", "driver = \"ipmi\"", `nodes.hcl:5:3: Missing BMC address`},
		{"unknown attribute", "driver = \"ipmi\"\naddress = \"10.0.0.1\"\nuser = \"x\"", `nodes.hcl:8:1: Unsupported argument`},
		{"two blocks", "driver = \"ipmi\"\naddress = \"10.0.0.1\"\n}\nbmc {\ndriver = \"ipmi\"", `nodes.hcl:9:1: Duplicate bmc block`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := Load(mapFS(map[string]string{"main.hcl": baseHCL, "nodes.hcl": `node "c001" {
  mac   = "52:54:00:00:00:01"
  ip    = "10.99.0.11"
  image = image.rocky9
  bmc {
` + tc.bmc + `
}
}
`}), Options{})
			lines := errorLines(diags)
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, tc.want) }) {
				t.Errorf("diagnostics:\n%s\nwant one starting %q", strings.Join(lines, "\n"), tc.want)
			}
		})
	}
}
