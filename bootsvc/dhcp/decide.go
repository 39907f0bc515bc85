package dhcp

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Ports and paths of the boot protocol.
const (
	ServerPort = 67   // DHCP server (and relay) port
	ClientPort = 68   // DHCP client port
	ProxyPort  = 4011 // PXE boot server port: the UEFI second request in proxy mode

	// HTTPBinaryPath is where the HTTP service serves the iPXE directory;
	// UEFI HTTP boot clients get HTTPBase()+HTTPBinaryPath+file.
	HTTPBinaryPath = "/boot/"
	// ARM64BootFile is the arm64 iPXE binary, relative to the iPXE dir.
	ARM64BootFile = "arm64/snponly.efi"
	// BIOSBootFile is the BIOS iPXE binary.
	BIOSBootFile = "undionly.kpxe"
	// DefaultUEFIBootFile is used when Server.UEFIBootFile is empty.
	DefaultUEFIBootFile = "snponly.efi"

	defaultLeaseTime = time.Hour
)

// Meta is what the socket loop knows about a request besides its bytes.
type Meta struct {
	LocalPort int            // port it arrived on: the DHCP port, or ProxyPort
	Src       netip.AddrPort // where it came from
	Now       time.Time      // the time of the decision (for leases)
	// Iface is the interface the request arrived on, when the socket
	// listens on every interface (server block without `interface`): a
	// request not relayed is answered only when Iface has an address in a
	// served network, and only on such a network. Nil means the socket is
	// bound to the interface the operator chose (or the caller does not
	// know): no arrival check.
	Iface *Iface
}

// Pool hands out dynamic addresses to unknown MACs. taken reports addresses
// that are never to be handed out (reserved node IPs, the server, the
// gateway). *Leases implements it.
type Pool interface {
	Offer(mac string, n *bootsvc.Network, want netip.Addr, taken func(netip.Addr) bool, now time.Time) (netip.Addr, bool)
	Commit(mac string, n *bootsvc.Network, addr netip.Addr, taken func(netip.Addr) bool, now time.Time) error
	Release(mac string, addr netip.Addr)
	Decline(mac string, addr netip.Addr, now time.Time)
}

// Decision is the outcome of Decide.
type Decision struct {
	Reply   *dhcpv4.DHCPv4 // nil: send nothing
	Dest    netip.AddrPort // where to send Reply
	MAC     string         // canonical MAC of the client ("" if not Ethernet)
	Node    *bootsvc.Node  // the declared node, nil if the MAC is unknown
	Unknown bool           // the client is not a declared node
	// Unserved is set when the request came from where gitboot does not
	// serve: an interface without an address in a served network, or a
	// relay address that is not a host of one (see admit).
	Unserved bool
	// Boot is set when the client is boot firmware or iPXE (vendor class
	// PXEClient or HTTPClient, user class iPXE): its DHCP starts a boot.
	// Any other client of a declared node is the node's own OS.
	Boot     bool
	Addr     netip.Addr // the address given (yiaddr), or the client's
	BootFile string     // boot file or URL sent
	// NoBootFile is set when the client sent an architecture (option 93)
	// gitboot has no boot file for: it gets an address but no boot
	// information at all.
	NoBootFile bool
	Arch       uint16 // option 93, when NoBootFile
	Reason     string // why nothing is sent, or a note on what was
}

// Decide answers one decoded request from snap. It is pure apart from pool
// (which may be nil: no dynamic addresses).
func Decide(snap *bootsvc.Snapshot, req *dhcpv4.DHCPv4, m Meta, pool Pool) Decision {
	var d Decision
	if snap == nil {
		d.Reason = "no snapshot yet"
		return d
	}
	if req.OpCode != dhcpv4.OpcodeBootRequest {
		d.Reason = "not a BOOTREQUEST"
		return d
	}
	if req.HWType != iana.HWTypeEthernet || len(req.ClientHWAddr) != 6 {
		d.Reason = "not an Ethernet client"
		return d
	}
	d.MAC = req.ClientHWAddr.String()
	d.Boot = isBootClient(req)
	if cip := ip4(req.ClientIPAddr); cip.IsValid() {
		d.Addr = cip
	}
	mode := snap.Server.DHCPMode
	if mode == "" {
		mode = bootsvc.DHCPAuthoritative
	}
	if mode == bootsvc.DHCPOff {
		d.Reason = "dhcp_mode is off"
		return d
	}
	mt := req.MessageType()
	if mt == dhcpv4.MessageTypeNone {
		d.Reason = "no message type (BOOTP is not served)"
		return d
	}
	// Where it came from is checked before who sent it: a request from a
	// segment gitboot does not serve is neither answered nor reported as
	// an unknown MAC.
	nets, why := admit(snap, req, m)
	if why != "" {
		d.Reason, d.Unserved = why, true
		return d
	}
	node, known := snap.NodeByMAC(d.MAC)
	if known {
		d.Node = node
	} else {
		d.Unknown = true
	}

	n, why := chooseNetwork(snap, req, node, nets)
	if n == nil {
		d.Reason = why
		return d
	}
	if mode == bootsvc.DHCPProxy {
		return decideProxy(snap, req, m, n, d)
	}
	if m.LocalPort == ProxyPort {
		d.Reason = "port 4011 request while not in proxy mode"
		return d
	}
	if known {
		return decideNode(snap, req, m, n, d)
	}
	return decideDynamic(snap, req, m, n, pool, d)
}

// admit decides whether a request came from where gitboot serves, and
// returns the networks it may be answered on. A relayed request (giaddr
// set) is admitted when giaddr is a host address of a served network (not
// its network or broadcast address): that network. A request straight
// from a client is admitted when the interface it arrived on (m.Iface)
// has an address in a served network: those networks. Without m.Iface
// (the socket is bound to the interface the operator chose) nets is nil:
// any network.
func admit(snap *bootsvc.Snapshot, req *dhcpv4.DHCPv4, m Meta) (nets []*bootsvc.Network, why string) {
	if gi := ip4(req.GatewayIPAddr); gi.IsValid() {
		n, ok := snap.NetworkContaining(gi)
		if !ok {
			return nil, "relay address " + gi.String() + " is in no served network"
		}
		if !isHostAddr(n.Subnet, gi) {
			return nil, "relay address " + gi.String() + " is the network or broadcast address of " + n.Name
		}
		return []*bootsvc.Network{n}, ""
	}
	if m.Iface == nil {
		return nil, ""
	}
	for i := range snap.Networks {
		n := &snap.Networks[i]
		for _, a := range m.Iface.Addrs {
			if n.Subnet.Contains(a) {
				nets = append(nets, n)
				break
			}
		}
	}
	if len(nets) == 0 {
		name := m.Iface.Name
		if name == "" {
			name = "interface #" + strconv.Itoa(m.Iface.Index)
		}
		return nil, "arrived on " + name + ", which has no address in a served network"
	}
	return nets, ""
}

// isHostAddr reports whether a is neither the network nor the broadcast
// address of p (a /31 or /32 has neither).
func isHostAddr(p netip.Prefix, a netip.Addr) bool {
	if !a.Is4() || p.Bits() >= 31 {
		return true
	}
	b := p.Masked().Addr().As4()
	netw := netip.AddrFrom4(b)
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= host
	bcast := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	return a != netw && a != bcast
}

// chooseNetwork picks the network a request belongs to among nets (nil:
// any; one network for a relayed request): the relay's, else the node's
// own, else the one holding the client's address or the server's, else
// the first network on the arrival interface.
func chooseNetwork(snap *bootsvc.Snapshot, req *dhcpv4.DHCPv4, node *bootsvc.Node, nets []*bootsvc.Network) (*bootsvc.Network, string) {
	allowed := func(n *bootsvc.Network) bool { return nets == nil || slices.Contains(nets, n) }
	if ip4(req.GatewayIPAddr).IsValid() {
		n := nets[0]
		if node != nil && !n.Subnet.Contains(node.IP) {
			return nil, "relayed from " + n.Name + " but the node's address is not in it"
		}
		return n, ""
	}
	if node != nil {
		n, ok := snap.Network(node.Network)
		if !ok {
			if n, ok = snap.NetworkContaining(node.IP); !ok {
				return nil, "node " + node.Name + " has no served network"
			}
		}
		if !allowed(n) {
			return nil, "node " + node.Name + "'s network " + n.Name + " is not on the interface the request arrived on"
		}
		return n, ""
	}
	if ci := ip4(req.ClientIPAddr); ci.IsValid() {
		if n, ok := snap.NetworkContaining(ci); ok && allowed(n) {
			return n, ""
		}
	}
	if n, ok := snap.NetworkContaining(snap.Server.Address); ok && allowed(n) {
		return n, ""
	}
	if len(nets) > 0 {
		return nets[0], ""
	}
	return nil, "no network holds the server address"
}

// decideNode answers a declared node in authoritative mode.
func decideNode(snap *bootsvc.Snapshot, req *dhcpv4.DHCPv4, m Meta, n *bootsvc.Network, d Decision) Decision {
	node := d.Node
	if !node.IP.IsValid() || !n.Subnet.Contains(node.IP) {
		d.Reason = "node " + node.Name + " has no address in network " + n.Name
		return d
	}
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		d.Addr = node.IP
		return withReply(d, buildLease(snap, req, n, dhcpv4.MessageTypeOffer, node.IP, node.Name, lease(n)), req)
	case dhcpv4.MessageTypeRequest:
		if other, ok := otherServer(snap, req); ok {
			d.Reason = "client chose server " + other
			return d
		}
		want := requested(req)
		if want != node.IP {
			d.Reason = "requested " + want.String() + ", reserved " + node.IP.String()
			return withReply(d, buildNak(snap, req, "address not reserved for this client"), req)
		}
		d.Addr = node.IP
		return withReply(d, buildLease(snap, req, n, dhcpv4.MessageTypeAck, node.IP, node.Name, lease(n)), req)
	case dhcpv4.MessageTypeInform:
		r := buildLease(snap, req, n, dhcpv4.MessageTypeAck, netip.Addr{}, node.Name, 0)
		return withReply(d, r, req)
	case dhcpv4.MessageTypeDecline:
		d.Reason = "node declined its reserved address " + requested(req).String() + " (address conflict on the wire?)"
		return d
	case dhcpv4.MessageTypeRelease:
		d.Reason = "release of a reserved address"
		return d
	}
	d.Reason = "message type " + req.MessageType().String() + " is not served"
	return d
}

// decideDynamic answers an unknown MAC from the network's dynamic range.
func decideDynamic(snap *bootsvc.Snapshot, req *dhcpv4.DHCPv4, m Meta, n *bootsvc.Network, pool Pool, d Decision) Decision {
	if !n.HasDynamicRange() || pool == nil {
		d.Reason = "unknown MAC"
		return d
	}
	taken := takenFunc(snap, n)
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		addr, ok := pool.Offer(d.MAC, n, requested(req), taken, m.Now)
		if !ok {
			d.Reason = "dynamic range of " + n.Name + " is full"
			return d
		}
		d.Addr = addr
		return withReply(d, buildLease(snap, req, n, dhcpv4.MessageTypeOffer, addr, "", lease(n)), req)
	case dhcpv4.MessageTypeRequest:
		if other, ok := otherServer(snap, req); ok {
			pool.Release(d.MAC, netip.Addr{})
			d.Reason = "client chose server " + other
			return d
		}
		want := requested(req)
		if err := pool.Commit(d.MAC, n, want, taken, m.Now); err != nil {
			d.Reason = err.Error()
			if _, busy := err.(storeError); busy {
				return d // could not persist: stay silent, the client retries
			}
			return withReply(d, buildNak(snap, req, err.Error()), req)
		}
		d.Addr = want
		return withReply(d, buildLease(snap, req, n, dhcpv4.MessageTypeAck, want, "", lease(n)), req)
	case dhcpv4.MessageTypeRelease:
		pool.Release(d.MAC, ip4(req.ClientIPAddr))
		d.Reason = "released"
		return d
	case dhcpv4.MessageTypeDecline:
		pool.Decline(d.MAC, requested(req), m.Now)
		d.Reason = "declined " + requested(req).String()
		return d
	}
	d.Reason = "message type " + req.MessageType().String() + " is not served to unknown MACs"
	return d
}

// decideProxy answers in ProxyDHCP mode: boot information only, to PXE
// clients that are declared nodes.
func decideProxy(snap *bootsvc.Snapshot, req *dhcpv4.DHCPv4, m Meta, n *bootsvc.Network, d Decision) Decision {
	if d.Unknown {
		d.Reason = "unknown MAC"
		return d
	}
	vc := req.ClassIdentifier()
	if !strings.HasPrefix(vc, "PXEClient") && !strings.HasPrefix(vc, "HTTPClient") && !isIPXE(req) {
		d.Reason = "not a PXE client (proxy mode)"
		return d
	}
	var mt dhcpv4.MessageType
	switch {
	case m.LocalPort == ProxyPort && (req.MessageType() == dhcpv4.MessageTypeRequest || req.MessageType() == dhcpv4.MessageTypeInform):
		mt = dhcpv4.MessageTypeAck
	case m.LocalPort != ProxyPort && req.MessageType() == dhcpv4.MessageTypeDiscover:
		mt = dhcpv4.MessageTypeOffer
	default:
		d.Reason = "message type " + req.MessageType().String() + " is not served in proxy mode on this port"
		return d
	}
	file, vendor := bootFile(snap, req, d.MAC)
	if file == "" {
		d.NoBootFile, d.Arch = true, uint16(req.ClientArch()[0])
		d.Reason = "no boot file for client architecture " + strconv.Itoa(int(d.Arch)) + " (proxy mode sends boot information only)"
		return d
	}
	r := newReply(snap, req, mt)
	setBoot(snap, req, r, file, vendor)
	if vendor == "" {
		r.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient"))
	}
	if uuid := req.Options.Get(dhcpv4.OptionClientMachineIdentifier); uuid != nil {
		r.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, uuid))
	}
	d.Addr = ip4(req.ClientIPAddr)
	d = withReply(d, r, req)
	if m.LocalPort == ProxyPort && m.Src.IsValid() {
		d.Dest = m.Src // the boot server request is answered where it came from
	}
	return d
}

// withReply fills the reply, its destination and the boot file into d.
func withReply(d Decision, r *dhcpv4.DHCPv4, req *dhcpv4.DHCPv4) Decision {
	d.Reply = r
	d.BootFile = r.BootFileName
	if o := r.Options.Get(dhcpv4.OptionBootfileName); o != nil {
		d.BootFile = string(o)
	}
	d.Dest = dest(req, r)
	if d.BootFile == "" && r.MessageType() != dhcpv4.MessageTypeNak {
		if archs := req.ClientArch(); len(archs) > 0 {
			d.NoBootFile, d.Arch = true, uint16(archs[0])
		}
	}
	return d
}

var broadcast = netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), ClientPort)

// dest is where a reply goes: the relay, the client's address, or broadcast
// (clients without an address accept broadcast replies).
func dest(req, r *dhcpv4.DHCPv4) netip.AddrPort {
	if gi := ip4(req.GatewayIPAddr); gi.IsValid() {
		return netip.AddrPortFrom(gi, ServerPort)
	}
	if r.MessageType() == dhcpv4.MessageTypeNak {
		return broadcast
	}
	if ci := ip4(req.ClientIPAddr); ci.IsValid() {
		return netip.AddrPortFrom(ci, ClientPort)
	}
	return broadcast
}

// lease is the lease time of n.
func lease(n *bootsvc.Network) time.Duration {
	if n.LeaseTime > 0 {
		return n.LeaseTime
	}
	return defaultLeaseTime
}

// requested is the address a client asks for: option 50, else ciaddr.
func requested(req *dhcpv4.DHCPv4) netip.Addr {
	if a := ip4(req.RequestedIPAddress()); a.IsValid() {
		return a
	}
	return ip4(req.ClientIPAddr)
}

// otherServer reports a server identifier that is not ours.
func otherServer(snap *bootsvc.Snapshot, req *dhcpv4.DHCPv4) (string, bool) {
	sid := ip4(req.ServerIdentifier())
	if !sid.IsValid() || sid == snap.Server.Address {
		return "", false
	}
	return sid.String(), true
}

// takenFunc reports addresses never handed out dynamically.
func takenFunc(snap *bootsvc.Snapshot, n *bootsvc.Network) func(netip.Addr) bool {
	return func(a netip.Addr) bool {
		if a == snap.Server.Address || a == n.Gateway {
			return true
		}
		_, reserved := snap.NodeByIP(a)
		return reserved
	}
}
