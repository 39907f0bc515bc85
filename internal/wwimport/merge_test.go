package wwimport

import (
	"net/netip"
	"slices"
	"testing"
)

func TestWarewulfMerge(t *testing.T) {
	c := &wwConf{profiles: map[string]*wwProfile{
		"base":  {name: "base", RuntimeOverlay: list{"a", "b"}, Kernel: &wwKernel{Args: args{"quiet", "x=1"}}, Tags: map[string]string{"k": "base"}},
		"mid":   {name: "mid", Profiles: []string{"base"}, RuntimeOverlay: list{"c"}, Tags: map[string]string{"k": "mid"}},
		"other": {name: "other", Profiles: []string{"base"}, RuntimeOverlay: list{"~a"}, ImageName: "img2"},
	}}
	for _, tc := range []struct {
		name     string
		node     *wwProfile
		expanded []string
		rt, args []string
		image    string
		tag      string
	}{
		{"nested first, each once", &wwProfile{name: "n", Profiles: []string{"mid", "other"}}, []string{"base", "mid", "other"}, []string{"b", "c"}, []string{"quiet", "x=1"}, "img2", "mid"},
		{"node removes a profile", &wwProfile{name: "n", Profiles: []string{"mid", "~base"}}, []string{"mid"}, []string{"c"}, nil, "", "mid"},
		{"node removes an entry", &wwProfile{name: "n", Profiles: []string{"mid"}, Kernel: &wwKernel{Args: args{"~quiet", "y"}}, RuntimeOverlay: list{"~c"}}, []string{"base", "mid"}, []string{"a", "b"}, []string{"x=1", "y"}, "", "mid"},
		{"node wins", &wwProfile{name: "n", Profiles: []string{"other", "mid"}, ImageName: "own", Tags: map[string]string{"k": "node"}}, []string{"base", "other", "mid"}, []string{"b", "c"}, []string{"quiet", "x=1"}, "own", "node"},
	} {
		r := c.resolve(tc.node)
		if !slices.Equal(r.expanded, tc.expanded) || !slices.Equal(r.rtOvl, tc.rt) || !slices.Equal(r.kernelArgs, tc.args) || r.image != tc.image || r.tags["k"] != tc.tag {
			t.Errorf("%s: profiles %q runtime %q args %q image %q tag %q; want %q %q %q %q %q",
				tc.name, r.expanded, r.rtOvl, r.kernelArgs, r.image, r.tags["k"], tc.expanded, tc.rt, tc.args, tc.image, tc.tag)
		}
	}
}

func TestFindRuns(t *testing.T) {
	net := &network{id: "n", subnet: netip.MustParsePrefix("10.0.0.0/16")}
	mk := func(name, ip string) *nodeOut {
		return &nodeOut{name: name, mac: "02:00:00:00:00:01", ip: netip.MustParseAddr(ip), net: net}
	}
	var nodes []*nodeOut
	for i, n := range []string{"c8", "c9", "c10", "c11", "c12"} {
		nodes = append(nodes, mk(n, netip.AddrFrom4([4]byte{10, 0, 1, byte(8 + i)}).String()))
	}
	nodes = append(nodes, mk("d1", "10.0.2.1"), mk("d2", "10.0.2.2"), mk("d3", "10.0.2.3")) // too few
	nodes = append(nodes, mk("e01", "10.0.3.1"), mk("e02", "10.0.3.2"), mk("e03", "10.0.3.9"), mk("e04", "10.0.3.10"))
	runs, single := findRuns(nodes)
	if len(runs) != 1 || runs[0].format != "c%01d" || runs[0].first != 8 || len(runs[0].nodes) != 5 {
		t.Fatalf("runs %+v, want c8..c12 as c%%01d from 8", runs)
	}
	var names []string
	for _, n := range single {
		names = append(names, n.name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"d1", "d2", "d3", "e01", "e02", "e03", "e04"}) {
		t.Fatalf("single nodes %q: three alike are too few, and an address gap breaks a run", names)
	}
}
