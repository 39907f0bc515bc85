package wwimport

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gitboot/gitboot/internal/macaddr"
)

// nodeOut is one gitboot node block being built. mac, ip, the interfaces'
// ip and the BMC's address vary within a for_each run; body is the rest.
type nodeOut struct {
	name string
	src  *wwProfile
	mac  string
	ip   netip.Addr
	net  *network
	body nodeBody
}

// nodeBody is what a node block sets besides its addresses.
type nodeBody struct {
	profiles                 []string // profile block names
	image                    string   // image block name; "" leaves it to the profiles
	kernelArgs, sysOvl, rtOv *[]string
	tags                     map[string]string // keys whose value differs from the profiles'
	root                     string
	assetKey                 string
	ifaces                   []ifaceOut
	bmc                      *bmcOut
}

type ifaceOut struct {
	name, typ, mac string
	ip             netip.Addr
	net            *network
	mtu            int
	members        []string
	parent         string
	vlanID         int
}

type bmcOut struct {
	addr  string
	port  int
	creds string
}

// gbProfile is what a profile block sets, for computing what gitboot's
// merge gives a node.
type gbProfile struct {
	includes            []string
	image               string
	kernelArgs, sys, rt *[]string
	tags                map[string]string
	root                string
}

// gbMerged is a node's settings after gitboot's merge of its profiles.
type gbMerged struct {
	image               string
	kernelArgs, sys, rt []string
	tags                map[string]string
	root                string
}

// gitbootMerge merges profiles as hclspec does: included profiles first,
// each once, in order; later wins; lists replace; tags merge by key.
func (im *importer) gitbootMerge(profiles []string, gb map[string]*gbProfile) gbMerged {
	m := gbMerged{tags: map[string]string{}}
	seen := map[string]bool{}
	var walk func([]string)
	walk = func(ids []string) {
		for _, id := range ids {
			p := gb[id]
			if p == nil || seen[id] {
				continue
			}
			seen[id] = true
			walk(p.includes)
			if p.image != "" {
				m.image = p.image
			}
			if p.kernelArgs != nil {
				m.kernelArgs = *p.kernelArgs
			}
			if p.sys != nil {
				m.sys = *p.sys
			}
			if p.rt != nil {
				m.rt = *p.rt
			}
			maps.Copy(m.tags, p.tags)
			if p.root != "" {
				m.root = p.root
			}
		}
	}
	walk(profiles)
	return m
}

// overlayIDs maps Warewulf overlay names to overlay blocks, leaving out
// those gitboot replaces or the importer could not bring over.
func (im *importer) overlayIDs(names []string) []string {
	var out []string
	for _, n := range names {
		if id := im.overlays[n]; id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// profileIDs maps the profile names that exist to profile blocks.
func (im *importer) profileIDs(names []string) []string {
	var out []string
	for _, n := range names {
		if _, ok := im.conf.profiles[n]; ok {
			out = append(out, im.id("profile", n))
		}
	}
	return out
}

// convertNodes converts every node, in name order.
func (im *importer) convertNodes(gb map[string]*gbProfile) []*nodeOut {
	var out []*nodeOut
	for _, name := range sortedKeys(im.conf.nodes) {
		n := im.conf.nodes[name]
		im.reportSource(n)
		if o := im.convertNode(im.conf.resolve(n), gb); o != nil {
			out = append(out, o)
		}
	}
	return out
}

var nodeNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// convertNode converts one node with its merged profiles r. It returns nil,
// with the reason in the migration notes, when the node cannot be written:
// a bad name, no boot NIC with a MAC and IPv4 address on a known network,
// or no image.
func (im *importer) convertNode(r *resolved, gb map[string]*gbProfile) *nodeOut {
	n := r.src
	at := im.where(n, "")
	for _, p := range r.missing {
		im.mig.add(secFields, im.where(n, "profiles"), "profile "+p, "nodes.conf declares no such profile (Warewulf ignores it too); left out.")
	}
	if !nodeNameRE.MatchString(n.name) {
		im.mig.add(secNodes, at, "node name "+n.name, "gitboot node names start with a letter and hold letters, digits, '_' and '-'; rename the node.")
		return nil
	}
	mac, ip, ok := im.bootAddress(r)
	if !ok {
		return nil
	}
	pd := r.netdevs[r.primary]
	net := im.netdevNetwork(n, r.primary, pd, ip)
	if net == nil {
		return nil
	}
	if r.image == "" {
		im.mig.add(secNodes, at, "no image name", "gitboot needs an image to boot the node: add image = image.NAME to it or a profile.")
		return nil
	}
	o := &nodeOut{name: n.name, src: n, mac: mac, ip: ip, net: net}
	b := &o.body
	b.profiles = im.profileIDs(r.profiles)
	im.nodeOverrides(b, r, im.gitbootMerge(b.profiles, gb))
	b.assetKey = r.assetKey
	for _, key := range sortedKeys(r.netdevs) {
		if key != r.primary {
			if it, ok := im.convertIface(n, r, key); ok {
				b.ifaces = append(b.ifaces, it)
			}
		}
	}
	im.bootNIC(b, r, mac)
	b.bmc = im.convertBMC(r)
	return o
}

// bootAddress returns the MAC and IPv4 address of the node's primary
// network device, its boot NIC; ok is false, reported, when it has none.
func (im *importer) bootAddress(r *resolved) (mac string, ip netip.Addr, ok bool) {
	n := r.src
	if r.primary == "" {
		im.mig.add(secNodes, im.where(n, ""), "no network device", "add a node block with its boot NIC's mac and ip.")
		return "", ip, false
	}
	pd := r.netdevs[r.primary]
	pat := im.where(n, "network devices")
	mac, ok = macaddr.Canonical(pd.Hwaddr)
	if !ok {
		what := "no hwaddr"
		if pd.Hwaddr != "" {
			what = "hwaddr " + pd.Hwaddr
		}
		im.mig.add(secNodes, pat, what+" on the primary network device", "gitboot matches nodes by their boot NIC's MAC: add mac (`gitboot discover` lists the MACs that PXE-boot).")
		return "", ip, false
	}
	ip, err := netip.ParseAddr(pd.Ipaddr)
	if err != nil || !ip.Is4() {
		what := "no ipaddr"
		if pd.Ipaddr != "" {
			what = "ipaddr " + pd.Ipaddr
		}
		im.mig.add(secNodes, pat, what+" on the primary network device", "gitboot gives each node a reserved IPv4 address: add ip.")
		return "", ip, false
	}
	return mac, ip, true
}

// nodeOverrides sets in b what the node's Warewulf merge r gives that the
// gitboot merge of its profiles g does not: image, kernel arguments,
// overlays, tags and root. A tag g sets that r leaves out cannot be
// expressed and is reported.
func (im *importer) nodeOverrides(b *nodeBody, r *resolved, g gbMerged) {
	if id := im.imageID(r.image); id != g.image {
		b.image = id
	}
	want := func(list []string, got []string) *[]string {
		if slices.Equal(list, got) || len(list) == 0 && len(got) == 0 {
			return nil
		}
		l := slices.Clone(list)
		return &l
	}
	b.kernelArgs = want(r.kernelArgs, g.kernelArgs)
	b.sysOvl = want(im.overlayIDs(r.sysOvl), g.sys)
	b.rtOv = want(im.overlayIDs(r.rtOvl), g.rt)
	for k, v := range r.tags {
		if g.tags[k] != v {
			if b.tags == nil {
				b.tags = map[string]string{}
			}
			b.tags[k] = v
		}
	}
	for k := range g.tags {
		if _, ok := r.tags[k]; !ok {
			im.mig.add(secFields, im.where(r.src, ""), "tag "+k, "a profile gitboot applies sets it, but Warewulf's merge leaves it out for this node; remove it by hand.")
		}
	}
	root, groot := "initramfs", "initramfs"
	if r.root == "tmpfs" {
		root = "tmpfs"
	}
	if g.root != "" {
		groot = g.root
	}
	if root != groot {
		b.root = root
	}
}

// bootNIC adds, first in b's interfaces, the block the boot NIC (MAC mac)
// needs to carry its MTU, and reports what of the primary device cannot be
// converted.
func (im *importer) bootNIC(b *nodeBody, r *resolved, mac string) {
	pd := r.netdevs[r.primary]
	pat := im.where(r.src, "network devices")
	if pd.MTU != "" {
		// The boot NIC needs an interface block, named, to carry its MTU.
		mtu, err := strconv.Atoi(pd.MTU)
		if err == nil && ifaceNameRE.MatchString(pd.Device) && mtu >= 68 && mtu <= 65535 {
			b.ifaces = append([]ifaceOut{{name: pd.Device, typ: "ethernet", mac: mac, mtu: mtu}}, b.ifaces...)
		} else {
			im.mig.add(secFields, pat, "mtu "+pd.MTU+" of network device "+r.primary, "the boot NIC's MTU needs an interface block with its Linux name (device) and an MTU from 68 to 65535; add interface \"NAME\" { type = \"ethernet\", mac = \""+mac+"\", mtu = ... }.")
		}
	}
	if t := strings.ToLower(pd.Type); t != "" && t != "ethernet" {
		im.mig.add(secFields, pat, "primary network device of type "+pd.Type, "gitboot boots nodes over ethernet (PXE); the node's mac and ip are this device's: check they are the boot NIC's.")
	}
}

// netdevNetwork returns the network of a device's address (nil, reported,
// when its netmask is unknown), and records its gateway and DNS tags.
func (im *importer) netdevNetwork(n *wwProfile, key string, d *wwNetDev, ip netip.Addr) *network {
	mask := d.Netmask
	if mask == "" {
		for _, nw := range im.networks {
			if nw.subnet.Contains(ip) {
				mask = strconv.Itoa(nw.subnet.Bits())
			}
		}
	}
	if mask == "" && im.server != nil && im.server.Netmask != "" {
		if sip, err := netip.ParseAddr(im.server.Ipaddr); err == nil {
			if bits, err := maskBits(im.server.Netmask); err == nil && netip.PrefixFrom(sip, bits).Masked().Contains(ip) {
				mask = im.server.Netmask
			}
		}
	}
	at := im.where(n, "network devices")
	if mask == "" {
		im.mig.add(secNodes, at, "network device "+key+" without netmask", "no netmask on the device, its profiles or warewulf.conf: add netmask.")
		return nil
	}
	nw, err := im.networkFor(ip, mask, key)
	if err != nil {
		im.mig.add(secNodes, at, "network device "+key, err.Error()+": fix the netmask.")
		return nil
	}
	if gw, err := netip.ParseAddr(d.Gateway); err == nil && gw.Is4() && nw.subnet.Contains(gw) {
		if !nw.gateway.IsValid() {
			nw.gateway = gw
		} else if nw.gateway != gw {
			im.mig.add(secFields, at, "gateway "+d.Gateway, fmt.Sprintf("network %s already has gateway %s (one gateway per network in gitboot); set it by hand if this node needs another.", nw.id, nw.gateway))
		}
	}
	for _, t := range []string{"DNS", "DNS1", "DNS2", "DNS3"} {
		if v, ok := d.Tags[t]; ok {
			if a, err := netip.ParseAddr(v); err == nil && a.Is4() && !slices.Contains(nw.dns, v) {
				nw.dns = append(nw.dns, v)
			}
		}
	}
	if v := strings.Fields(d.Tags["DNSSEARCH"]); len(v) > 0 && nw.domain == "" {
		nw.domain = v[0]
	}
	if d.Ipaddr6 != "" {
		im.mig.add(secFields, at, "ipaddr6 of network device "+key, "gitboot networks are IPv4; configure IPv6 in an overlay (or by router advertisements).")
	}
	if d.OnBoot != "" && d.OnBoot != "true" {
		im.mig.add(secFields, at, "onboot of network device "+key, "gitboot brings every declared interface up; leave the device out of the node if it must stay down.")
	}
	return nw
}

var ifaceNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,14}$`)

// knownNetdevTags are the device tags the importer maps.
var knownNetdevTags = map[string]bool{"DNS": true, "DNS1": true, "DNS2": true, "DNS3": true, "DNSSEARCH": true,
	"master": true, "parent_device": true, "vlan_id": true}

// convertIface converts a network device other than the primary one into
// an interface block.
func (im *importer) convertIface(n *wwProfile, r *resolved, key string) (ifaceOut, bool) {
	d := r.netdevs[key]
	at := im.where(n, "network devices")
	it := ifaceOut{name: d.Device}
	if it.name == "" {
		it.name = key
	}
	what := "network device " + key
	if !ifaceNameRE.MatchString(it.name) {
		im.mig.add(secFields, at, what, fmt.Sprintf("%q is not a Linux interface name; add an interface block by hand.", it.name))
		return it, false
	}
	switch t := strings.ToLower(d.Type); t {
	case "", "ethernet":
		it.typ = "ethernet"
	case "infiniband", "bond", "vlan":
		it.typ = t
	default:
		im.mig.add(secFields, at, what+" of type "+d.Type, "gitboot interfaces are ethernet, infiniband, bond or vlan; add it by hand.")
		return it, false
	}
	if !im.ifaceHwaddr(&it, d, at, what) {
		return it, false
	}
	if d.Ipaddr != "" {
		ip, err := netip.ParseAddr(d.Ipaddr)
		if err != nil || !ip.Is4() {
			im.mig.add(secFields, at, what+" ipaddr "+d.Ipaddr, "not an IPv4 address; the interface is imported without it.")
		} else if nw := im.netdevNetwork(n, key, d, ip); nw != nil {
			it.ip, it.net = ip, nw
		}
	} else if d.Ipaddr6 != "" {
		im.mig.add(secFields, at, "ipaddr6 of network device "+key, "gitboot networks are IPv4; configure IPv6 in an overlay.")
	}
	if d.MTU != "" {
		if v, err := strconv.Atoi(d.MTU); err == nil && v >= 68 && v <= 65535 {
			it.mtu = v
		} else {
			im.mig.add(secFields, at, what+" mtu "+d.MTU, "not an MTU from 68 to 65535; left out.")
		}
	}
	if !im.ifaceLinks(&it, r, d, at, what) {
		return it, false
	}
	for _, t := range sortedKeys(d.Tags) {
		if !knownNetdevTags[t] {
			im.mig.add(secFields, at, "tag "+t+" of network device "+key, "device tags are template data in Warewulf; gitboot templates see node tags: move it to tags if a template needs it.")
		}
	}
	return it, true
}

// ifaceHwaddr sets it.mac from the device's hwaddr (an IPoIB address for
// infiniband). It reports false, noted, when the address is bad, or missing
// on a type matched by it (ethernet, infiniband).
func (im *importer) ifaceHwaddr(it *ifaceOut, d *wwNetDev, at, what string) bool {
	if d.Hwaddr != "" {
		if it.typ == "infiniband" {
			it.mac = strings.ToLower(strings.ReplaceAll(d.Hwaddr, "-", ":"))
			if len(it.mac) != 59 {
				im.mig.add(secFields, at, what+" hwaddr "+d.Hwaddr, "an InfiniBand interface's mac is its 20-octet IPoIB hardware address (ip link show); fix it and add the interface.")
				return false
			}
		} else if m, ok := macaddr.Canonical(d.Hwaddr); ok {
			it.mac = m
		} else {
			im.mig.add(secFields, at, what+" hwaddr "+d.Hwaddr, "not a MAC address; fix it and add the interface.")
			return false
		}
	} else if it.typ == "ethernet" || it.typ == "infiniband" {
		im.mig.add(secFields, at, what+" without hwaddr", "gitboot matches an "+it.typ+" interface by its hardware address: add mac to an interface \""+it.name+"\" block.")
		return false
	}
	return true
}

// ifaceLinks sets what a vlan (parent and id) or bond (members: the
// devices tagged with it as master) needs; false, noted, when it is
// missing.
func (im *importer) ifaceLinks(it *ifaceOut, r *resolved, d *wwNetDev, at, what string) bool {
	switch it.typ {
	case "vlan":
		it.parent, it.vlanID = d.Tags["parent_device"], atoiOr0(d.Tags["vlan_id"])
		if p, id, ok := strings.Cut(it.name, "."); ok && it.parent == "" && it.vlanID == 0 {
			it.parent, it.vlanID = p, atoiOr0(id)
		}
		if it.parent == "" || it.vlanID < 1 || it.vlanID > 4094 {
			im.mig.add(secFields, at, what, "a vlan needs its parent device and id (tags parent_device and vlan_id, or a device named PARENT.ID); add it by hand.")
			return false
		}
	case "bond":
		for _, k := range sortedKeys(r.netdevs) {
			if m := r.netdevs[k]; m.Tags["master"] == it.name {
				name := m.Device
				if name == "" {
					name = k
				}
				it.members = append(it.members, name)
			}
		}
		if len(it.members) == 0 {
			im.mig.add(secFields, at, what, "a bond needs members (devices tagged master: "+it.name+"); add them by hand.")
			return false
		}
	}
	return true
}

func atoiOr0(s string) int {
	v, _ := strconv.Atoi(s)
	return v
}

// convertBMC converts the node's IPMI settings into a bmc block; the user
// name and password go to the credentials file.
func (im *importer) convertBMC(r *resolved) *bmcOut {
	i := r.ipmi
	if i.Ipaddr == "" {
		return nil
	}
	b := &bmcOut{addr: i.Ipaddr}
	if i.Port != "" && i.Port != "623" {
		if p, err := strconv.Atoi(i.Port); err == nil && p > 0 && p < 65536 {
			b.port = p
		}
	}
	at := im.where(r.src, "ipmi")
	switch {
	case i.UserName == "" && i.Password == "":
		im.mig.add(secFields, at, "ipmi without username and password", "gitboot power needs credentials: add a credentials block to the server's credentials file and name it in the bmc block.")
	case i.UserName == "":
		im.mig.add(secFields, at, "ipmi password without username", "fill in username in the credentials file beside the repository (gitboot power refuses an empty one).")
	}
	if i.UserName != "" || i.Password != "" {
		origin := r.ipmiOrigin
		if origin == "" {
			origin = "ipmi"
		}
		b.creds = im.idFor("credentials", i.UserName+"\x00"+i.Password, origin)
		im.creds[b.creds] = [2]string{i.UserName, i.Password}
	}
	return b
}
