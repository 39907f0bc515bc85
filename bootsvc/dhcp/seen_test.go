package dhcp

import (
	"net/netip"
	"testing"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// TestSeen: a declared node's address is learned from what its exchanges
// show — the address an answer gives (authoritative), the address a
// REQUEST asks the site's server for or the ciaddr (proxy) — never from
// a NAK, and never for an unknown MAC.
func TestSeen(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode string
		port int
		pkt  *dhcpv4.DHCPv4
		mac  string
		want string // "" nothing learned
	}{
		{"authoritative offer", bootsvc.DHCPAuthoritative, ServerPort,
			req(dhcpv4.MessageTypeDiscover, macC001, withArch(iana.INTEL_X86PC), withVendor(pxeBIOS)), macC001, "10.99.0.11"},
		{"authoritative NAK", bootsvc.DHCPAuthoritative, ServerPort,
			req(dhcpv4.MessageTypeRequest, macC001, withRequested("10.99.0.77"), withServerID("10.99.0.1")), macC001, ""},
		{"unknown MAC", bootsvc.DHCPAuthoritative, ServerPort,
			req(dhcpv4.MessageTypeDiscover, macOther, withArch(iana.INTEL_X86PC), withVendor(pxeBIOS)), macOther, ""},
		{"proxy: request to the site's server", bootsvc.DHCPProxy, ServerPort,
			req(dhcpv4.MessageTypeRequest, macC002, withRequested("10.99.0.123"), withServerID("10.99.0.2"), withArch(iana.EFI_X86_64), withVendor(pxeUEFI)), macC002, "10.99.0.123"},
		{"proxy: boot request on 4011", bootsvc.DHCPProxy, ProxyPort,
			req(dhcpv4.MessageTypeRequest, macC002, withCiaddr("10.99.0.124"), withArch(iana.EFI_X86_64), withVendor(pxeUEFI)), macC002, "10.99.0.124"},
		{"proxy: discover shows nothing", bootsvc.DHCPProxy, ServerPort,
			req(dhcpv4.MessageTypeDiscover, macC002, withArch(iana.EFI_X86_64), withVendor(pxeUEFI)), macC002, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := NewSeen()
			s, err := New(Config{Logger: discard(), Seen: seen})
			if err != nil {
				t.Fatal(err)
			}
			s.Update(testSnapshot(snapOpts{mode: tc.mode}))
			s.Handle(tc.pkt.ToBytes(), Meta{LocalPort: tc.port})
			got, ok := seen.Addr(tc.mac)
			if tc.want == "" {
				if ok {
					t.Fatalf("learned %v", got)
				}
				return
			}
			if !ok || got != netip.MustParseAddr(tc.want) {
				t.Fatalf("learned %v %v, want %s", got, ok, tc.want)
			}
		})
	}
}
