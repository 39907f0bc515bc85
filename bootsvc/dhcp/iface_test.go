package dhcp

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/netnstest"
)

// The interface table reads the namespace the socket lives in (not the
// test's), and notices an address added later once the table is older
// than ifaceMaxAge.
func TestIfaceTableReadsSocketNamespace(t *testing.T) {
	netnstest.Require(t)
	srv := netnstest.New(t, "ift")
	srvIf, _ := netnstest.Veth(t, srv, "10.77.0.1/24", netnstest.New(t, "ifp"), "")
	conn, err := srv.ListenPacket("udp4", "0.0.0.0:0")
	mustNoErr(t, err)
	defer conn.Close()
	var index int
	mustNoErr(t, srv.Do(func() error {
		ifi, err := net.InterfaceByName(srvIf)
		if err == nil {
			index = ifi.Index
		}
		return err
	}))
	tab, err := newIfaceTable(conn.(*net.UDPConn))
	mustNoErr(t, err)
	defer tab.Close()
	if tab.ns == nil {
		t.Fatal("the socket's namespace was taken for the test's own")
	}
	now := time.Now()
	ifc := tab.lookup(index, now)
	if ifc.Name != srvIf || !slices.Contains(ifc.Addrs, netip.MustParseAddr("10.77.0.1")) {
		t.Fatalf("interface %d: %+v, want %s with 10.77.0.1", index, ifc, srvIf)
	}
	srv.MustIP(t, "addr", "add", "10.78.0.1/24", "dev", srvIf)
	if ifc := tab.lookup(index, now.Add(time.Second)); slices.Contains(ifc.Addrs, netip.MustParseAddr("10.78.0.1")) {
		t.Fatal("table read again before ifaceMaxAge")
	}
	ifc = tab.lookup(index, now.Add(ifaceMaxAge+time.Second))
	if !slices.Contains(ifc.Addrs, netip.MustParseAddr("10.78.0.1")) {
		t.Fatalf("address added later not seen after ifaceMaxAge: %+v", ifc)
	}
	if ifc := tab.lookup(9999, now.Add(ifaceMaxAge+time.Second)); ifc.Name != "" || len(ifc.Addrs) != 0 {
		t.Fatalf("unknown index found: %+v", ifc)
	}
}
