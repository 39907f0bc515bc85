package hclspec

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/gitboot/gitboot/internal/macaddr"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Interface types an `interface` block may declare.
var InterfaceTypes = []string{"ethernet", "infiniband", "bond", "vlan"}

// NetworkConfigs are the values of network_config: the network stacks
// gitboot renders the image's own configuration for.
var NetworkConfigs = []string{"networkd", "networkmanager", "ifupdown"}

// MTU bounds of an interface (IPv4's minimum; the largest an MTU field holds).
const (
	MinMTU = 68
	MaxMTU = 65535
)

// Interface is one `interface "NAME"` block of a node, merged attribute by
// attribute with the same-named blocks of its profiles (profiles in order,
// the node's own block last; lists replace).
type Interface struct {
	Name    string
	Type    string     // ethernet | infiniband | bond | vlan
	MAC     string     `json:",omitempty"` // lower-case colon form: 6 octets, 20 for InfiniBand; may be empty for bond and vlan
	IP      netip.Addr // zero: no address
	Network string     `json:",omitempty"` // the network that holds IP (prefix, DNS, domain)
	MTU     int        `json:",omitempty"` // 0: the default
	Members []string   `json:",omitempty"` // bond: member interface names
	Parent  string     `json:",omitempty"` // vlan: the parent interface's name
	VLANID  int        `json:",omitempty"` // vlan: 1-4094
	// Boot is set when MAC is the node's own mac: this block describes the
	// boot NIC (its IP and network are the node's).
	Boot bool `json:",omitempty"`
}

var interfaceSchema = schema("type", "mac", "ip", "network", "mtu", "members", "parent", "vlan_id")

// ifaceNameRE matches a Linux interface name (IFNAMSIZ: at most 15 bytes).
var ifaceNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,14}$`)

// ifaceDef is one interface block as decoded (or as merged for a node),
// with where each attribute was set, for diagnostics. It lives only while
// the loader does.
type ifaceDef struct {
	name                  string
	rng                   hcl.Range // the block's label (the last block merged in)
	typ, mac, net, parent setting[string]
	ip                    setting[netip.Addr]
	mtu, vlanID           setting[int]
	members               setting[[]string]
}

// interfaceBlock is the decoded body of one interface block, shared by
// every for_each element that evaluates it.
type interfaceBlock struct {
	content *hcl.BodyContent
	ok      bool // the label is a valid name
}

// decodeInterfaces evaluates the interface blocks of a node or profile body.
// A block's structure is checked once; its expressions are evaluated per
// for_each element (a.ctx).
func decodeInterfaces(a *attrs) []ifaceDef {
	var out []ifaceDef
	for _, b := range a.content.Blocks {
		if b.Type != "interface" {
			continue
		}
		ib := a.l.interfaceBlock(b)
		if !ib.ok {
			continue
		}
		name := b.Labels[0]
		if slices.ContainsFunc(out, func(d ifaceDef) bool { return d.name == name }) {
			if a.l.reportOnce(b, "dup") {
				a.l.errorf(b.LabelRanges[0].Ptr(), "Duplicate interface", "%s declares interface %q twice.", a.what, name)
			}
			continue
		}
		ia := &attrs{l: a.l, content: ib.content, ctx: a.ctx, eachOK: a.eachOK, what: "interface " + quote(name) + " of " + a.what}
		out = append(out, decodeInterface(ia, name, b.LabelRanges[0]))
	}
	return out
}

// interfaceBlock returns b's decoded body, decoding it (and reporting its
// structural problems) the first time.
func (l *loader) interfaceBlock(b *hcl.Block) *interfaceBlock {
	if ib, ok := l.ifaceBlocks[b]; ok {
		return ib
	}
	if l.ifaceBlocks == nil {
		l.ifaceBlocks = map[*hcl.Block]*interfaceBlock{}
	}
	content, diags := b.Body.Content(interfaceSchema)
	l.diags = append(l.diags, diags...)
	ib := &interfaceBlock{content: content, ok: true}
	if !ifaceNameRE.MatchString(b.Labels[0]) {
		ib.ok = false
		l.errorf(b.LabelRanges[0].Ptr(), "Invalid interface name",
			"Interface name %q must start with a letter, hold only letters, digits, '_', '-' and '.', and be at most 15 characters (Linux's limit).", b.Labels[0])
	}
	l.ifaceBlocks[b] = ib
	return ib
}

// reportOnce reports whether the problem what of block b is new (for_each
// evaluates a block once per element).
func (l *loader) reportOnce(b *hcl.Block, what string) bool {
	k := reportKey{b, what}
	if l.reported[k] {
		return false
	}
	if l.reported == nil {
		l.reported = map[reportKey]bool{}
	}
	l.reported[k] = true
	return true
}

type reportKey struct {
	b    *hcl.Block
	what string
}

func decodeInterface(a *attrs, name string, rng hcl.Range) ifaceDef {
	d := ifaceDef{name: name, rng: rng}
	if v, at, ok := a.str("type"); ok {
		if !contains(InterfaceTypes, v) {
			a.valueErr(at, "Unknown interface type", "type must be one of %s, not %q.%s", strings.Join(quoteAll(InterfaceTypes), ", "), v, suggest(v, InterfaceTypes))
			d.typ.broken = true
		} else {
			d.typ = setting[string]{v: v, rng: at.Expr.Range(), set: true}
		}
	} else if at != nil {
		d.typ.broken = true
	}
	if v, at, ok := a.str("mac"); ok {
		if mac, ok := canonicalHW(v); ok {
			d.mac = setting[string]{v: mac, rng: at.Expr.Range(), set: true}
		} else {
			a.valueErr(at, "Invalid MAC address", "mac of %s must be six hex bytes such as \"52:54:00:00:00:01\" (InfiniBand: twenty), not %q.", a.what, v)
			d.mac.broken = true
		}
	} else if at != nil {
		d.mac.broken = true
	}
	if v, at, ok := a.str("ip"); ok {
		if ip, ok := a.ipv4(at, "ip", v); ok {
			d.ip = setting[netip.Addr]{v: ip, rng: at.Expr.Range(), set: true}
		} else {
			d.ip.broken = true
		}
	} else if at != nil {
		d.ip.broken = true
	}
	if v, at, ok := a.ref("network", "network"); ok {
		d.net = setting[string]{v: v, rng: at.Expr.Range(), set: true}
	} else if at != nil {
		d.net.broken = true
	}
	if v, at, ok := a.whole("mtu", MinMTU, MaxMTU); ok {
		d.mtu = setting[int]{v: v, rng: at.Expr.Range(), set: true}
	}
	if v, at, ok := a.strList("members"); ok {
		d.members = setting[[]string]{v: v, rng: at.Expr.Range(), set: true}
	} else if at != nil {
		d.members.broken = true
	}
	if v, at, ok := a.str("parent"); ok {
		d.parent = setting[string]{v: v, rng: at.Expr.Range(), set: true}
	} else if at != nil {
		d.parent.broken = true
	}
	if v, at, ok := a.whole("vlan_id", 1, 4094); ok {
		d.vlanID = setting[int]{v: v, rng: at.Expr.Range(), set: true}
	} else if at != nil {
		d.vlanID.broken = true
	}
	return d
}

// canonicalHW returns a hardware address in lower-case colon form: six
// octets (any form macaddr accepts) or twenty (InfiniBand, colon form).
func canonicalHW(s string) (string, bool) {
	if mac, ok := macaddr.Canonical(s); ok {
		return mac, true
	}
	if len(s) != 20*3-1 {
		return "", false
	}
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if i%3 == 2 {
			if c != ':' {
				return "", false
			}
		} else if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	return string(b), true
}

// whole evaluates a whole number in [lo, hi].
func (a *attrs) whole(name string, lo, hi int64) (int, *hcl.Attribute, bool) {
	v, at, ok := a.value(name, cty.Number)
	if !ok {
		return 0, at, false
	}
	bf := v.AsBigFloat()
	i, _ := bf.Int64()
	if !bf.IsInt() || i < lo || i > hi {
		a.valueErr(at, "Value out of range", "%s of %s must be a whole number from %d to %d, not %s.", name, a.what, lo, hi, bf.Text('f', -1))
		return 0, at, false
	}
	return int(i), at, true
}

// mergeInterfaces merges interface definitions by name, attribute by
// attribute: each of later (in order) wins over what came before.
func mergeInterfaces(into []ifaceDef, later []ifaceDef) []ifaceDef {
	for _, d := range later {
		i := slices.IndexFunc(into, func(x ifaceDef) bool { return x.name == d.name })
		if i < 0 {
			into = append(into, d)
			continue
		}
		m := &into[i]
		m.rng = d.rng
		mergeSetting(&m.typ, d.typ)
		mergeSetting(&m.mac, d.mac)
		mergeSetting(&m.ip, d.ip)
		mergeSetting(&m.net, d.net)
		mergeSetting(&m.mtu, d.mtu)
		mergeSetting(&m.members, d.members)
		mergeSetting(&m.parent, d.parent)
		mergeSetting(&m.vlanID, d.vlanID)
	}
	return into
}

func mergeSetting[T any](m *setting[T], o setting[T]) {
	if o.set || o.broken {
		*m = o
	}
}

// resolveInterfaces turns n's merged interface definitions into
// n.Interfaces (sorted by name) and reports what is wrong with one
// interface on its own: a missing mac, a bond without members, a vlan
// without parent or vlan_id, an address no network holds. Checks across
// nodes (duplicate addresses) are checkNodes'; references to networks
// are checked when the expression is evaluated.
func (l *loader) resolveInterfaces(n *Node, defs []ifaceDef) {
	if len(defs) == 0 {
		return
	}
	slices.SortFunc(defs, func(a, b ifaceDef) int { return strings.Compare(a.name, b.name) })
	n.Interfaces = make([]*Interface, 0, len(defs))
	for i := range defs {
		d := &defs[i]
		it := &Interface{Name: d.name, Type: "ethernet", MAC: d.mac.v, IP: d.ip.v, Network: d.net.v, MTU: d.mtu.v,
			Members: d.members.v, Parent: d.parent.v, VLANID: d.vlanID.v}
		if d.typ.set {
			it.Type = d.typ.v
		}
		// A bond or vlan with the node's mac is not the boot NIC (booting
		// over a bond is not supported): it is reported as a duplicate.
		it.Boot = it.MAC != "" && it.MAC == n.MAC && (it.Type == "ethernet" || it.Type == "infiniband")
		what := "interface " + quote(d.name) + " of node " + quote(n.Name)
		if !d.typ.broken {
			l.checkInterfaceShape(n, d, it, what)
		}
		if it.Boot {
			l.checkBootInterface(n, d, it, what)
		}
		if it.IP.IsValid() && it.Network == "" && !d.net.broken {
			it.Network = l.networkHolding(it.IP)
			if it.Network == "" {
				l.errorf(d.ip.rng.Ptr(), "Interface without network",
					"%s has ip %s, which no network's subnet holds: set network = network.NAME or fix the ip.", what, it.IP)
			}
		}
		n.Interfaces = append(n.Interfaces, it)
	}
}

// checkInterfaceShape checks what an interface of its type needs.
func (l *loader) checkInterfaceShape(n *Node, d *ifaceDef, it *Interface, what string) {
	switch it.Type {
	case "ethernet", "infiniband":
		if !d.mac.set && !d.mac.broken {
			l.errorf(d.rng.Ptr(), "Interface without mac", "%s (type %s) needs mac: gitboot matches the interface by its hardware address.", what, it.Type)
		}
	case "bond":
		if (!d.members.set || len(it.Members) == 0) && !d.members.broken {
			r := d.rng
			if d.members.set {
				r = d.members.rng
			}
			l.errorf(r.Ptr(), "Bond without members", "%s is a bond and needs members = [\"NAME\", ...], the interfaces it bonds.", what)
		}
		for _, m := range it.Members {
			if m == it.Name {
				l.errorf(d.members.rng.Ptr(), "Invalid bond member", "%s lists itself among its members.", what)
			} else if !ifaceNameRE.MatchString(m) {
				l.errorf(d.members.rng.Ptr(), "Invalid bond member", "%s: member %q is not an interface name.", what, m)
			}
		}
	case "vlan":
		if !d.parent.set && !d.parent.broken {
			l.errorf(d.rng.Ptr(), "VLAN without parent", "%s is a vlan and needs parent = \"NAME\", the interface it is tagged on.", what)
		} else if d.parent.set && (it.Parent == it.Name || !ifaceNameRE.MatchString(it.Parent)) {
			l.errorf(d.parent.rng.Ptr(), "Invalid vlan parent", "%s: parent %q is not another interface's name.", what, it.Parent)
		}
		if !d.vlanID.set && !d.vlanID.broken {
			l.errorf(d.rng.Ptr(), "VLAN without vlan_id", "%s is a vlan and needs vlan_id, a number from 1 to 4094.", what)
		}
	}
	if it.MAC != "" {
		ib := len(it.MAC) > 17
		if ib != (it.Type == "infiniband") {
			want := "six octets"
			if it.Type == "infiniband" {
				want = "twenty octets (an IPoIB hardware address)"
			}
			l.errorf(d.mac.rng.Ptr(), "Invalid MAC address", "%s is of type %s: its mac must have %s, not %q.", what, it.Type, want, it.MAC)
		}
	}
	if it.Type != "bond" && d.members.set {
		l.errorf(d.members.rng.Ptr(), "Members on a non-bond interface", "%s is of type %s; only a bond has members.", what, it.Type)
	}
	if it.Type != "vlan" && (d.parent.set || d.vlanID.set) {
		r := d.parent.rng
		if !d.parent.set {
			r = d.vlanID.rng
		}
		l.errorf(r.Ptr(), "VLAN settings on a non-vlan interface", "%s is of type %s; only a vlan has parent and vlan_id.", what, it.Type)
	}
}

// checkBootInterface checks an interface with the node's own mac: it is
// the boot NIC, whose address and network are the node's.
func (l *loader) checkBootInterface(n *Node, d *ifaceDef, it *Interface, what string) {
	if d.ip.set && n.IP.IsValid() && it.IP != n.IP {
		l.errorf(d.ip.rng.Ptr(), "Boot interface with another ip",
			"%s has the node's mac, so it is the boot NIC; its ip %s differs from the node's ip %s (leave it out or make it the same).", what, it.IP, n.IP)
	}
	if d.net.set && n.Network != "" && it.Network != n.Network {
		l.errorf(d.net.rng.Ptr(), "Boot interface on another network",
			"%s has the node's mac, so it is the boot NIC; its network %q differs from the node's %q.", what, it.Network, n.Network)
	}
	if !d.ip.set {
		it.IP = n.IP
	}
	if !d.net.set {
		it.Network = n.Network
	}
}

// networkHolding returns the one network whose subnet holds ip ("" if none).
func (l *loader) networkHolding(ip netip.Addr) string {
	for _, net := range l.networks {
		if net.Subnet.IsValid() && net.Subnet.Contains(ip) {
			return net.Name
		}
	}
	return ""
}

func quote(s string) string { return `"` + s + `"` }

// withInterfaceBlocks adds the interface "NAME" block to a node or
// profile schema.
func withInterfaceBlocks(s *hcl.BodySchema) *hcl.BodySchema {
	s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: "interface", LabelNames: []string{"name"}})
	return s
}
