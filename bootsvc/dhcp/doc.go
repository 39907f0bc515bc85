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
// Wiring (what `gitboot serve` does):
//
//	s, err := dhcp.New(dhcp.Config{StateDir: state, Recorder: statusStore})
//	s.Update(snap) // again for every applied snapshot
//	conn, err := dhcp.Listen(ctx, dhcp.ListenConfig{Interface: snap.Server.Interface,
//		Port: snap.Server.DHCPPort, Shared: snap.Server.DHCPMode == bootsvc.DHCPProxy})
//	go s.Serve(ctx, conn) // in proxy mode also a socket on dhcp.ProxyPort
//	rc, err := dhcp.ListenRA(snap.Server.Interface) // unless router_advert = false
//	go dhcp.ServeRA(ctx, dhcp.RAConfig{Interface: snap.Server.Interface}, rc)
//
// With Config.Admission (serve --dhcp-max-booting), a boot firmware's
// DISCOVER beyond the limit of boots in flight waits in a bounded queue
// and is answered when a boot ends; the gate learns of a boot's progress
// through Admission.Recorder, which serve puts in front of the status
// store for TFTP and HTTP (see admission.go).
//
// Listen sets SO_REUSEADDR only when Shared: a DHCP port already in use is
// then an error (naming dhcp_port), except in proxy mode, where sharing
// port 67 with the site's DHCP server on the same host is the point.
//
// Status: only a boot client's DHCP (vendor class PXEClient or HTTPClient,
// or user class iPXE: Decision.Boot) starts a boot and records stage DHCP.
// Any other DHCP from a declared node is its own OS (udhcpc, dhclient,
// systemd-networkd renewing the lease): it is recorded as status.Event
// Alive, which refreshes LASTSEEN and keeps the stage and SENT, answered
// or not, in either mode.
//
// Unknown MACs are not answered unless their network has a dynamic range;
// each is logged and recorded (status.Event with an empty Node) at most once
// a minute, and at most Config.UnknownMax of them are remembered for that.
// Dynamic leases live in StateDir/dhcp-leases.json (LeaseFile), rewritten
// atomically on every change.
//
// Debian's ipxe package ships no arm64 binary: put an arm64 snponly.efi at
// arm64/snponly.efi under ipxe_dir for ARM64 nodes. Architectures not in
// the table get an address but no boot information at all (no boot file,
// next server or PXE options; in proxy mode no answer), and a debug line.
//
// Where requests are answered: a relayed request (giaddr set) only when
// giaddr is a host address of a served network, never its network or
// broadcast address. Without `interface` the socket listens on every
// interface and learns each request's interface (IP_PKTINFO); a request
// not relayed is answered only when that interface has an address in a
// served network, and only with such a network, so an uplink or a
// management link sees no offers and no NAKs, and its MACs are not
// reported as unknown. With `interface` set the socket is bound to it and
// the operator's choice is the check.
//
// Malformed packets, unknown MACs, refusals and requests from unserved
// segments are logged at a bounded rate (internal/ratelog).
//
// In proxy mode only declared nodes that identify as PXEClient, HTTPClient
// or iPXE are answered: an OFFER without an address (boot file, option 60
// PXEClient, PXE discovery control "boot file in this offer") on port 67,
// and an ACK on port 4011. PXE firmware and iPXE merge it with the site's
// address offer; an ordinary DHCP client that claims to be a PXEClient may
// pick the address-less offer first and succeed only on its next DISCOVER.
//
// The HTTP URL of an EFI binary uses HTTPBinaryPath; the HTTP service serves
// the iPXE directory there.
//
// This package never imports hclspec or reconcile.
package dhcp
