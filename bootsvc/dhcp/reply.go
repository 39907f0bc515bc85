package dhcp

import (
	"net"
	"net/netip"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

// newReply starts a reply to req of type mt: header fields echoed, the
// server identifier set, relay information and client identifier copied.
func newReply(snap *bootsvc.Snapshot, req *dhcpv4.DHCPv4, mt dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	srv := net.IP(snap.Server.Address.AsSlice())
	r := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        req.HWType,
		TransactionID: req.TransactionID,
		Flags:         req.Flags,
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: req.GatewayIPAddr,
		ClientHWAddr:  req.ClientHWAddr,
		Options:       dhcpv4.Options{},
	}
	if r.GatewayIPAddr == nil {
		r.GatewayIPAddr = net.IPv4zero
	}
	if ci := ip4(req.ClientIPAddr); ci.IsValid() {
		r.ClientIPAddr = req.ClientIPAddr
	}
	r.UpdateOption(dhcpv4.OptMessageType(mt))
	if len(srv) == 4 {
		r.UpdateOption(dhcpv4.OptServerIdentifier(srv))
	}
	for _, code := range []dhcpv4.OptionCode{dhcpv4.OptionRelayAgentInformation, dhcpv4.OptionClientIdentifier} {
		if v := req.Options.Get(code); v != nil {
			r.UpdateOption(dhcpv4.OptGeneric(code, v))
		}
	}
	return r
}

// buildLease builds an OFFER or ACK giving addr (zero for an INFORM ACK) on
// network n, with the boot information for the client.
func buildLease(snap *bootsvc.Snapshot, req *dhcpv4.DHCPv4, n *bootsvc.Network, mt dhcpv4.MessageType, addr netip.Addr, hostname string, lt time.Duration) *dhcpv4.DHCPv4 {
	r := newReply(snap, req, mt)
	if addr.IsValid() {
		r.YourIPAddr = net.IP(addr.AsSlice())
	}
	r.UpdateOption(dhcpv4.OptSubnetMask(n.Mask()))
	if n.Gateway.IsValid() {
		r.UpdateOption(dhcpv4.OptRouter(net.IP(n.Gateway.AsSlice())))
	}
	if len(n.DNS) > 0 {
		dns := make([]net.IP, 0, len(n.DNS))
		for _, a := range n.DNS {
			if a.Is4() {
				dns = append(dns, net.IP(a.AsSlice()))
			}
		}
		r.UpdateOption(dhcpv4.OptDNS(dns...))
	}
	if n.Domain != "" {
		r.UpdateOption(dhcpv4.OptDomainName(n.Domain))
	}
	if hostname != "" {
		r.UpdateOption(dhcpv4.OptHostName(hostname))
	}
	if lt > 0 {
		r.UpdateOption(dhcpv4.OptIPAddressLeaseTime(lt))
		r.UpdateOption(dhcpv4.OptRenewTimeValue(lt / 2))
		r.UpdateOption(dhcpv4.OptRebindingTimeValue(lt * 7 / 8))
	}
	file, vendor := bootFile(snap, req, req.ClientHWAddr.String())
	setBoot(snap, req, r, file, vendor)
	return r
}

// setBoot adds the boot information: siaddr and option 66 (the server),
// the boot file, the vendor class echo (with the PXE "boot file in this
// offer, skip discovery" control for PXE clients), and option 175 with
// sub-option 176 = 1 ("no ProxyDHCP wait") for iPXE. Without a file (an
// architecture gitboot has no boot file for) it adds nothing: no next
// server and no PXE options that promise a boot file which is not there.
func setBoot(snap *bootsvc.Snapshot, req, r *dhcpv4.DHCPv4, file, vendor string) {
	if file == "" {
		return
	}
	if snap.Server.Address.Is4() {
		r.ServerIPAddr = net.IP(snap.Server.Address.AsSlice())
		r.UpdateOption(dhcpv4.OptTFTPServerName(snap.Server.Address.String()))
	}
	if file != "" {
		if len(file) < 128 {
			r.BootFileName = file
		}
		if len(file) >= 128 || req.IsOptionRequested(dhcpv4.OptionBootfileName) {
			r.UpdateOption(dhcpv4.OptBootFileName(file))
		}
	}
	switch vendor {
	case "PXEClient":
		r.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient"))
		// PXE vendor option 6 (discovery control) = 8: boot file is in
		// this offer, do not run boot server discovery.
		r.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, []byte{6, 1, 8, 255}))
	case "HTTPClient":
		r.UpdateOption(dhcpv4.OptClassIdentifier("HTTPClient"))
	}
	if isIPXE(req) {
		r.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionEtherboot, []byte{176, 1, 1}))
	}
}

// buildNak builds a NAK carrying a message.
func buildNak(snap *bootsvc.Snapshot, req *dhcpv4.DHCPv4, msg string) *dhcpv4.DHCPv4 {
	r := newReply(snap, req, dhcpv4.MessageTypeNak)
	r.ClientIPAddr = net.IPv4zero
	r.UpdateOption(dhcpv4.OptMessage(msg))
	if ip4(req.GatewayIPAddr).IsValid() {
		r.SetBroadcast() // the relay broadcasts it on the client's segment
	}
	return r
}
