package artifact

import (
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gitboot/gitboot/hclspec"
)

// The image's own network configuration (issue 17, section 6). For a node
// that declares interface blocks or network_config, its system overlay
// carries, after gitboot's init overlay, the overlay "gitboot-net":
//
//	usr/lib/gitboot/netconfig            the script /init runs (netconfig.sh)
//	usr/lib/gitboot/net/gitboot.conf     STACK= BOOT_MAC= BOOT_NAME= BOOT_ADDR= BOOT_GATEWAY= INTERFACES=
//	usr/lib/gitboot/net/link/*.link      systemd .link files pinning each name
//	usr/lib/gitboot/net/networkd/*       .network and .netdev files
//	usr/lib/gitboot/net/networkmanager/* keyfiles (installed 0600)
//	usr/lib/gitboot/net/ifupdown/gitboot /etc/network/interfaces.d/gitboot
//	usr/lib/gitboot/net/resolv.conf      for stacks that do not write one
//
// Rendering all three stacks lets netconfig pick the image's stack at boot
// (or network_config's); its files are part of the system overlay's input
// key. The implicit boot NIC (no interface block has the node's mac) has
// no name on the server: its files say @BOOTIF@, which netconfig replaces
// with the name the kernel gave it, and pins that name.
//
// Nodes without interfaces or network_config get none of this, so they
// keep sharing one system overlay (a per-node file makes each node's
// system overlay its own artifact, 2-3 MB each with the agent).

//go:embed netconfig.sh
var netconfigScript []byte

// netconfigSum is the script's sha256: a node's network overlay hash takes
// it instead of the script's bytes (some 7 KB to hash again per node).
var netconfigSum = sha256.Sum256(netconfigScript)

// netOverlayName is the name gitboot's network overlay has in errors and
// listings.
const netOverlayName = "gitboot-net"

// bootIfToken stands for the boot NIC's name in files rendered for an
// implicit boot NIC; netconfig replaces it.
const bootIfToken = "@BOOTIF@"

// netIface is one interface as the renderers see it.
type netIface struct {
	name    string // "" for the implicit boot NIC
	stem    string // file name part: name, or "boot"
	typ     string // ethernet | infiniband | bond | vlan
	mac     string
	addr    netip.Prefix // the address and its network's prefix; zero: none
	gateway string       // the boot NIC's network's gateway
	dns     []string
	domain  string
	mtu     int
	members []string
	parent  string
	vlanID  int
	boot    bool
	stub    bool     // not declared: a bond member or vlan parent known only by name
	bond    string   // the bond it is a member of
	vlans   []string // vlans tagged on it
}

// ifname is the interface's name in rendered files.
func (i *netIface) ifname() string {
	if i.name == "" {
		return bootIfToken
	}
	return i.name
}

// netInterfaces returns the interfaces gitboot configures on n: its
// declared ones, the boot NIC (declared or not), and the undeclared bond
// members and vlan parents they name. Sorted: the boot NIC first, then by
// name.
func netInterfaces(c *hclspec.Cluster, n *hclspec.Node) []*netIface {
	var out []*netIface
	byName := map[string]*netIface{}
	haveBoot := false
	for _, it := range n.Interfaces {
		ni := &netIface{name: it.Name, stem: it.Name, typ: it.Type, mac: it.MAC, mtu: it.MTU, members: it.Members,
			parent: it.Parent, vlanID: it.VLANID, boot: it.Boot}
		setAddr(c, ni, it.IP, it.Network, it.Boot)
		haveBoot = haveBoot || it.Boot
		out = append(out, ni)
		byName[it.Name] = ni
	}
	if !haveBoot && n.MAC != "" {
		ni := &netIface{stem: "boot", typ: "ethernet", mac: n.MAC, boot: true}
		setAddr(c, ni, n.IP, n.Network, true)
		out = append(out, ni)
	}
	stub := func(name string) *netIface {
		if ni, ok := byName[name]; ok {
			return ni
		}
		ni := &netIface{name: name, stem: name, typ: "ethernet", stub: true}
		byName[name] = ni
		out = append(out, ni)
		return ni
	}
	for _, ni := range slices.Clone(out) {
		switch ni.typ {
		case "bond":
			for _, m := range ni.members {
				stub(m).bond = ni.name
			}
		case "vlan":
			p := stub(ni.parent)
			p.vlans = append(p.vlans, ni.name)
		}
	}
	slices.SortFunc(out, func(a, b *netIface) int {
		switch {
		case a.boot != b.boot:
			if a.boot {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return out
}

func setAddr(c *hclspec.Cluster, ni *netIface, ip netip.Addr, network string, boot bool) {
	nw, ok := c.Network(network)
	if !ok {
		return
	}
	if ip.IsValid() && nw.Subnet.IsValid() {
		ni.addr = netip.PrefixFrom(ip, nw.Subnet.Bits())
	}
	if boot && nw.Gateway.IsValid() {
		ni.gateway = nw.Gateway.String()
	}
	for _, d := range nw.DNS {
		ni.dns = append(ni.dns, d.String())
	}
	ni.domain = nw.Domain
}

// netOverlay returns the overlay of n's network configuration, or nil when
// n declares no interfaces and no network_config.
func netOverlay(c *hclspec.Cluster, n *hclspec.Node) *overlay {
	if len(n.Interfaces) == 0 && n.NetworkConfig == "" {
		return nil
	}
	ifs := netInterfaces(c, n)
	ov := &overlay{name: netOverlayName, decl: netOverlayName}
	add := func(name string, mode uint32, data []byte) {
		ov.files = append(ov.files, ovFile{name: name, src: "(gitboot) " + name, mode: typeReg | mode, data: data})
	}
	for _, d := range []string{"usr", "usr/lib", "usr/lib/gitboot", "usr/lib/gitboot/net", "usr/lib/gitboot/net/link",
		"usr/lib/gitboot/net/networkd", "usr/lib/gitboot/net/networkmanager", "usr/lib/gitboot/net/ifupdown"} {
		ov.files = append(ov.files, ovFile{name: d, src: "(gitboot) " + d, mode: typeDir | 0o755})
	}
	add("usr/lib/gitboot/netconfig", 0o755, netconfigScript)
	add("usr/lib/gitboot/net/gitboot.conf", 0o644, netConf(n, ifs))
	for _, f := range renderLinks(ifs) {
		add("usr/lib/gitboot/net/link/"+f.name, 0o644, f.data)
	}
	for _, f := range renderNetworkd(ifs) {
		add("usr/lib/gitboot/net/networkd/"+f.name, 0o644, f.data)
	}
	for _, f := range renderNM(n.Name, ifs) {
		add("usr/lib/gitboot/net/networkmanager/"+f.name, 0o600, f.data)
	}
	add("usr/lib/gitboot/net/ifupdown/gitboot", 0o644, renderIfupdown(ifs))
	if r := renderResolv(ifs); r != nil {
		add("usr/lib/gitboot/net/resolv.conf", 0o644, r)
	}
	h := sha256.New()
	var hdr [8]byte
	for _, f := range ov.files {
		binary.LittleEndian.PutUint32(hdr[:4], f.mode)
		binary.LittleEndian.PutUint32(hdr[4:], uint32(len(f.data)))
		h.Write([]byte(f.name + "\x00"))
		h.Write(hdr[:])
		if f.name == "usr/lib/gitboot/netconfig" {
			h.Write(netconfigSum[:])
		} else {
			h.Write(f.data)
		}
	}
	h.Sum(ov.hash[:0])
	return ov
}

// withNetOverlay returns sys (gitboot's init overlay, then the node's
// system overlays) with n's network overlay after the init overlay, so the
// node's own overlays may still replace its files.
func withNetOverlay(c *hclspec.Cluster, n *hclspec.Node, sys []*overlay) []*overlay {
	nov := netOverlay(c, n)
	if nov == nil || len(sys) == 0 {
		return sys
	}
	return slices.Insert(sys, 1, nov)
}

// netConf is usr/lib/gitboot/net/gitboot.conf: KEY=VALUE lines netconfig
// reads (never sources).
func netConf(n *hclspec.Node, ifs []*netIface) []byte {
	var b strings.Builder
	b.WriteString("# gitboot: network configuration of node " + n.Name + " (read by /usr/lib/gitboot/netconfig)\n")
	b.WriteString("STACK=" + n.NetworkConfig + "\n")
	for _, ni := range ifs {
		if ni.boot {
			b.WriteString("BOOT_MAC=" + ni.mac + "\nBOOT_NAME=" + ni.name + "\n")
			if ni.addr.IsValid() {
				b.WriteString("BOOT_ADDR=" + ni.addr.String() + "\nBOOT_GATEWAY=" + ni.gateway + "\n")
			}
		}
	}
	b.WriteString("INTERFACES=" + strconv.Itoa(len(ifs)) + "\n")
	return []byte(b.String())
}

// renderResolv is a resolv.conf for stacks that do not write one: the
// boot NIC's network's DNS servers, and every configured network's
// domain (the boot NIC's first). nil when there are no DNS servers.
func renderResolv(ifs []*netIface) []byte {
	var dns, search []string
	for _, ni := range ifs {
		if ni.boot || len(dns) == 0 {
			for _, d := range ni.dns {
				if !slices.Contains(dns, d) {
					dns = append(dns, d)
				}
			}
		}
		if ni.domain != "" && !slices.Contains(search, ni.domain) {
			search = append(search, ni.domain)
		}
	}
	if len(dns) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("# gitboot: written by /usr/lib/gitboot/netconfig\n")
	if len(search) > 0 {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	for _, d := range dns {
		b.WriteString("nameserver " + d + "\n")
	}
	return []byte(b.String())
}

func templateInterfaces(n *hclspec.Node) []TemplateInterface {
	if len(n.Interfaces) == 0 {
		return nil
	}
	out := make([]TemplateInterface, 0, len(n.Interfaces))
	for _, it := range n.Interfaces {
		ti := TemplateInterface{Name: it.Name, Type: it.Type, MAC: it.MAC, Network: it.Network, MTU: it.MTU,
			Members: it.Members, Parent: it.Parent, VLANID: it.VLANID, Boot: it.Boot}
		if it.IP.IsValid() {
			ti.IP = it.IP.String()
		}
		out = append(out, ti)
	}
	return out
}

// hashInterfaces adds a node's interfaces to its template data hash
// (nothing when it has none, so such nodes keep their keys).
func hashInterfaces(kh *keyHasher, ifs []TemplateInterface) {
	if len(ifs) == 0 {
		return
	}
	kh.str("interfaces")
	kh.buf = binary.AppendUvarint(kh.buf, uint64(len(ifs)))
	for _, it := range ifs {
		kh.str(it.Name)
		kh.str(it.Type)
		kh.str(it.MAC)
		kh.str(it.IP)
		kh.str(it.Network)
		kh.str(it.Parent)
		kh.buf = binary.AppendUvarint(kh.buf, uint64(it.MTU))
		kh.buf = binary.AppendUvarint(kh.buf, uint64(it.VLANID))
		kh.buf = binary.AppendUvarint(kh.buf, uint64(len(it.Members)))
		for _, m := range it.Members {
			kh.str(m)
		}
		if it.Boot {
			kh.str("boot")
		}
	}
}
