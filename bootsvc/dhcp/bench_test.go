package dhcp

import (
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// BenchmarkHandle measures one DISCOVER from a known node through decode,
// decide and encode (the per-packet work of the socket loop).
func BenchmarkHandle(b *testing.B) {
	s, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	s.Update(testSnapshot(snapOpts{}))
	pkt := req(dhcpv4.MessageTypeDiscover, macC001, withArch(iana.EFI_X86_64), withVendor(pxeUEFI)).ToBytes()
	b.ReportAllocs()
	for b.Loop() {
		d := s.Handle(pkt, Meta{LocalPort: ServerPort})
		if d.Reply == nil {
			b.Fatal("no reply")
		}
		_ = d.Reply.ToBytes()
	}
}
