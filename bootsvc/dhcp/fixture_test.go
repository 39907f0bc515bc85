package dhcp

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Test fixture: one server, the cluster network (10.99.0.0/24) and a
// relayed network (10.98.0.0/24), three nodes.
const (
	macC001  = "52:54:00:00:00:01"
	macC002  = "52:54:00:00:00:02"
	macR2N01 = "52:54:00:00:01:01"
	macOther = "52:54:00:ff:00:99"
)

type snapOpts struct {
	mode    string
	dynamic bool
	uefi    string
	addr    string
	anyIf   bool // wire tests: listen on all interfaces (no SO_BINDTODEVICE)
}

func testSnapshot(o snapOpts) *bootsvc.Snapshot {
	if o.mode == "" {
		o.mode = bootsvc.DHCPAuthoritative
	}
	if o.addr == "" {
		o.addr = "10.99.0.1"
	}
	a := netip.MustParseAddr
	srv := bootsvc.Server{
		Name: "head", Address: a(o.addr), HTTPPort: 9873, TFTPPort: 69, DHCPPort: 67,
		DHCPMode: o.mode, IPXEDir: "/usr/lib/ipxe", UEFIBootFile: o.uefi,
	}
	cluster := bootsvc.Network{
		Name: "cluster", Subnet: netip.MustParsePrefix("10.99.0.0/24"), Gateway: a("10.99.0.1"),
		DNS: []netip.Addr{a("10.99.0.1"), a("10.99.0.2")}, Domain: "cluster.local", LeaseTime: time.Hour,
	}
	if o.dynamic {
		cluster.DynamicStart, cluster.DynamicEnd = a("10.99.0.200"), a("10.99.0.210")
	}
	rack2 := bootsvc.Network{
		Name: "rack2", Subnet: netip.MustParsePrefix("10.98.0.0/24"), Gateway: a("10.98.0.254"),
		DNS: []netip.Addr{a("10.99.0.1")}, Domain: "rack2.cluster.local", LeaseTime: 30 * time.Minute,
	}
	nodes := []bootsvc.Node{
		{Name: "c001", MAC: macC001, IP: a("10.99.0.11"), Network: "cluster"},
		{Name: "c002", MAC: macC002, IP: a("10.99.0.12"), Network: "cluster"},
		{Name: "r2n01", MAC: macR2N01, IP: a("10.98.0.21"), Network: "rack2"},
		// A node whose reserved address sits inside the dynamic range: it
		// must never be handed out dynamically.
		{Name: "c201", MAC: "52:54:00:00:02:01", IP: a("10.99.0.200"), Network: "cluster"},
	}
	return bootsvc.NewSnapshot(srv, []bootsvc.Network{cluster, rack2}, nodes, "abc123")
}

// req builds a request with a fixed transaction ID.
func req(mt dhcpv4.MessageType, mac string, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		panic(err)
	}
	d := &dhcpv4.DHCPv4{
		OpCode: dhcpv4.OpcodeBootRequest, HWType: iana.HWTypeEthernet,
		TransactionID: dhcpv4.TransactionID{0xde, 0xad, 0xbe, 0xef},
		ClientIPAddr:  net.IPv4zero, YourIPAddr: net.IPv4zero, ServerIPAddr: net.IPv4zero,
		GatewayIPAddr: net.IPv4zero, ClientHWAddr: hw, Options: dhcpv4.Options{},
	}
	d.UpdateOption(dhcpv4.OptMessageType(mt))
	for _, m := range mods {
		m(d)
	}
	return d
}

func withArch(a iana.Arch) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptClientArch(a))
}

func withVendor(v string) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptClassIdentifier(v))
}

func withRequested(ip string) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(ip)))
}

func withServerID(ip string) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(ip)))
}

func withIPXE() dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE"))
}

func withCiaddr(ip string) dhcpv4.Modifier { return dhcpv4.WithClientIP(net.ParseIP(ip)) }

func withGiaddr(ip string) dhcpv4.Modifier { return dhcpv4.WithGatewayIP(net.ParseIP(ip)) }

func withOpcode(op dhcpv4.OpcodeType) dhcpv4.Modifier {
	return func(d *dhcpv4.DHCPv4) { d.OpCode = op }
}

func withoutType() dhcpv4.Modifier {
	return func(d *dhcpv4.DHCPv4) { d.Options.Del(dhcpv4.OptionDHCPMessageType) }
}

// mustNoErr fails the test on err.
func mustNoErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
