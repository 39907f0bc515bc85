// Package dhcp is gitboot's built-in DHCPv4 server: the first service a
// node's firmware talks to. It answers declared nodes with their reserved
// address and the boot file for their architecture (authoritative mode), or
// only the boot information next to a site's own DHCP server (ProxyDHCP
// mode), and optionally hands out discovery addresses to unknown MACs from a
// network's dynamic range.
//
// The daemon (cmd/gitboot serve) constructs a Server with New, hands it each
// new *bootsvc.Snapshot with Update, and runs Serve on sockets it bound with
// Listen (the DHCP port, plus 4011 in proxy mode). The decision itself,
// request + snapshot -> reply or nothing, is the pure function Decide.
//
// Boot files, relative to the iPXE directory that TFTP serves:
//
//	option 93 = 0 (BIOS), or absent        undionly.kpxe
//	option 93 = 7, 9 (x86-64 UEFI)         Server.UEFIBootFile (default snponly.efi)
//	option 93 = 11 (ARM64 UEFI)            arm64/snponly.efi
//	option 93 = 16, 19 + class HTTPClient  http://SERVER:PORT/boot/<file above>
//	user class (77) "iPXE"                 http://SERVER:PORT/ipxe/<mac> (the node's script)
//
// The HTTP URL of an EFI binary uses HTTPBinaryPath; the HTTP service serves
// the iPXE directory there.
//
// This package never imports hclspec or reconcile.
package dhcp
