package hclspec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// validate runs the checks that need the whole model.
func (l *loader) validate(c *Cluster) {
	if len(c.Servers) == 0 {
		l.warnf(nil, "No server block", "Without a server block `gitboot serve` has nothing to serve; add server \"NAME\" { address = \"...\" }.")
	}
	l.checkNetworkOverlaps(c)
	l.checkOverlays(c)
	l.checkNodes(c)
	l.checkAccounts(c)
}

func (l *loader) checkNetworkOverlaps(c *Cluster) {
	for i, a := range c.Networks {
		for _, b := range c.Networks[i+1:] {
			if a.Subnet.IsValid() && b.Subnet.IsValid() && a.Subnet.Overlaps(b.Subnet) {
				l.errorf(b.subnetRange.Ptr(), "Overlapping networks",
					"network %q (%s) overlaps network %q (%s) declared at %s.", b.Name, b.Subnet, a.Name, a.Subnet, a.subnetRange.String())
			}
		}
	}
}

// checkOverlays requires each overlay source to be a directory in the
// repository and its templates to parse.
func (l *loader) checkOverlays(c *Cluster) {
	for _, o := range c.Overlays {
		if o.Source == "" {
			continue
		}
		st, err := fs.Stat(c.FS, o.Source)
		switch {
		case err != nil:
			l.errorf(o.sourceRange.Ptr(), "Overlay directory not found",
				"overlay %q: %q does not exist in the repository.", o.Name, o.Source)
			continue
		case !st.IsDir():
			l.errorf(o.sourceRange.Ptr(), "Overlay source is not a directory",
				"overlay %q: %q is a file; source must be a directory in the repository.", o.Name, o.Source)
			continue
		}
		l.checkTemplates(o)
	}
}

// validateFuncs are the functions templates may call (see TemplateFuncs).
var validateFuncs = TemplateFuncs()

var tmplLineRE = regexp.MustCompile(`^template: [^:]*:(\d+):(?:(\d+):)? ?(.*)$`)

// checkTemplates parses each *.tmpl file of the overlay so a syntax error is
// a validation error naming the template file and line.
func (l *loader) checkTemplates(o *Overlay) {
	_ = fs.WalkDir(l.fsys, o.Source, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".tmpl") {
			return nil
		}
		src, err := readLimited(l.fsys, p, MaxReadFile)
		if err != nil {
			l.errorf(o.sourceRange.Ptr(), "Cannot read template", "overlay %q: %s.", o.Name, err)
			return nil
		}
		if _, _, err := ParseTemplate(path.Base(p), string(src), validateFuncs); err != nil {
			file := path.Join(l.opts.FilePrefix, p) // Cluster.FileName
			line, col, msg := 1, 1, err.Error()
			if m := tmplLineRE.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				if m[2] != "" {
					col, _ = strconv.Atoi(m[2])
				}
				msg = m[3]
			}
			l.errorf(&hcl.Range{Filename: file, Start: hcl.Pos{Line: line, Column: col}, End: hcl.Pos{Line: line, Column: col + 1}},
				"Template error", "overlay %q, %s line %d: %s.", o.Name, file, line, msg)
		}
		return nil
	})
}

func (l *loader) checkNodes(c *Cluster) {
	byName := map[string]*Node{}
	byMAC := map[string]*Node{}
	byIP := map[string]*Node{}
	for _, d := range l.nodeDefs {
		n := d.node
		if prev, dup := byName[n.Name]; dup {
			l.errorf(n.Range.Ptr(), "Duplicate node name", "node %q is declared twice; the first is at %s.", n.Name, prev.Range.String())
		} else {
			byName[n.Name] = n
		}
		if n.MAC != "" {
			if prev, dup := byMAC[n.MAC]; dup {
				r := n.Origin("mac")
				l.errorf(&r, "Duplicate MAC address", "nodes %q and %q both have mac %s; the first is set at %s.", prev.Name, n.Name, n.MAC, prev.Origin("mac").String())
			} else {
				byMAC[n.MAC] = n
			}
		}
		if n.IP.IsValid() {
			if prev, dup := byIP[n.IP.String()]; dup {
				r := n.Origin("ip")
				l.errorf(&r, "Duplicate IP address", "nodes %q and %q both have ip %s; the first is set at %s.", prev.Name, n.Name, n.IP, prev.Origin("ip").String())
			} else {
				byIP[n.IP.String()] = n
			}
		}
		l.checkNodeRefs(c, n, d.broken)
	}
	l.checkInterfaceAddrs(c, byMAC, byIP)
}

func (l *loader) checkNodeRefs(c *Cluster, n *Node, broken brokenAttrs) {
	if n.Image == "" && !broken.image {
		l.errorf(n.Range.Ptr(), "Node without image", "node %q has no image: set image = image.NAME on the node or one of its profiles.", n.Name)
	}
	if n.Network == "" {
		if n.IP.IsValid() && !broken.network {
			r := n.Origin("ip")
			l.errorf(&r, "Node without network", "node %q has no network and no network's subnet holds its ip %s: set network = network.NAME or fix the ip.", n.Name, n.IP)
		}
		return
	}
	net, ok := c.Network(n.Network)
	if !ok || !n.IP.IsValid() || !net.Subnet.IsValid() {
		return
	}
	ipRange := func() *hcl.Range { r := n.Origin("ip"); return &r } // only for an error: cached nodes decode it then
	switch {
	case !net.Subnet.Contains(n.IP):
		l.errorf(ipRange(), "IP outside its network", "node %q has ip %s, outside subnet %s of network %q.", n.Name, n.IP, net.Subnet, net.Name)
	case n.IP == net.Subnet.Addr():
		l.errorf(ipRange(), "IP is the network address", "node %q has ip %s, the network address of %s.", n.Name, n.IP, net.Subnet)
	case n.IP == broadcast(net):
		l.errorf(ipRange(), "IP is the broadcast address", "node %q has ip %s, the broadcast address of %s.", n.Name, n.IP, net.Subnet)
	case net.Gateway.IsValid() && n.IP == net.Gateway:
		l.errorf(ipRange(), "IP is the gateway", "node %q has ip %s, the gateway of network %q.", n.Name, n.IP, net.Name)
	case net.DynamicStart.IsValid() && !n.IP.Less(net.DynamicStart) && !net.DynamicEnd.Less(n.IP):
		l.errorf(ipRange(), "IP inside the dynamic range", "node %q has ip %s, inside dynamic_range %s-%s of network %q (set at %s); reserved addresses must lie outside it.",
			n.Name, n.IP, net.DynamicStart, net.DynamicEnd, net.Name, net.dynamicRange.String())
	}
	if len(n.RuntimeOverlays) == 0 && !broken.runtimeOverlays {
		l.warnf(n.Range.Ptr(), "Node without runtime overlay", "node %q has no runtime_overlays; its agent will have nothing to pull.", n.Name)
	}
}

func broadcast(n *Network) netip.Addr {
	a := n.Subnet.Addr().As4()
	bits := n.Subnet.Bits()
	for i := 0; i < 4; i++ {
		for b := 0; b < 8; b++ {
			if i*8+b >= bits {
				a[i] |= 0x80 >> b
			}
		}
	}
	return netip.AddrFrom4(a)
}

// hashCluster hashes the normalised model: everything that affects what is
// served, nothing about where or how it was written. The hash is that of
// one JSON document (see hashNode), written node by node: encoding it
// whole held all of it in memory (some 30 MB at 100,000 nodes, which
// encoding/json's pool then kept).
func hashCluster(c *Cluster) string {
	v := hashModel(c)
	v.Nodes = []hashNode{}
	if len(c.Nodes) == 0 {
		v.Nodes = nil // "Nodes":null, as it always was
	}
	h := sha256.New()
	head, err := json.Marshal(v)
	if len(c.Nodes) == 0 && err == nil {
		h.Write(append(head, '\n'))
		return hex.EncodeToString(h.Sum(nil))
	}
	if err != nil {
		// Encoding plain data cannot fail; keep the hash distinct if it does.
		fmt.Fprintf(h, "unencodable: %v", err)
		return hex.EncodeToString(h.Sum(nil))
	}
	h.Write(head[:len(head)-2]) // up to the "[" of the empty Nodes
	var buf []byte
	for i, n := range c.Nodes {
		buf = buf[:0]
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendHashNode(buf, n)
		h.Write(buf)
	}
	h.Write([]byte("]}\n"))
	return hex.EncodeToString(h.Sum(nil))
}

// hashDoc is the document hashCluster hashes.
type hashDoc struct {
	Servers  []*Server
	Networks []*Network
	Images   []*Image
	Overlays []*Overlay
	Profiles [][]string
	Users    []hashUser `json:",omitempty"` // users.go
	Groups   []*Group   `json:",omitempty"`
	Nodes    []hashNode
}

// hashModel returns the document hashCluster hashes, without its nodes.
func hashModel(c *Cluster) hashDoc {
	v := hashDoc{Servers: c.Servers, Networks: c.Networks, Images: c.Images, Overlays: c.Overlays, Users: hashUsers(c.Users), Groups: c.Groups}
	for _, p := range c.Profiles {
		v.Profiles = append(v.Profiles, append([]string{p.Name}, p.Profiles...))
	}
	return v
}

func hashNodeOf(n *Node) hashNode {
	h := hashNode{n.Name, n.MAC, n.IP.String(), n.Image, n.Network, n.KernelArgs, n.SystemOverlays, n.RuntimeOverlays, n.Profiles, n.Tags, n.AssetKeySHA256, hashRoot(n), n.Interfaces, n.NetworkConfig, n.BMC, nil, n.Resources}
	if n.Users != nil {
		h.Users = &n.Users
	}
	return h
}

// hashNode is a node as hashCluster hashes it.
type hashNode struct {
	Name, MAC, IP, Image, Network     string
	KernelArgs, SystemO, RuntimeO, Pr []string
	Tags                              map[string]string
	AssetKey                          string       `json:",omitempty"`
	Root                              string       `json:",omitempty"` // hashRoot
	Interfaces                        []*Interface `json:",omitempty"`
	NetConfig                         string       `json:",omitempty"`
	BMC                               *BMC         `json:",omitempty"`
	Users                             *[]string    `json:",omitempty"` // nil: every declared user; []: none
	Resources                         Resources    `json:",omitempty"`
}
