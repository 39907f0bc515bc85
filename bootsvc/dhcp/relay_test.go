package dhcp

import (
	"net"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/netnstest"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// TestWireRelay plays a DHCP relay: on the server's segment at 10.99.0.254,
// serving rack2 (10.98.0.0/24) as 10.98.0.254. It forwards r2n01's
// DISCOVER with giaddr set; gitboot answers the relay on port 67 with the
// rack2 address and settings.
func TestWireRelay(t *testing.T) {
	l := newLab(t, snapOpts{})
	rly := netnstest.New(t, "rly")
	netnstest.Attach(t, l.lan, l.br, rly, "10.99.0.254/24")
	netnstest.Veth(t, rly, "10.98.0.254/24", netnstest.New(t, "rack2"), "") // the relay's client side
	l.srv.MustIP(t, "route", "add", "10.98.0.0/24", "via", "10.99.0.254")

	var conn net.PacketConn
	mustNoErr(t, rly.Do(func() error {
		var err error
		conn, err = net.ListenPacket("udp4", "0.0.0.0:67")
		return err
	}))
	defer conn.Close()
	fwd := req(dhcpv4.MessageTypeDiscover, macR2N01, withGiaddr("10.98.0.254"), withArch(iana.EFI_X86_64), withVendor(pxeUEFI),
		func(d *dhcpv4.DHCPv4) { d.HopCount = 1 })
	var reply *dhcpv4.DHCPv4
	var from net.Addr
	for try := 0; try < 5 && reply == nil; try++ {
		_, err := conn.WriteTo(fwd.ToBytes(), &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1), Port: ServerPort})
		mustNoErr(t, err)
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 1500)
		var n int
		n, from, err = conn.ReadFrom(buf)
		if err != nil {
			continue
		}
		reply, err = dhcpv4.FromBytes(buf[:n])
		mustNoErr(t, err)
	}
	if reply == nil {
		t.Fatal("relay got no answer")
	}
	if reply.MessageType() != dhcpv4.MessageTypeOffer || reply.YourIPAddr.String() != "10.98.0.21" ||
		reply.GatewayIPAddr.String() != "10.98.0.254" || reply.Router()[0].String() != "10.98.0.254" ||
		reply.DomainName() != "rack2.cluster.local" || reply.BootFileName != "snponly.efi" {
		t.Fatalf("relay answer:\n%s", reply.Summary())
	}
	if ua := from.(*net.UDPAddr); ua.IP.String() != "10.99.0.1" || ua.Port != ServerPort {
		t.Fatalf("answer came from %v, want 10.99.0.1:67", from)
	}
}
