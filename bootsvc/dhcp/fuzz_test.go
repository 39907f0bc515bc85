package dhcp

import (
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// FuzzHandle feeds arbitrary bytes through decode and decide (with dynamic
// leases on) on both ports and in every mode: never a panic, and every
// reply encodes to a packet that decodes again.
func FuzzHandle(f *testing.F) {
	for _, tc := range decideCases() {
		f.Add(tc.req.ToBytes(), uint8(0))
	}
	f.Add([]byte{}, uint8(1))
	f.Add(req(dhcpv4.MessageTypeDiscover, macC001).ToBytes()[:240], uint8(2))
	modes := []snapOpts{{dynamic: true}, {mode: "proxy"}, {mode: "off"}}
	servers := make([]*Server, len(modes))
	for i, o := range modes {
		s, err := New(Config{UnknownMax: 64})
		if err != nil {
			f.Fatal(err)
		}
		s.Update(testSnapshot(o))
		servers[i] = s
	}
	f.Fuzz(func(t *testing.T, pkt []byte, sel uint8) {
		s := servers[int(sel)%len(servers)]
		port := ServerPort
		if sel&0x80 != 0 {
			port = ProxyPort
		}
		d := s.Handle(pkt, Meta{LocalPort: port, Src: netip.MustParseAddrPort("10.99.0.50:68"), Now: t0})
		if d.Reply == nil {
			return
		}
		if _, err := dhcpv4.FromBytes(d.Reply.ToBytes()); err != nil {
			t.Fatalf("reply does not decode: %v\n%s", err, d.Reply.Summary())
		}
		if !d.Dest.IsValid() {
			t.Fatal("reply without destination")
		}
	})
}
