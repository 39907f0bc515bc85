package nodeblock

import (
	"net/netip"
	"strings"
	"testing"
)

// TestProposeAvoidsTakenAndDynamic: proposed addresses skip every taken
// address and the dynamic range, never repeat, and names skip declared ones.
func TestProposeAvoidsTakenAndDynamic(t *testing.T) {
	a := netip.MustParseAddr
	net := Network{Name: "cluster", Subnet: netip.MustParsePrefix("10.99.0.0/28"),
		DynamicStart: a("10.99.0.4"), DynamicEnd: a("10.99.0.9")}
	taken := map[netip.Addr]bool{a("10.99.0.1"): true, a("10.99.0.2"): true, a("10.99.0.11"): true}
	macs := []string{"52:54:00:00:00:a1", "52:54:00:00:00:a2", "52:54:00:00:00:a3", "52:54:00:00:00:a4"}
	got, err := Propose(macs, Options{Network: net, Taken: taken, Names: map[string]bool{"n002": true}, Profile: "compute"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Block{
		{Name: "n001", MAC: macs[0], IP: a("10.99.0.3")},
		{Name: "n003", MAC: macs[1], IP: a("10.99.0.10")},
		{Name: "n004", MAC: macs[2], IP: a("10.99.0.12")},
		{Name: "n005", MAC: macs[3], IP: a("10.99.0.13")},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("block %d = %+v; want %+v", i, got[i], want[i])
		}
	}
	// .14 is the last host, .15 the broadcast: two more MACs do not fit.
	_, err = Propose(append(macs, "52:54:00:00:00:a5", "52:54:00:00:00:a6"), Options{Network: net, Taken: taken})
	if err == nil || !strings.Contains(err.Error(), "no free address") {
		t.Fatalf("a full network: err = %v", err)
	}
}

func TestProposeNameFormat(t *testing.T) {
	net := Network{Name: "c", Subnet: netip.MustParsePrefix("10.0.0.0/24")}
	for _, bad := range []string{"n", "n%s", "n%d%d", "n %d", "n/%d"} {
		if _, err := Propose([]string{"52:54:00:00:00:01"}, Options{Network: net, NameFormat: bad}); err == nil {
			t.Errorf("format %q accepted", bad)
		}
	}
	got, err := Propose([]string{"52:54:00:00:00:01"}, Options{Network: net, NameFormat: "r1n%02d"})
	if err != nil || got[0].Name != "r1n01" {
		t.Fatalf("r1n%%02d: %+v, %v", got, err)
	}
}

func TestWriteCanonical(t *testing.T) {
	b := Write([]Block{
		{Name: "n001", MAC: "52:54:00:00:00:a1", IP: netip.MustParseAddr("10.99.0.3"), Comment: "seen by DHCP"},
		{Name: "n002", MAC: "52:54:00:00:00:a2", IP: netip.MustParseAddr("10.99.0.4")},
	}, "compute")
	const want = `# seen by DHCP
node "n001" {
  mac      = "52:54:00:00:00:a1"
  ip       = "10.99.0.3"
  profiles = [profile.compute]
}

node "n002" {
  mac      = "52:54:00:00:00:a2"
  ip       = "10.99.0.4"
  profiles = [profile.compute]
}
`
	if string(b) != want {
		t.Fatalf("got\n%s\nwant\n%s", b, want)
	}
}
