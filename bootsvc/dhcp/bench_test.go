package dhcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// BenchmarkHandle measures one DISCOVER from a known node through decode,
// decide and encode (the per-packet work of the socket loop).
func BenchmarkHandle(b *testing.B) {
	s, pkt := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		d := s.Handle(pkt, Meta{LocalPort: ServerPort})
		if d.Reply == nil {
			b.Fatal("no reply")
		}
		_ = d.Reply.ToBytes()
	}
}

// BenchmarkHandleArrival is BenchmarkHandle on a socket listening on every
// interface: the interface table lookup and the arrival check included.
func BenchmarkHandleArrival(b *testing.B) {
	s, pkt := benchServer(b)
	tab := &ifaceTable{}
	lan := &Iface{Index: 2, Name: "lan0", Addrs: []netip.Addr{netip.MustParseAddr("192.168.5.9"), netip.MustParseAddr("10.99.0.1")}}
	tab.cur.Store(&ifaceSnap{at: time.Now(), byIndex: map[int]*Iface{2: lan}})
	b.ReportAllocs()
	for b.Loop() {
		d := s.Handle(pkt, Meta{LocalPort: ServerPort, Iface: tab.lookup(2, time.Now())})
		if d.Reply == nil {
			b.Fatal("no reply")
		}
		_ = d.Reply.ToBytes()
	}
}

// benchServer is a server with the test snapshot and a node's UEFI
// DISCOVER to feed it.
func benchServer(b *testing.B) (*Server, []byte) {
	s, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	s.Update(testSnapshot(snapOpts{}))
	return s, req(dhcpv4.MessageTypeDiscover, macC001, withArch(iana.EFI_X86_64), withVendor(pxeUEFI)).ToBytes()
}
