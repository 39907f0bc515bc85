package dhcp

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

var update = flag.Bool("update", false, "rewrite the golden replies under testdata/")

const pxeBIOS = "PXEClient:Arch:00000:UNDI:002001"
const pxeUEFI = "PXEClient:Arch:00007:UNDI:003016"

type decideCase struct {
	name  string
	snap  snapOpts
	req   *dhcpv4.DHCPv4
	port  int // 0: ServerPort
	src   string
	iface *Iface // the arrival interface (nil: a socket bound to one)

	wantType dhcpv4.MessageType // MessageTypeNone: no reply
	wantAddr string             // yiaddr
	wantFile string
	wantDest string
}

var t0 = time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)

// decideCases are the cases of TestDecide, by group.
func decideCases() []decideCase {
	var all []decideCase
	for _, g := range [][]decideCase{archCases(), requestCases(), relayCases(), interfaceCases(), unknownMACCases(), ignoredCases(), proxyCases()} {
		all = append(all, g...)
	}
	return all
}

// archCases: the boot file each client architecture gets (BIOS, UEFI, ARM64,
// HTTP boot, iPXE).
func archCases() []decideCase {
	O := dhcpv4.MessageTypeOffer
	D := dhcpv4.MessageTypeDiscover
	bc := "255.255.255.255:68"
	proxy := snapOpts{mode: bootsvc.DHCPProxy}
	return []decideCase{
		{name: "bios_discover", req: req(D, macC001, withArch(iana.INTEL_X86PC), withVendor(pxeBIOS)),
			wantType: O, wantAddr: "10.99.0.11", wantFile: "undionly.kpxe", wantDest: bc},
		{name: "uefi_x64_discover", req: req(D, macC001, withArch(iana.EFI_X86_64), withVendor(pxeUEFI)),
			wantType: O, wantAddr: "10.99.0.11", wantFile: "snponly.efi", wantDest: bc},
		{name: "uefi_bc_discover", req: req(D, macC002, withArch(iana.EFI_BC), withVendor(pxeUEFI)),
			wantType: O, wantAddr: "10.99.0.12", wantFile: "snponly.efi", wantDest: bc},
		{name: "uefi_ipxe_efi_configured", snap: snapOpts{uefi: "ipxe.efi"},
			req:      req(D, macC001, withArch(iana.EFI_X86_64), withVendor(pxeUEFI)),
			wantType: O, wantAddr: "10.99.0.11", wantFile: "ipxe.efi", wantDest: bc},
		{name: "arm64_discover", req: req(D, macC001, withArch(iana.EFI_ARM64), withVendor("PXEClient:Arch:00011:UNDI:003000")),
			wantType: O, wantAddr: "10.99.0.11", wantFile: "arm64/snponly.efi", wantDest: bc},
		{name: "http_boot_x64", req: req(D, macC001, withArch(iana.EFI_X86_64_HTTP), withVendor("HTTPClient:Arch:00016:UNDI:003001")),
			wantType: O, wantAddr: "10.99.0.11", wantFile: "http://10.99.0.1:9873/boot/snponly.efi", wantDest: bc},
		{name: "http_boot_arm64", req: req(D, macC001, withArch(iana.EFI_ARM64_HTTP), withVendor("HTTPClient:Arch:00019:UNDI:003001")),
			wantType: O, wantAddr: "10.99.0.11", wantFile: "http://10.99.0.1:9873/boot/arm64/snponly.efi", wantDest: bc},
		{name: "ipxe_user_class", req: req(D, macC001, withArch(iana.INTEL_X86PC), withVendor(pxeBIOS), withIPXE()),
			wantType: O, wantAddr: "10.99.0.11", wantFile: "http://10.99.0.1:9873/ipxe/52:54:00:00:00:01", wantDest: bc},
		{name: "plain_client_no_arch", req: req(D, macC002),
			wantType: O, wantAddr: "10.99.0.12", wantFile: "undionly.kpxe", wantDest: bc},
		{name: "unsupported_arch_gets_address_only", req: req(D, macC002, withArch(iana.EFI_IA32)),
			wantType: O, wantAddr: "10.99.0.12", wantFile: "", wantDest: bc},
		{name: "unsupported_arch_pxe_client_no_boot_promise", req: req(D, macC002, withArch(iana.Arch(0x42)), withVendor("PXEClient:Arch:00066:UNDI:003016")),
			wantType: O, wantAddr: "10.99.0.12", wantFile: "", wantDest: bc},
		{name: "proxy_unsupported_arch_ignored", snap: proxy, req: req(D, macC001, withArch(iana.EFI_IA32), withVendor("PXEClient:Arch:00006:UNDI:003016"))},
	}
}

// requestCases: REQUEST, renewal, INFORM and DECLINE.
func requestCases() []decideCase {
	A := dhcpv4.MessageTypeAck
	N := dhcpv4.MessageTypeNak
	R := dhcpv4.MessageTypeRequest
	bc := "255.255.255.255:68"
	return []decideCase{
		{name: "request_ack", req: req(R, macC001, withRequested("10.99.0.11"), withServerID("10.99.0.1"), withArch(iana.INTEL_X86PC)),
			wantType: A, wantAddr: "10.99.0.11", wantFile: "undionly.kpxe", wantDest: bc},
		{name: "request_wrong_address_nak", req: req(R, macC001, withRequested("10.99.0.99")),
			wantType: N, wantDest: bc},
		{name: "request_other_server_ignored", req: req(R, macC001, withRequested("10.99.0.11"), withServerID("10.99.0.77"))},
		{name: "renew_unicast", req: req(R, macC001, withCiaddr("10.99.0.11")),
			wantType: A, wantAddr: "10.99.0.11", wantFile: "undionly.kpxe", wantDest: "10.99.0.11:68"},
		{name: "inform", req: req(dhcpv4.MessageTypeInform, macC001, withCiaddr("10.99.0.11")),
			wantType: A, wantAddr: "0.0.0.0", wantFile: "undionly.kpxe", wantDest: "10.99.0.11:68"},
		{name: "decline_reserved_ignored", req: req(dhcpv4.MessageTypeDecline, macC001, withRequested("10.99.0.11"))},
	}
}

// relayCases: relayed requests: answered for the relay's served network only.
func relayCases() []decideCase {
	O := dhcpv4.MessageTypeOffer
	D := dhcpv4.MessageTypeDiscover
	a := netip.MustParseAddr
	uplink := &Iface{Index: 3, Name: "uplink0", Addrs: []netip.Addr{a("192.168.77.1")}}
	return []decideCase{
		{name: "relay_discover", req: req(D, macR2N01, withGiaddr("10.98.0.254"), withArch(iana.EFI_X86_64), withVendor(pxeUEFI),
			dhcpv4.WithOption(dhcpv4.OptRelayAgentInfo(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(1), []byte("port7"))))),
			wantType: O, wantAddr: "10.98.0.21", wantFile: "snponly.efi", wantDest: "10.98.0.254:67"},
		{name: "relay_node_on_other_network_ignored", req: req(D, macC001, withGiaddr("10.98.0.254"))},
		{name: "relay_unserved_network_ignored", req: req(D, macR2N01, withGiaddr("192.168.7.1"))},
		{name: "relay_giaddr_broadcast_ignored", req: req(D, macR2N01, withGiaddr("10.98.0.255"))},
		{name: "relay_giaddr_network_address_ignored", req: req(D, macR2N01, withGiaddr("10.98.0.0"))},
		{name: "relay_giaddr_broadcast_unknown_mac_ignored", snap: snapOpts{dynamic: true}, req: req(D, macOther, withGiaddr("10.99.0.255"))},
		{name: "relay_through_uplink_answered", iface: uplink, req: req(D, macR2N01, withGiaddr("10.98.0.254"), withArch(iana.EFI_X86_64), withVendor(pxeUEFI)),
			wantType: O, wantAddr: "10.98.0.21", wantFile: "snponly.efi", wantDest: "10.98.0.254:67"},
	}
}

// interfaceCases: the interface a request arrived on decides whether and from
// which network it is answered.
func interfaceCases() []decideCase {
	O := dhcpv4.MessageTypeOffer
	D := dhcpv4.MessageTypeDiscover
	R := dhcpv4.MessageTypeRequest
	bc := "255.255.255.255:68"
	a := netip.MustParseAddr
	uplink := &Iface{Index: 3, Name: "uplink0", Addrs: []netip.Addr{a("192.168.77.1")}}
	lanIf := &Iface{Index: 2, Name: "lan0", Addrs: []netip.Addr{a("192.168.5.9"), a("10.99.0.1")}}
	return []decideCase{
		{name: "arrived_on_served_interface", iface: lanIf, req: req(D, macC001, withArch(iana.INTEL_X86PC), withVendor(pxeBIOS)),
			wantType: O, wantAddr: "10.99.0.11", wantFile: "undionly.kpxe", wantDest: bc},
		{name: "arrived_on_unserved_interface_ignored", iface: uplink, req: req(D, macC001, withArch(iana.INTEL_X86PC), withVendor(pxeBIOS))},
		{name: "request_on_unserved_interface_no_nak", iface: uplink, req: req(R, macC001, withRequested("192.168.77.50"))},
		{name: "unknown_mac_on_unserved_interface_not_reported", iface: uplink, snap: snapOpts{dynamic: true}, req: req(D, macOther)},
		{name: "unknown_mac_dynamic_on_served_interface", iface: lanIf, snap: snapOpts{dynamic: true}, req: req(D, macOther),
			wantType: O, wantAddr: "10.99.0.201", wantFile: "undionly.kpxe", wantDest: bc},
		// Only cluster has a dynamic range: an unknown MAC on rack2's
		// segment must not get a cluster address.
		{name: "unknown_mac_on_other_segment_not_offered_cluster_address", snap: snapOpts{dynamic: true},
			iface: &Iface{Index: 4, Name: "rack2", Addrs: []netip.Addr{a("10.98.0.1")}}, req: req(D, macOther)},
		{name: "arrived_on_interface_without_addresses_ignored", iface: &Iface{Index: 7}, req: req(D, macC001)},
		{name: "node_of_relayed_network_directly_on_lan_ignored", iface: lanIf, req: req(D, macR2N01, withArch(iana.EFI_X86_64), withVendor(pxeUEFI))},
	}
}

// unknownMACCases: unknown MACs: ignored, or given a dynamic address.
func unknownMACCases() []decideCase {
	O := dhcpv4.MessageTypeOffer
	N := dhcpv4.MessageTypeNak
	D := dhcpv4.MessageTypeDiscover
	R := dhcpv4.MessageTypeRequest
	bc := "255.255.255.255:68"
	return []decideCase{
		{name: "unknown_mac_ignored", req: req(D, macOther, withArch(iana.INTEL_X86PC))},
		{name: "unknown_mac_dynamic_offer", snap: snapOpts{dynamic: true}, req: req(D, macOther, withArch(iana.INTEL_X86PC), withVendor(pxeBIOS)),
			wantType: O, wantAddr: "10.99.0.201", wantFile: "undionly.kpxe", wantDest: bc},
		{name: "unknown_mac_dynamic_request_outside_range_nak", snap: snapOpts{dynamic: true},
			req: req(R, macOther, withRequested("10.99.0.50")), wantType: N, wantDest: bc},
	}
}

// ignoredCases: what is never answered: DHCP off, replies, messages without a
// type, the proxy port when authoritative.
func ignoredCases() []decideCase {
	O := dhcpv4.MessageTypeOffer
	D := dhcpv4.MessageTypeDiscover
	R := dhcpv4.MessageTypeRequest
	return []decideCase{
		{name: "mode_off", snap: snapOpts{mode: bootsvc.DHCPOff}, req: req(D, macC001)},
		{name: "bootreply_opcode_ignored", req: req(D, macC001, withOpcode(dhcpv4.OpcodeBootReply))},
		{name: "bootp_without_message_type_ignored", req: req(D, macC001, withoutType())},
		{name: "offer_from_client_ignored", req: req(O, macC001)},
		{name: "port_4011_when_authoritative_ignored", port: ProxyPort, src: "10.99.0.11:68",
			req: req(R, macC001, withCiaddr("10.99.0.11"), withVendor(pxeUEFI))},
	}
}

// proxyCases: proxy DHCP: boot files only, for PXE clients of known MACs.
func proxyCases() []decideCase {
	O := dhcpv4.MessageTypeOffer
	A := dhcpv4.MessageTypeAck
	D := dhcpv4.MessageTypeDiscover
	R := dhcpv4.MessageTypeRequest
	bc := "255.255.255.255:68"
	proxy := snapOpts{mode: bootsvc.DHCPProxy}
	return []decideCase{
		{name: "proxy_discover_bios", snap: proxy, req: req(D, macC001, withArch(iana.INTEL_X86PC), withVendor(pxeBIOS)),
			wantType: O, wantAddr: "0.0.0.0", wantFile: "undionly.kpxe", wantDest: bc},
		{name: "proxy_discover_ipxe", snap: proxy, req: req(D, macC001, withArch(iana.INTEL_X86PC), withVendor(pxeBIOS), withIPXE()),
			wantType: O, wantAddr: "0.0.0.0", wantFile: "http://10.99.0.1:9873/ipxe/52:54:00:00:00:01", wantDest: bc},
		{name: "proxy_4011_request_uefi", snap: proxy, port: ProxyPort, src: "10.99.0.11:68",
			req:      req(R, macC001, withCiaddr("10.99.0.11"), withArch(iana.EFI_X86_64), withVendor(pxeUEFI)),
			wantType: A, wantAddr: "0.0.0.0", wantFile: "snponly.efi", wantDest: "10.99.0.11:68"},
		{name: "proxy_request_on_67_ignored", snap: proxy, req: req(R, macC001, withRequested("10.99.0.11"), withVendor(pxeBIOS))},
		{name: "proxy_non_pxe_client_ignored", snap: proxy, req: req(D, macC001)},
		{name: "proxy_unknown_mac_ignored", snap: proxy, req: req(D, macOther, withVendor(pxeBIOS))},
	}
}

func TestDecide(t *testing.T) {
	for _, tc := range decideCases() {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := OpenLeases("")
			mustNoErr(t, err)
			port := tc.port
			if port == 0 {
				port = ServerPort
			}
			var src netip.AddrPort
			if tc.src != "" {
				src = netip.MustParseAddrPort(tc.src)
			}
			// Round-trip the request through the wire format, as the server does.
			wire, err := dhcpv4.FromBytes(tc.req.ToBytes())
			mustNoErr(t, err)
			d := Decide(testSnapshot(tc.snap), wire, Meta{LocalPort: port, Src: src, Now: t0, Iface: tc.iface}, pool)

			if tc.wantType == dhcpv4.MessageTypeNone {
				if d.Reply != nil {
					t.Fatalf("want no reply, got %s:\n%s", d.Reply.MessageType(), d.Reply.Summary())
				}
				if d.Reason == "" {
					t.Error("no reply but no reason given")
				}
			} else {
				if d.Reply == nil {
					t.Fatalf("want %s, got no reply (reason %q)", tc.wantType, d.Reason)
				}
				r, err := dhcpv4.FromBytes(d.Reply.ToBytes())
				mustNoErr(t, err)
				checkReply(t, tc, d, r)
			}
			golden(t, filepath.Join("testdata", "decide", tc.name+".golden"), render(d))
		})
	}
}

func checkReply(t *testing.T, tc decideCase, d Decision, r *dhcpv4.DHCPv4) {
	t.Helper()
	if got := r.MessageType(); got != tc.wantType {
		t.Errorf("type %s, want %s", got, tc.wantType)
	}
	if r.OpCode != dhcpv4.OpcodeBootReply || r.TransactionID != tc.req.TransactionID {
		t.Errorf("opcode %s xid %s: not a reply to the request", r.OpCode, r.TransactionID)
	}
	if d.Dest.String() != tc.wantDest {
		t.Errorf("dest %s, want %s", d.Dest, tc.wantDest)
	}
	if sid := r.ServerIdentifier(); sid.String() != "10.99.0.1" {
		t.Errorf("server id %v, want 10.99.0.1", sid)
	}
	if tc.wantType == dhcpv4.MessageTypeNak {
		return
	}
	if r.YourIPAddr.String() != tc.wantAddr {
		t.Errorf("yiaddr %s, want %s", r.YourIPAddr, tc.wantAddr)
	}
	if d.BootFile != tc.wantFile || r.BootFileName != tc.wantFile {
		t.Errorf("boot file %q (wire %q), want %q", d.BootFile, r.BootFileName, tc.wantFile)
	}
	if tc.wantFile == "" {
		// No boot file: nothing that points a client at one either.
		if !r.ServerIPAddr.IsUnspecified() || r.Options.Has(dhcpv4.OptionTFTPServerName) ||
			r.Options.Has(dhcpv4.OptionVendorSpecificInformation) || r.Options.Has(dhcpv4.OptionClassIdentifier) {
			t.Errorf("reply without a boot file still carries boot information:\n%s", r.Summary())
		}
		if !d.NoBootFile || d.Arch == 0 {
			t.Errorf("NoBootFile %v, Arch %d: the decision does not say why no boot file", d.NoBootFile, d.Arch)
		}
		return
	}
	if d.NoBootFile {
		t.Error("NoBootFile set with a boot file")
	}
	if r.ServerIPAddr.String() != "10.99.0.1" || r.TFTPServerName() != "10.99.0.1" {
		t.Errorf("siaddr %s, option 66 %q, want 10.99.0.1", r.ServerIPAddr, r.TFTPServerName())
	}
	ipxe := isIPXE(tc.req)
	if got := r.Options.Get(dhcpv4.OptionEtherboot); ipxe != (string(got) == "\xb0\x01\x01") {
		t.Errorf("option 175 = %x for iPXE=%v, want b00101 exactly for iPXE clients", got, ipxe)
	}
	proxy := tc.snap.mode == bootsvc.DHCPProxy
	if mask := r.SubnetMask(); proxy != (mask == nil) {
		t.Errorf("subnet mask %v in mode %q", mask, tc.snap.mode)
	}
	if strings.HasPrefix(tc.req.ClassIdentifier(), "HTTPClient") && r.ClassIdentifier() != "HTTPClient" {
		t.Errorf("option 60 %q, want HTTPClient echoed", r.ClassIdentifier())
	}
	if tc.req.Options.Has(dhcpv4.OptionRelayAgentInformation) &&
		string(r.Options.Get(dhcpv4.OptionRelayAgentInformation)) != string(tc.req.Options.Get(dhcpv4.OptionRelayAgentInformation)) {
		t.Error("relay agent information not echoed")
	}
	if d.Node != nil && !proxy && tc.req.MessageType() != dhcpv4.MessageTypeInform {
		if r.HostName() != d.Node.Name {
			t.Errorf("hostname %q, want %q", r.HostName(), d.Node.Name)
		}
		if lt := r.IPAddressLeaseTime(0); lt <= 0 {
			t.Error("no lease time")
		}
	}
}

// render is the golden form of a decision.
func render(d Decision) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mac: %s\nunknown: %v\naddr: %v\nboot: %s\nreason: %s\n", d.MAC, d.Unknown, d.Addr, d.BootFile, d.Reason)
	if d.Node != nil {
		fmt.Fprintf(&b, "node: %s\n", d.Node.Name)
	}
	if d.Reply == nil {
		b.WriteString("reply: none\n")
		return b.String()
	}
	fmt.Fprintf(&b, "dest: %s\nreply:\n%s", d.Dest, d.Reply.Summary())
	return b.String()
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		mustNoErr(t, os.MkdirAll(filepath.Dir(path), 0o755))
		mustNoErr(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update to create it): %v", err)
	}
	if string(want) != got {
		t.Errorf("reply differs from %s (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
