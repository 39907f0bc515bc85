package wwimport

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// minRun is the fewest alike nodes written as one for_each block.
const minRun = 4

// run is a for_each block: nodes alike but for their number and addresses,
// named format(prefix+"%0Wd"+suffix, first+i).
type run struct {
	nodes          []*nodeOut
	format         string // the name format, fmt style
	first          int
	label, macFile string
}

var numberedRE = regexp.MustCompile(`^(.*?)([0-9]+)([^0-9]*)$`)

// signature is everything of a node but its name, MAC and addresses (their
// networks count): nodes with one signature can share a block.
func signature(o *nodeOut) string {
	b := &o.body
	var s strings.Builder
	list := func(l *[]string) string {
		if l == nil {
			return "-"
		}
		return strings.Join(*l, ",")
	}
	fmt.Fprintf(&s, "%s|%v|%s|%s|%s|%s|%v|%s|%q|", o.net.id, b.profiles, b.image, list(b.kernelArgs), list(b.sysOvl), list(b.rtOv), b.tags, b.root, b.assetKey)
	for _, it := range b.ifaces {
		nid := ""
		if it.net != nil {
			nid = it.net.id
		}
		fmt.Fprintf(&s, "if %s %s %q %v %s %d %v %s %d|", it.name, it.typ, it.mac, it.ip.IsValid(), nid, it.mtu, it.members, it.parent, it.vlanID)
	}
	if b.bmc != nil {
		_, err := netip.ParseAddr(b.bmc.addr)
		fmt.Fprintf(&s, "bmc %v %d %s", err == nil, b.bmc.port, b.bmc.creds)
	}
	return s.String()
}

// next reports whether b follows a in a run: every address one more.
func next(a, b *nodeOut) bool {
	if a.ip.Next() != b.ip {
		return false
	}
	for i := range a.body.ifaces {
		x, y := a.body.ifaces[i].ip, b.body.ifaces[i].ip
		if x.IsValid() && x.Next() != y {
			return false
		}
		if x.IsValid() && b.body.ifaces[i].mac != "" {
			return false // a MAC of its own: not in the MAC file
		}
	}
	if a.body.bmc != nil {
		x, err1 := netip.ParseAddr(a.body.bmc.addr)
		y, err2 := netip.ParseAddr(b.body.bmc.addr)
		if err1 != nil || err2 != nil || x.Next() != y {
			return false
		}
	}
	return true
}

// findRuns splits nodes into runs of at least minRun and single nodes.
func findRuns(nodes []*nodeOut) (runs []*run, single []*nodeOut) {
	type key struct{ prefix, suffix, sig string }
	type member struct {
		n   *nodeOut
		num int
		dig string
	}
	groups := map[key][]member{}
	var order []key
	for _, n := range nodes {
		m := numberedRE.FindStringSubmatch(n.name)
		if m == nil || len(m[2]) > 9 {
			single = append(single, n)
			continue
		}
		num, _ := strconv.Atoi(m[2])
		k := key{m[1], m[3], signature(n)}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], member{n, num, m[2]})
	}
	for _, k := range order {
		ms := groups[k]
		sort.Slice(ms, func(i, j int) bool { return ms[i].num < ms[j].num })
		for i := 0; i < len(ms); {
			// The first number's digits give the width: "%03d" for n001 and
			// n151 alike; "%01d" still gives n10 after n9.
			format := strings.ReplaceAll(k.prefix, "%", "%%") + "%0" + strconv.Itoa(len(ms[i].dig)) + "d" + strings.ReplaceAll(k.suffix, "%", "%%")
			j := i + 1
			for j < len(ms) && ms[j].num == ms[j-1].num+1 && fmt.Sprintf(format, ms[j].num) == ms[j].n.name && next(ms[j-1].n, ms[j].n) {
				j++
			}
			if j-i >= minRun && fmt.Sprintf(format, ms[i].num) == ms[i].n.name {
				r := &run{format: format, first: ms[i].num}
				for _, m := range ms[i:j] {
					r.nodes = append(r.nodes, m.n)
				}
				r.label = r.nodes[0].name + "_" + r.nodes[len(r.nodes)-1].name
				r.macFile = "macs/" + r.nodes[0].name + "-" + r.nodes[len(r.nodes)-1].name + ".macs"
				runs = append(runs, r)
			} else {
				for _, m := range ms[i:j] {
					single = append(single, m.n)
				}
			}
			i = j
		}
	}
	return runs, single
}

// hostnum is ip's number inside prefix p.
func hostnum(p netip.Prefix, ip netip.Addr) uint32 {
	a, b := p.Masked().Addr().As4(), ip.As4()
	return be32(b) - be32(a)
}

func be32(b [4]byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// spanPrefix is a prefix holding first and last: a /24 when they share one.
func spanPrefix(first, last netip.Addr) netip.Prefix {
	x := be32(first.As4()) ^ be32(last.As4())
	bits := 0
	for bits < 32 && x&(1<<(31-bits)) == 0 {
		bits++
	}
	bits = min(bits, 24)
	return netip.PrefixFrom(first, bits).Masked()
}

// cidrExpr is `cidrhost("P", N + each.value.i)`.
func cidrExpr(p netip.Prefix, first netip.Addr) hclwrite.Tokens {
	return expr(fmt.Sprintf("cidrhost(%q, %d + each.value.i)", p.String(), hostnum(p, first)))
}

// writeNodes writes nodes.hcl and the runs' MAC files.
func (im *importer) writeNodes(nodes []*nodeOut) error {
	runs, single := findRuns(nodes)
	type item struct {
		name string
		r    *run
		n    *nodeOut
	}
	var items []item
	for _, r := range runs {
		items = append(items, item{r.nodes[0].name, r, nil})
	}
	for _, n := range single {
		items = append(items, item{n.name, nil, n})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].name < items[j].name })
	f := hclwrite.NewEmptyFile()
	for _, it := range items {
		if it.r != nil {
			im.writeRun(f.Body(), it.r)
		} else {
			b := f.Body().AppendNewBlock("node", []string{it.n.name}).Body()
			b.SetAttributeValue("mac", cty.StringVal(it.n.mac))
			b.SetAttributeValue("ip", cty.StringVal(it.n.ip.String()))
			im.nodeBody(b, it.n, nil)
			im.report.Nodes++
		}
		f.Body().AppendNewline()
	}
	return im.out.hcl("nodes.hcl", "# Warewulf's nodes. A run of nodes that differ only by number, MAC and\n# address is one for_each block over a MAC file in macs/, in rack order.\n\n", f)
}

func (im *importer) writeRun(body *hclwrite.Body, r *run) {
	first, last := r.nodes[0], r.nodes[len(r.nodes)-1]
	var macs strings.Builder
	fmt.Fprintf(&macs, "# Boot NIC MACs of %s to %s, one per node in name (rack) order; written by gitboot import warewulf.\n", first.name, last.name)
	for _, n := range r.nodes {
		macs.WriteString(n.mac + "\n")
	}
	im.out.files[r.macFile] = []byte(macs.String())
	m1, m2 := numberedRE.FindStringSubmatch(first.name), numberedRE.FindStringSubmatch(last.name)
	body.AppendUnstructuredTokens(commentTokens(fmt.Sprintf("%s to %s (hostlist \"%s[%s-%s]%s\"): %d nodes alike but for their number, MAC and addresses.",
		first.name, last.name, m1[1], m1[2], m2[2], m1[3], len(r.nodes))))
	b := body.AppendNewBlock("node", []string{r.label}).Body()
	b.SetAttributeRaw("for_each", expr(fmt.Sprintf(
		`{ for i, mac in [for l in split("\n", file(%q)) : trimspace(l) if trimspace(l) != "" && !startswith(trimspace(l), "#")] : format(%q, %d + i) => { i = i, mac = mac } }`,
		r.macFile, r.format, r.first)))
	b.SetAttributeRaw("mac", expr("each.value.mac"))
	b.SetAttributeRaw("ip", cidrExpr(first.net.subnet, first.ip))
	im.nodeBody(b, first, r)
	im.report.Nodes += len(r.nodes)
	im.report.ForEach++
}

// nodeBody writes what a node block sets besides mac and ip; with r, the
// addresses that vary are expressions of each.value.i.
func (im *importer) nodeBody(b *hclwrite.Body, n *nodeOut, r *run) {
	nb := &n.body
	if len(nb.profiles) > 0 {
		b.SetAttributeRaw("profiles", refList("profile", nb.profiles))
	}
	if nb.image != "" {
		b.SetAttributeRaw("image", expr("image."+nb.image))
	}
	if nb.kernelArgs != nil {
		b.SetAttributeValue("kernel_args", strList(*nb.kernelArgs))
	}
	if nb.sysOvl != nil {
		b.SetAttributeRaw("system_overlays", refList("overlay", *nb.sysOvl))
	}
	if nb.rtOv != nil {
		b.SetAttributeRaw("runtime_overlays", refList("overlay", *nb.rtOv))
	}
	if len(nb.tags) > 0 {
		b.SetAttributeValue("tags", strMap(nb.tags))
	}
	if nb.root != "" {
		b.SetAttributeValue("root", cty.StringVal(nb.root))
	}
	if nb.assetKey != "" {
		b.SetAttributeValue("asset_key", cty.StringVal(nb.assetKey))
	}
	for k, it := range nb.ifaces {
		ib := b.AppendNewBlock("interface", []string{it.name}).Body()
		ib.SetAttributeValue("type", cty.StringVal(it.typ))
		if it.mac != "" {
			ib.SetAttributeValue("mac", cty.StringVal(it.mac))
		}
		if it.ip.IsValid() {
			if r != nil {
				ib.SetAttributeRaw("ip", cidrExpr(it.net.subnet, r.nodes[0].body.ifaces[k].ip))
			} else {
				ib.SetAttributeValue("ip", cty.StringVal(it.ip.String()))
			}
			ib.SetAttributeRaw("network", expr("network."+it.net.id))
		}
		if it.mtu != 0 {
			ib.SetAttributeValue("mtu", cty.NumberIntVal(int64(it.mtu)))
		}
		if len(it.members) > 0 {
			ib.SetAttributeValue("members", strList(it.members))
		}
		if it.parent != "" {
			ib.SetAttributeValue("parent", cty.StringVal(it.parent))
			ib.SetAttributeValue("vlan_id", cty.NumberIntVal(int64(it.vlanID)))
		}
	}
	if bm := nb.bmc; bm != nil {
		bb := b.AppendNewBlock("bmc", nil).Body()
		bb.SetAttributeValue("driver", cty.StringVal("ipmi"))
		if r != nil {
			first, _ := netip.ParseAddr(r.nodes[0].body.bmc.addr)
			last, _ := netip.ParseAddr(r.nodes[len(r.nodes)-1].body.bmc.addr)
			bb.SetAttributeRaw("address", cidrExpr(spanPrefix(first, last), first))
		} else {
			bb.SetAttributeValue("address", cty.StringVal(bm.addr))
		}
		if bm.port != 0 {
			bb.SetAttributeValue("port", cty.NumberIntVal(int64(bm.port)))
		}
		if bm.creds != "" {
			bb.SetAttributeValue("credentials", cty.StringVal(bm.creds))
		}
	}
}
