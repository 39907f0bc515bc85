package dhcp

import (
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/netnstest"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// TestWireUnservedInterface gives the server (listening on every
// interface, `interface` unset) a second link on a subnet no network
// declares, as an uplink would be. Clients there, a declared node's MAC and
// an unknown MAC while discovery is on, get nothing and are not reported;
// the served segment still gets its leases.
func TestWireUnservedInterface(t *testing.T) {
	l := newLab(t, snapOpts{anyIf: true, dynamic: true})
	up := netnstest.New(t, "up")
	upBr := up.Bridge(t)
	netnstest.Attach(t, up, upBr, l.srv, "192.168.77.1/24")

	var wg sync.WaitGroup
	for _, mac := range []string{macC001, macOther} {
		cli := netnstest.New(t, "upc")
		ifname := netnstest.AttachMAC(t, up, upBr, cli, mac, "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			if env := udhcpc(t, cli, ifname, "-V", pxeBIOS, "-x", "93:0000"); env != nil {
				t.Errorf("%s on the unserved segment got a lease: %v", mac, env)
			}
		}()
	}
	wg.Wait()
	st := l.s.Stats()
	if st.Unserved == 0 || st.Offers != 0 || st.Acks != 0 || st.Naks != 0 || st.Unknown != 0 {
		t.Fatalf("stats after the unserved segment's clients: %+v (want Unserved > 0, no replies, no unknown MAC)", st)
	}
	if e, ok := l.rec.find(macOther); ok {
		t.Fatalf("a MAC from the unserved segment was recorded for discovery: %+v", e)
	}
	if e, ok := l.rec.find(macC001); ok {
		t.Fatalf("node c001's MAC on the unserved segment was recorded: %+v", e)
	}

	// The served segment is answered as before.
	ns, ifname := l.client(macC002)
	env := udhcpc(t, ns, ifname)
	if env == nil || env["ip"] != "10.99.0.12" || env["serverid"] != "10.99.0.1" {
		t.Fatalf("served segment: lease %v, want 10.99.0.12 from 10.99.0.1", env)
	}
	dyn, dynIf := l.client(macOther)
	if env := udhcpc(t, dyn, dynIf); env == nil || env["ip"] != "10.99.0.201" {
		t.Fatalf("served segment, unknown MAC: lease %v, want the dynamic 10.99.0.201", env)
	}
}

// TestWireRelayBadGiaddr plays a relay that claims the broadcast (or the
// network) address of a served network as its giaddr: gitboot must not
// answer, in particular not broadcast an offer to 10.98.0.255:67, which
// the relay's own socket would receive. A proper giaddr from the same
// relay is answered.
func TestWireRelayBadGiaddr(t *testing.T) {
	l := newLab(t, snapOpts{anyIf: true})
	rly := netnstest.New(t, "rly")
	netnstest.Attach(t, l.lan, l.br, rly, "10.99.0.254/24")
	netnstest.Veth(t, rly, "10.98.0.254/24", netnstest.New(t, "rack2"), "")
	l.srv.MustIP(t, "route", "add", "10.98.0.0/24", "via", "10.99.0.254")
	conn, err := rly.ListenPacket("udp4", "0.0.0.0:67")
	mustNoErr(t, err)
	defer conn.Close()
	setBroadcast(conn)

	exchange := func(giaddr string, wait time.Duration) *dhcpv4.DHCPv4 {
		t.Helper()
		fwd := req(dhcpv4.MessageTypeDiscover, macR2N01, withGiaddr(giaddr), withArch(iana.EFI_X86_64), withVendor(pxeUEFI),
			func(d *dhcpv4.DHCPv4) { d.HopCount = 1 })
		_, err := conn.WriteTo(fwd.ToBytes(), &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1), Port: ServerPort})
		mustNoErr(t, err)
		deadline := time.Now().Add(wait)
		buf := make([]byte, 1500)
		for {
			_ = conn.SetReadDeadline(deadline)
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return nil
			}
			r, err := dhcpv4.FromBytes(buf[:n])
			if err == nil && r.OpCode == dhcpv4.OpcodeBootReply {
				return r
			}
		}
	}
	for _, gi := range []string{"10.98.0.255", "10.98.0.0", "10.99.0.255"} {
		before := l.s.Stats().Unserved
		if r := exchange(gi, 2*time.Second); r != nil {
			t.Fatalf("giaddr %s answered:\n%s", gi, r.Summary())
		}
		if st := l.s.Stats(); st.Unserved != before+1 || st.Offers != 0 {
			t.Fatalf("giaddr %s: stats %+v, want one more Unserved and no offer", gi, st)
		}
	}
	var r *dhcpv4.DHCPv4
	for try := 0; try < 5 && r == nil; try++ {
		r = exchange("10.98.0.254", 2*time.Second)
	}
	if r == nil || r.YourIPAddr.String() != "10.98.0.21" {
		t.Fatalf("a proper relay address after the bad ones: %v", r)
	}
}

// A flood of garbage and of requests from an unserved segment is logged at
// a bounded rate; once the rate allows, the next line counts what was
// dropped.
func TestBadRequestLogIsRateLimited(t *testing.T) {
	var logs netnstest.SyncBuffer
	s, err := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	mustNoErr(t, err)
	s.Update(testSnapshot(snapOpts{}))
	uplink := &Iface{Index: 3, Name: "uplink0", Addrs: []netip.Addr{netip.MustParseAddr("192.168.77.1")}}
	for i := range 1000 {
		s.Handle([]byte{1, 2, 3, byte(i)}, Meta{LocalPort: ServerPort})
		s.Handle(req(dhcpv4.MessageTypeDiscover, macC001).ToBytes(), Meta{LocalPort: ServerPort, Iface: uplink})
	}
	out := logs.String()
	lines := strings.Count(out, "malformed request") + strings.Count(out, "not answered")
	if lines == 0 || lines > 2*s.bad.Burst() {
		t.Fatalf("%d log lines for 2,000 bad requests, want 1..%d", lines, 2*s.bad.Burst())
	}
	if st := s.Stats(); st.Malformed != 1000 || st.Unserved != 1000 {
		t.Fatalf("stats %+v: want 1000 malformed, 1000 unserved", st)
	}
	time.Sleep(1100 * time.Millisecond) // one more line allowed
	s.Handle([]byte{9}, Meta{LocalPort: ServerPort})
	last := logs.String()[len(out):]
	if !strings.Contains(last, "malformed request") || !strings.Contains(last, "suppressed=") {
		t.Fatalf("line after the flood: %q, want it to count the dropped lines", last)
	}
}

// A real client with an architecture gitboot has no boot file for gets its
// address and no boot information: no file, no TFTP server, no next
// server.
func TestWireUnknownArch(t *testing.T) {
	l := newLab(t, snapOpts{})
	ns, ifname := l.client(macC002)
	env := udhcpc(t, ns, ifname, "-V", "PXEClient:Arch:00066:UNDI:003016", "-x", "93:0042")
	if env == nil || env["ip"] != "10.99.0.12" {
		t.Fatalf("no lease for an unknown architecture: %v", env)
	}
	for _, k := range []string{"boot_file", "tftp"} {
		if v, ok := env[k]; ok {
			t.Errorf("%s = %q sent for an unknown architecture", k, v)
		}
	}
	if v := env["siaddr"]; v != "" && v != "0.0.0.0" {
		t.Errorf("siaddr = %q for an unknown architecture", v)
	}
}
