package dhcp

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/internal/netnstest"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/insomniacslk/dhcp/iana"
)

// startDnsmasq runs dnsmasq as the site's DHCP server (range .100-.150, no
// boot information) and returns its server identifier: in its own
// namespace on the lab's bridge (10.99.0.2), or, with sameNS, next to
// gitboot in the server's namespace, sharing port 67 (10.99.0.1).
func startDnsmasq(t *testing.T, l *lab, sameNS bool) string {
	t.Helper()
	netnstest.RequireCommands(t, "dnsmasq")
	site, ifname, sid := l.srv, l.srvIf, "10.99.0.1"
	if !sameNS {
		site, sid = netnstest.New(t, "site"), "10.99.0.2"
		ifname = netnstest.Attach(t, l.lan, l.br, site, sid+"/24")
	}
	dir := t.TempDir()
	_, out := site.Start(t, "dnsmasq", "-k", "-C", "/dev/null", "--user=root", "--no-ping", "--port=0",
		"--interface="+ifname, "--bind-interfaces", "--dhcp-range=10.99.0.100,10.99.0.150,255.255.255.0,1h",
		"--dhcp-option=3,10.99.0.1", "--dhcp-leasefile="+filepath.Join(dir, "leases"),
		"--pid-file="+filepath.Join(dir, "pid"), "--log-dhcp", "--log-facility=-")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dnsmasq:\n%s", out)
		}
	})
	// Wait until dnsmasq has its DHCP socket.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "DHCP, IP range") {
		if time.Now().After(deadline) {
			t.Fatalf("dnsmasq did not start:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return sid
}

// TestWireProxyWithDnsmasq plays a UEFI PXE client next to dnsmasq: its
// DISCOVER gets an address offer from dnsmasq and a boot offer from
// gitboot (no address); it takes dnsmasq's address, then asks gitboot on
// port 4011 for the boot file.
func TestWireProxyWithDnsmasq(t *testing.T) {
	t.Run("own_namespace", func(t *testing.T) { testProxyWithDnsmasq(t, false) })
	t.Run("same_namespace", func(t *testing.T) { testProxyWithDnsmasq(t, true) })
}

func testProxyWithDnsmasq(t *testing.T, sameNS bool) {
	l := newLab(t, snapOpts{mode: bootsvc.DHCPProxy})
	siteID := startDnsmasq(t, l, sameNS)
	ns, ifname := l.client(macC001)
	hw, _ := net.ParseMAC(macC001)

	var c *nclient4.Client
	mustNoErr(t, ns.Do(func() error {
		var err error
		c, err = nclient4.New(ifname, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(4))
		return err
	}))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	pxe := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(pxeUEFI)),
	}
	discover, err := dhcpv4.NewDiscovery(hw, append(pxe, dhcpv4.WithBroadcast(true))...)
	mustNoErr(t, err)
	var mu sync.Mutex
	offers := map[string]*dhcpv4.DHCPv4{}
	_, err = c.SendAndRead(ctx, nclient4.DefaultServers, discover, func(p *dhcpv4.DHCPv4) bool {
		if p.MessageType() != dhcpv4.MessageTypeOffer {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		// Keyed by kind: with dnsmasq in gitboot's namespace both carry
		// server identifier 10.99.0.1.
		kind := "address"
		if p.YourIPAddr.IsUnspecified() {
			kind = "boot"
		}
		offers[kind] = p
		return len(offers) == 2
	})
	if err != nil {
		t.Fatalf("want offers from dnsmasq and gitboot, got %d: %v", len(offers), err)
	}
	site, boot := offers["address"], offers["boot"]
	if site == nil || boot == nil {
		t.Fatalf("offers from %v", offers)
	}
	siteAddr := ip4(site.YourIPAddr)
	if !netip.MustParsePrefix("10.99.0.0/24").Contains(siteAddr) || siteAddr.As4()[3] < 100 || siteAddr.As4()[3] > 150 {
		t.Fatalf("dnsmasq offered %v", siteAddr)
	}
	if !boot.YourIPAddr.IsUnspecified() || boot.BootFileName != "snponly.efi" || boot.ClassIdentifier() != "PXEClient" ||
		boot.ServerIPAddr.String() != "10.99.0.1" || boot.SubnetMask() != nil {
		t.Fatalf("gitboot proxy offer:\n%s", boot.Summary())
	}

	lease, err := c.RequestFromOffer(ctx, site, pxe...)
	if err != nil {
		t.Fatalf("requesting dnsmasq's offer: %v", err)
	}
	if site.ServerIdentifier().String() != siteID || boot.ServerIdentifier().String() != "10.99.0.1" {
		t.Fatalf("server identifiers: address offer %v, boot offer %v", site.ServerIdentifier(), boot.ServerIdentifier())
	}
	if got := ip4(lease.ACK.YourIPAddr); got != siteAddr || lease.ACK.ServerIdentifier().String() != siteID {
		t.Fatalf("ACK from %v for %v", lease.ACK.ServerIdentifier(), got)
	}

	// The PXE client now has its address and asks the boot server on 4011.
	ack := askBootServer(t, ns, ifname, siteAddr)
	if ack.MessageType() != dhcpv4.MessageTypeAck || ack.BootFileName != "snponly.efi" ||
		ack.ServerIdentifier().String() != "10.99.0.1" || !ack.YourIPAddr.IsUnspecified() {
		t.Fatalf("port 4011 answer:\n%s", ack.Summary())
	}
	if e, ok := l.rec.find(macC001); !ok || e.Node != "c001" {
		t.Fatalf("no DHCP event for c001: %+v", e)
	}
}

// askBootServer gives the client's interface ifname (in ns) the address
// siteAddr dnsmasq leased and asks gitboot for the boot file on port 4011,
// as a PXE client does, retrying; it fails the test without an answer.
func askBootServer(t *testing.T, ns *netnstest.NS, ifname string, siteAddr netip.Addr) *dhcpv4.DHCPv4 {
	ns.MustIP(t, "addr", "add", siteAddr.String()+"/24", "dev", ifname)
	var conn net.PacketConn
	mustNoErr(t, ns.Do(func() error {
		var err error
		conn, err = net.ListenPacket("udp4", siteAddr.String()+":68")
		return err
	}))
	defer conn.Close()
	breq := req(dhcpv4.MessageTypeRequest, macC001, withCiaddr(siteAddr.String()), withArch(iana.EFI_X86_64), withVendor(pxeUEFI))
	var ack *dhcpv4.DHCPv4
	for try := 0; try < 5 && ack == nil; try++ {
		_, err := conn.WriteTo(breq.ToBytes(), &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1), Port: ProxyPort})
		mustNoErr(t, err)
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 1500)
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			continue
		}
		ack, err = dhcpv4.FromBytes(buf[:n])
		mustNoErr(t, err)
	}
	if ack == nil {
		t.Fatal("no answer from gitboot on port 4011")
	}
	return ack
}

// TestWireProxyDhclient runs an ordinary dhclient (not a PXE client) next
// to dnsmasq and gitboot in proxy mode, both in one namespace: gitboot
// leaves it alone and it gets dnsmasq's address. (A plain DHCP client that claims to be a
// PXEClient may take gitboot's address-less proxy offer first and only
// succeed on its next DISCOVER; PXE firmware and iPXE handle proxy offers.)
func TestWireProxyDhclient(t *testing.T) {
	l := newLab(t, snapOpts{mode: bootsvc.DHCPProxy})
	siteID := startDnsmasq(t, l, true) // dnsmasq shares gitboot's namespace and port 67
	ns, ifname := l.client(macC002)
	env := dhclient(t, ns, ifname, "")
	if env["new_dhcp_server_identifier"] != siteID || !strings.HasPrefix(env["new_ip_address"], "10.99.0.1") {
		t.Fatalf("dhclient lease from %s: %s", env["new_dhcp_server_identifier"], env["new_ip_address"])
	}
	if st := l.s.Stats(); st.Offers != 0 || st.Acks != 0 || st.Ignored == 0 {
		t.Fatalf("gitboot answered a non-PXE client in proxy mode: %+v", st)
	}
}

// TestListenPortInUse: a busy DHCP port is an error naming the port and
// the dhcp_port setting.
func TestListenPortInUse(t *testing.T) {
	netnstest.Require(t)
	ns := netnstest.New(t, "busy")
	var err error
	mustNoErr(t, ns.Do(func() error {
		busy, lerr := net.ListenPacket("udp4", "0.0.0.0:67")
		if lerr != nil {
			return lerr
		}
		defer busy.Close()
		var c net.PacketConn
		c, err = Listen(context.Background(), ListenConfig{Port: 67})
		if c != nil {
			c.Close()
		}
		return nil
	}))
	if err == nil || !strings.Contains(err.Error(), "port 67") || !strings.Contains(err.Error(), "dhcp_port") {
		t.Fatalf("error %v, want one naming port 67 and dhcp_port", err)
	}
}

// TestWireBadInputThenServes sends garbage datagrams at the server's port
// and then checks that a real client is still served.
func TestWireBadInputThenServes(t *testing.T) {
	l := newLab(t, snapOpts{})
	ns, ifname := l.client(macC002)
	ns.MustIP(t, "addr", "add", "10.99.0.77/24", "dev", ifname)
	var conn net.PacketConn
	mustNoErr(t, ns.Do(func() error {
		var err error
		conn, err = net.ListenPacket("udp4", "10.99.0.77:0")
		return err
	}))
	good := req(dhcpv4.MessageTypeDiscover, macC001).ToBytes()
	junk := [][]byte{{}, {1, 2, 3}, good[:200], good[:241], append(append([]byte{}, good[:240]...), 60, 255, 1)}
	for i := 0; i < 200; i++ {
		_, err := conn.WriteTo(junk[i%len(junk)], &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1), Port: ServerPort})
		mustNoErr(t, err)
	}
	conn.Close()
	ns.MustIP(t, "addr", "flush", "dev", ifname)
	if env := udhcpc(t, ns, ifname); env == nil || env["ip"] != "10.99.0.12" {
		t.Fatalf("not served after bad input: %v", env)
	}
	if st := l.s.Stats(); st.Malformed == 0 {
		t.Fatalf("no malformed datagrams counted: %+v", st)
	}
}
