package dhcp

import (
	"bytes"
	"net"
	"net/netip"
	"strings"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// isBootClient reports whether the client is boot firmware (vendor class
// PXEClient, or HTTPClient for UEFI HTTP boot) or iPXE, rather than an
// operating system's DHCP client (udhcpc, dhclient, systemd-networkd,
// NetworkManager send neither).
func isBootClient(req *dhcpv4.DHCPv4) bool {
	vc := req.ClassIdentifier()
	return strings.HasPrefix(vc, "PXEClient") || strings.HasPrefix(vc, "HTTPClient") || isIPXE(req)
}

// isIPXE reports whether the client is iPXE (user class "iPXE" or option
// 175 present).
func isIPXE(req *dhcpv4.DHCPv4) bool {
	if raw := req.Options.Get(dhcpv4.OptionUserClassInformation); raw != nil {
		if bytes.Equal(raw, []byte("iPXE")) {
			return true
		}
		for _, uc := range req.UserClass() {
			if uc == "iPXE" {
				return true
			}
		}
	}
	return req.Options.Has(dhcpv4.OptionEtherboot)
}

// bootFile chooses the boot file (or URL) for a client and the vendor class
// to echo ("PXEClient", "HTTPClient" or "").
func bootFile(snap *bootsvc.Snapshot, req *dhcpv4.DHCPv4, mac string) (file, vendor string) {
	vc := req.ClassIdentifier()
	switch {
	case strings.HasPrefix(vc, "HTTPClient"):
		vendor = "HTTPClient"
	case strings.HasPrefix(vc, "PXEClient"):
		vendor = "PXEClient"
	}
	if isIPXE(req) {
		return snap.Server.HTTPBase() + "/ipxe/" + mac, vendor
	}
	uefi := snap.Server.UEFIBootFile
	if uefi == "" {
		uefi = DefaultUEFIBootFile
	}
	archs := req.ClientArch()
	if len(archs) == 0 {
		return BIOSBootFile, vendor
	}
	switch archs[0] {
	case iana.INTEL_X86PC:
		return BIOSBootFile, vendor
	case iana.EFI_X86_64, iana.EFI_BC:
		return uefi, vendor
	case iana.EFI_ARM64:
		return ARM64BootFile, vendor
	case iana.EFI_X86_64_HTTP, iana.EFI_ARM64_HTTP:
		f := uefi
		if archs[0] == iana.EFI_ARM64_HTTP {
			f = ARM64BootFile
		}
		if vendor == "HTTPClient" {
			return snap.Server.HTTPBase() + HTTPBinaryPath + f, vendor
		}
		return f, vendor
	}
	return "", vendor // an architecture without a boot file: see setBoot
}

// ip4 converts a net.IP to a valid IPv4 netip.Addr, or the zero Addr for
// nil, 0.0.0.0 and non-IPv4 values.
func ip4(ip net.IP) netip.Addr {
	v4 := ip.To4()
	if v4 == nil {
		return netip.Addr{}
	}
	a := netip.AddrFrom4([4]byte(v4))
	if a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}
