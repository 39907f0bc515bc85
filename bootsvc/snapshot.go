// Package bootsvc holds the immutable snapshot that the boot services
// (bootsvc/dhcp, bootsvc/tftp, bootsvc/httpboot) serve. The reconciler builds
// one Snapshot per applied commit and hands it to every service, which swaps
// it in with an atomic pointer; services never parse configuration or take
// locks on the request path.
//
// bootsvc must not import reconcile or hclspec (a test enforces it): it
// serves what it is handed.
package bootsvc

import (
	"net"
	"net/netip"
	"sort"
	"time"

	"github.com/gitboot/gitboot/internal/macaddr"
)

// DHCP modes, as in the server block's dhcp_mode attribute.
const (
	DHCPAuthoritative = "authoritative"
	DHCPProxy         = "proxy"
	DHCPOff           = "off"
)

// Server is what the boot services need to know about the gitboot server
// they run as.
type Server struct {
	Name            string
	Address         netip.Addr // the address nodes reach: next-server, URLs
	Interface       string     // where DHCP listens; empty: all
	HTTPPort        int
	HTTPSPort       int // the agents' HTTPS listener; 0: none (agents fetch over HTTP)
	TFTPPort        int
	DHCPPort        int
	DHCPMode        string // DHCPAuthoritative, DHCPProxy or DHCPOff
	IPXEDir         string // holds undionly.kpxe, ipxe.efi, snponly.efi
	UEFIBootFile    string // boot file for x86-64 UEFI: "snponly.efi" (default) or "ipxe.efi"
	RuntimeInterval time.Duration
	RouterAdvert    bool
	SecureRuntime   bool
}

// HTTPBase returns the base URL of the server's HTTP service, for example
// "http://10.99.0.1:9873".
func (s *Server) HTTPBase() string {
	return "http://" + netip.AddrPortFrom(s.Address, uint16(s.HTTPPort)).String()
}

// Network is one network served by DHCP.
type Network struct {
	Name      string
	Subnet    netip.Prefix
	Gateway   netip.Addr // zero if none
	DNS       []netip.Addr
	Domain    string
	LeaseTime time.Duration
	// DynamicStart and DynamicEnd bound the discovery range for unknown
	// MACs; both are zero when the network has none.
	DynamicStart netip.Addr
	DynamicEnd   netip.Addr
}

// HasDynamicRange reports whether unknown MACs get an address on this network.
func (n *Network) HasDynamicRange() bool { return n.DynamicStart.IsValid() && n.DynamicEnd.IsValid() }

// Mask returns the subnet mask as a net.IPMask (IPv4).
func (n *Network) Mask() net.IPMask { return net.CIDRMask(n.Subnet.Bits(), 32) }

// Artifact is one built boot file in the content-addressed store.
type Artifact struct {
	Path   string // absolute path of the file on the server
	Digest string // "sha256:<hex>"
	Size   int64
	Name   string // the name shown as SENT in status, e.g. "runtime.img.gz"
}

// Artifacts is the set of files one node boots from. A zero Artifact
// (empty Path) means "not built".
type Artifacts struct {
	Kernel  Artifact
	Image   Artifact
	System  Artifact
	Runtime Artifact
	// Stage1 is the image's stage-one initramfs when the node boots in
	// two stages (Path "" when it boots in one): the iPXE script then
	// loads the kernel and Stage1 only, and stage one fetches the rest.
	Stage1 Artifact
	// Extra holds additional initrds loaded after the image (for example
	// kernel modules when the kernel comes from another image).
	Extra []Artifact
}

// Node is one declared node, fully resolved.
type Node struct {
	Name       string
	MAC        string // lower-case, colon-separated: "52:54:00:00:00:01"
	IP         netip.Addr
	Network    string // name of its network in Snapshot.Networks
	KernelArgs []string
	Tags       map[string]string
	Artifacts  Artifacts
	// AssetKeyDigest is the node's asset key as the inventory holds it
	// (empty: none): "hmac-sha256:<hex>", the HMAC-SHA256 of
	// "sha256:<hex of the key's sha256>" with the server's secret (the
	// HTTP service's Config.AssetKeySecret), or, from an inventory written
	// before, the plain "sha256:<hex>". With Server.SecureRuntime, a
	// request for the node's runtime overlay must carry the key (header
	// X-Gitboot-Asset-Key); the key itself is never in a snapshot.
	AssetKeyDigest string
	// BMC is where the node's BMC answers, for the status views:
	// "ipmi 10.98.8.21:623" (driver, address, port; never credentials).
	// Empty: no bmc block.
	BMC string
	// Root is "tmpfs" when the node's /init moves its root into a tmpfs
	// of RootSize ("50%", "8G"): the iPXE script passes gitboot.root=tmpfs
	// gitboot.root_size=SIZE. Empty (or "initramfs"): the initramfs stays
	// the root.
	Root, RootSize string
}

// Snapshot is everything the boot services serve, immutable once built
// with NewSnapshot. Share it by pointer; never modify it.
type Snapshot struct {
	Server   Server
	Networks []Network // sorted by name
	Nodes    []Node    // sorted by name
	// Commit is the git commit this snapshot was built from (informational).
	Commit string

	byMAC  map[string]int
	byIP   map[netip.Addr]int
	byName map[string]int
	netIdx map[string]int
}

// NewSnapshot sorts networks and nodes and builds the lookup indexes.
// The slices are owned by the snapshot afterwards.
func NewSnapshot(srv Server, networks []Network, nodes []Node, commit string) *Snapshot {
	sort.Slice(networks, func(i, j int) bool { return networks[i].Name < networks[j].Name })
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	s := &Snapshot{
		Server: srv, Networks: networks, Nodes: nodes, Commit: commit,
		byMAC:  make(map[string]int, len(nodes)),
		byIP:   make(map[netip.Addr]int, len(nodes)),
		byName: make(map[string]int, len(nodes)),
		netIdx: make(map[string]int, len(networks)),
	}
	for i := range nodes {
		s.byMAC[nodes[i].MAC] = i
		if nodes[i].IP.IsValid() {
			s.byIP[nodes[i].IP] = i
		}
		s.byName[nodes[i].Name] = i
	}
	for i := range networks {
		s.netIdx[networks[i].Name] = i
	}
	return s
}

// NodeByMAC finds a node by its MAC in any accepted form (colons or
// dashes, any case). It does not allocate for the canonical form.
func (s *Snapshot) NodeByMAC(mac string) (*Node, bool) {
	if s == nil {
		return nil, false
	}
	if i, ok := s.byMAC[mac]; ok {
		return &s.Nodes[i], true
	}
	canon, ok := CanonicalMAC(mac)
	if !ok {
		return nil, false
	}
	i, ok := s.byMAC[canon]
	if !ok {
		return nil, false
	}
	return &s.Nodes[i], true
}

// NodeByIP finds the node whose reserved address is ip.
func (s *Snapshot) NodeByIP(ip netip.Addr) (*Node, bool) {
	if s == nil {
		return nil, false
	}
	i, ok := s.byIP[ip.Unmap()]
	if !ok {
		return nil, false
	}
	return &s.Nodes[i], true
}

// NodeByName finds a node by name.
func (s *Snapshot) NodeByName(name string) (*Node, bool) {
	if s == nil {
		return nil, false
	}
	i, ok := s.byName[name]
	if !ok {
		return nil, false
	}
	return &s.Nodes[i], true
}

// Network returns the network with the given name.
func (s *Snapshot) Network(name string) (*Network, bool) {
	if s == nil {
		return nil, false
	}
	i, ok := s.netIdx[name]
	if !ok {
		return nil, false
	}
	return &s.Networks[i], true
}

// NetworkContaining returns the network whose subnet holds addr (used with
// a relay's giaddr or the receiving interface's address).
func (s *Snapshot) NetworkContaining(addr netip.Addr) (*Network, bool) {
	if s == nil {
		return nil, false
	}
	addr = addr.Unmap()
	for i := range s.Networks {
		if s.Networks[i].Subnet.Contains(addr) {
			return &s.Networks[i], true
		}
	}
	return nil, false
}

// CanonicalMAC converts a 48-bit MAC written with ':' or '-' separators (any
// case) or in Cisco dotted form (xxxx.xxxx.xxxx) to lower-case colon form,
// the form hclspec gives every node's mac (both use internal/macaddr). A MAC
// already canonical is returned as is, without allocating.
func CanonicalMAC(s string) (string, bool) { return macaddr.Canonical(s) }
