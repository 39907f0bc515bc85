package hclspec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gitboot/gitboot/internal/macaddr"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// setting is one attribute value with where it was set.
type setting[T any] struct {
	v      T
	rng    hcl.Range
	set    bool
	broken bool // present but invalid (already reported)
}

// settings are the attributes a profile and a node share.
type settings struct {
	image, network                 setting[string]
	assetKey                       setting[string] // the sha256 of asset_key, "sha256:<hex>"
	kernelArgs, sysOvl, runtimeOvl setting[[]string]
	root, rootSize                 setting[string] // root.go
	tags                           map[string]setting[string]
	resources                      setting[Resources] // resources.go
	profiles                       []string
	profileRanges                  hcl.Range
	profilesBroken                 bool // profiles present but invalid (already reported)
	bmc                            bmcSettings
	netConfig                      setting[string]
	users                          setting[[]string] // users.go
	ifaces                         []ifaceDef        // interface blocks (interfaces.go)
}

type profileDef struct {
	name  string
	rng   hcl.Range
	s     settings
	order int
}

var profileAttrs = []string{"profiles", "image", "network", "kernel_args", "system_overlays", "runtime_overlays", "tags", "resources", "asset_key", "root", "root_size", "users"}

var profileSchema = withBMC(withInterfaceBlocks(schema(append([]string{"network_config"}, profileAttrs...)...)))

var nodeSchema = withBMC(withInterfaceBlocks(schema(append([]string{"mac", "ip", "for_each", "network_config"}, profileAttrs...)...)))

// decodeSettings reads the shared attributes from a.
func decodeSettings(a *attrs) settings {
	var s settings
	if v, at, ok := a.refList("profiles", "profile"); ok {
		s.profiles, s.profileRanges = v, at.Expr.Range()
	} else if at != nil {
		s.profilesBroken = true
	}
	if v, at, ok := a.ref("image", "image"); ok {
		s.image = setting[string]{v: v, rng: at.Expr.Range(), set: true}
	} else if at != nil {
		s.image.broken = true
	}
	if v, at, ok := a.ref("network", "network"); ok {
		s.network = setting[string]{v: v, rng: at.Expr.Range(), set: true}
	} else if at != nil {
		s.network.broken = true
	}
	if v, at, ok := a.strList("kernel_args"); ok {
		s.kernelArgs = setting[[]string]{v: v, rng: at.Expr.Range(), set: true}
	}
	if v, at, ok := a.refList("system_overlays", "overlay"); ok {
		s.sysOvl = setting[[]string]{v: v, rng: at.Expr.Range(), set: true}
	}
	if v, at, ok := a.strList("users"); ok {
		s.users = setting[[]string]{v: v, rng: at.Expr.Range(), set: true}
	}
	if v, at, ok := a.refList("runtime_overlays", "overlay"); ok {
		s.runtimeOvl = setting[[]string]{v: v, rng: at.Expr.Range(), set: true}
	} else if at != nil {
		s.runtimeOvl.broken = true
	}
	if v, at, ok := a.str("asset_key"); ok {
		if sum, ok := a.l.assetKey(at, v); ok {
			s.assetKey = setting[string]{v: sum, rng: at.Expr.Range(), set: true}
		}
	}
	decodeRoot(a, &s)
	if v, at, ok := a.strMap("tags"); ok {
		s.tags = make(map[string]setting[string], len(v))
		for k, val := range v {
			s.tags[k] = setting[string]{v: val, rng: at.Expr.Range(), set: true}
		}
	}
	decodeResources(a, &s)
	s.bmc = decodeBMC(a)
	s.netConfig = checkNetworkConfig(a)
	s.ifaces = decodeInterfaces(a)
	return s
}

func (l *loader) decodeProfile(b rawBlock) {
	a := l.body(b, profileSchema, false)
	l.profiles = append(l.profiles, &profileDef{name: b.name, rng: b.block.DefRange, s: decodeSettings(a), order: len(l.profiles)})
}

func (l *loader) profileList() []*Profile {
	out := make([]*Profile, 0, len(l.profiles))
	for _, p := range l.profiles {
		out = append(out, &Profile{Name: p.name, Profiles: p.s.profiles, Range: p.rng})
	}
	return out
}

// nodeDef is a merged node and what validation needs to know of its
// attributes.
type nodeDef struct {
	node   *Node
	broken brokenAttrs
	ifaces []ifaceDef // its merged interface blocks, for checkInterfaceAddrs
}

// brokenAttrs are merged attributes whose value was invalid (and
// reported), so later checks do not report them again as missing.
type brokenAttrs struct {
	image, network, runtimeOverlays bool
}

// decodeNode decodes a node block, once per for_each element if it has one.
func (l *loader) decodeNode(b rawBlock) {
	content, diags := b.block.Body.Content(nodeSchema)
	l.diags = append(l.diags, diags...)
	fe, hasForEach := content.Attributes["for_each"]
	if !hasForEach {
		if !validName(b.name) {
			l.errorf(b.block.LabelRanges[0].Ptr(), "Invalid node name",
				"Node name %q must start with a letter and hold only letters, digits, '_' and '-'.", b.name)
			return
		}
		a := &attrs{l: l, content: content, ctx: l.ctx, what: fmt.Sprintf("node %q", b.name)}
		l.addNode(b, a, b.name, b.block.LabelRanges[0])
		return
	}
	if !l.checkRefs(fe.Expr, false) {
		return
	}
	v, diags := fe.Expr.Value(l.ctx)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return
	}
	feAttrs := &attrs{l: l, content: content, ctx: l.ctx, what: fmt.Sprintf("node %q", b.name)}
	if v.IsNull() || !v.IsWhollyKnown() {
		feAttrs.valueErr(fe, "Invalid for_each", "for_each must be a known map or set of strings.")
		return
	}
	ty := v.Type()
	isMap := ty.IsMapType() || ty.IsObjectType()
	if !isMap && !(ty.IsSetType() || ty.IsListType() || ty.IsTupleType()) {
		feAttrs.valueErr(fe, "Invalid for_each", "for_each must be a map or a set (or list) of strings, not %s.", ty.FriendlyName())
		return
	}
	seen := map[string]bool{}
	for i, it := 0, v.ElementIterator(); it.Next(); i++ {
		if i%cancelCheckEvery == 0 && l.stopped() {
			return
		}
		k, e := it.Element()
		var key string
		if isMap {
			key = k.AsString()
		} else {
			if e.IsNull() || e.Type() != cty.String {
				feAttrs.valueErr(fe, "Invalid for_each", "A for_each list or set must hold strings (the node names); use a map to pass more.")
				return
			}
			key = e.AsString()
			if seen[key] {
				feAttrs.valueErr(fe, "Duplicate node name", "for_each yields the name %q twice.", key)
				continue
			}
			seen[key] = true
		}
		if !validName(key) {
			feAttrs.valueErr(fe, "Invalid node name", "for_each yields the node name %q; names must start with a letter and hold only letters, digits, '_' and '-'.", key)
			continue
		}
		ctx := l.ctx.NewChild()
		ctx.Variables = map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(key), "value": e})}
		a := &attrs{l: l, content: content, ctx: ctx, eachOK: true, what: fmt.Sprintf("node %q", key)}
		l.addNode(b, a, key, fe.Expr.Range())
		if len(l.nodes) > MaxNodes {
			return
		}
	}
}

func (l *loader) addNode(b rawBlock, a *attrs, name string, nameRange hcl.Range) {
	n := &Node{Name: name, Range: nameRange, Origins: make(map[string]hcl.Range, 8)}
	if _, ok := a.get("mac"); !ok {
		l.errorf(b.block.Body.MissingItemRange().Ptr(), "Missing required argument", "Node %q needs mac.", name)
	} else if v, at, ok := a.str("mac"); ok {
		if mac, ok := macaddr.Canonical(v); ok {
			n.MAC = mac
			n.Origins["mac"] = at.Expr.Range()
		} else {
			a.valueErr(at, "Invalid MAC address", "mac of node %q must be six hex bytes such as \"52:54:00:00:00:01\" (also accepted: dashes, or the dotted 5254.0000.0001 form), not %q.", name, v)
		}
	}
	if _, ok := a.get("ip"); !ok {
		l.errorf(b.block.Body.MissingItemRange().Ptr(), "Missing required argument", "Node %q needs ip.", name)
	} else if v, at, ok := a.str("ip"); ok {
		if ip, ok := a.ipv4(at, "ip", v); ok {
			n.IP = ip
			n.Origins["ip"] = at.Expr.Range()
		}
	}
	// Merge at once: the settings of 100,000 nodes waiting to be merged
	// would cost some 70 MB.
	broken, ifaces := l.mergeNode(n, decodeSettings(a))
	l.nodeDefs = append(l.nodeDefs, nodeDef{node: n, broken: broken, ifaces: ifaces})
	l.nodes = append(l.nodes, n)
}

// checkProfileCycles reports a profile that includes itself, directly or
// through others, at the include that closes the cycle.
func (l *loader) checkProfileCycles() {
	byName := map[string]*profileDef{}
	for _, p := range l.profiles {
		byName[p.name] = p
	}
	state := map[string]int{}
	var visit func(p *profileDef, path []string) bool
	visit = func(p *profileDef, path []string) bool {
		switch state[p.name] {
		case 2:
			return true
		case 1:
			return false
		}
		state[p.name] = 1
		for _, inc := range p.s.profiles {
			q := byName[inc]
			if q == nil {
				continue
			}
			if state[inc] == 1 {
				cycle := append(path[slices.Index(path, inc):], p.name, inc)
				l.errorf(p.s.profileRanges.Ptr(), "Profile include cycle",
					"Profiles include each other in a loop: %s.", joinArrow("profile.", cycle))
				state[p.name] = 2
				return false
			}
			if !visit(q, append(path, p.name)) {
				state[p.name] = 2
				return false
			}
		}
		state[p.name] = 2
		return true
	}
	for _, p := range l.profiles {
		visit(p, nil)
	}
}

func joinArrow(prefix string, names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += " -> "
		}
		out += prefix + n
	}
	return out
}

// mergeNode applies n's profiles (included profiles first, each once, in
// order; later wins) and then the node's own attributes s. Maps merge key
// by key; lists replace. Profiles are decoded before nodes.
func (l *loader) mergeNode(n *Node, s settings) (brokenAttrs, []ifaceDef) {
	if l.profileByName == nil {
		l.profileByName = make(map[string]*profileDef, len(l.profiles))
		for _, p := range l.profiles {
			l.profileByName[p.name] = p
		}
	}
	var order []*profileDef
	var applied map[string]bool
	var expand func(names []string)
	expand = func(names []string) {
		for _, name := range names {
			p := l.profileByName[name]
			if p == nil || applied[name] {
				continue
			}
			if applied == nil {
				applied = map[string]bool{}
			}
			applied[name] = true
			expand(p.s.profiles)
			order = append(order, p)
		}
	}
	expand(s.profiles)
	var m settings
	for _, p := range order {
		m.apply(p.s)
	}
	m.apply(s)
	pb := s.profilesBroken
	for _, p := range order {
		pb = pb || p.s.profilesBroken
	}
	broken := brokenAttrs{image: m.image.broken || pb, network: m.network.broken || pb, runtimeOverlays: m.runtimeOvl.broken || pb}
	n.Profiles = s.profiles
	if s.profileRanges != (hcl.Range{}) {
		n.Origins["profiles"] = s.profileRanges
	}
	setOrigin(n, "image", m.image, func(v string) { n.Image = v })
	setOrigin(n, "network", m.network, func(v string) { n.Network = v })
	setOrigin(n, "kernel_args", m.kernelArgs, func(v []string) { n.KernelArgs = v })
	setOrigin(n, "system_overlays", m.sysOvl, func(v []string) { n.SystemOverlays = v })
	setOrigin(n, "runtime_overlays", m.runtimeOvl, func(v []string) { n.RuntimeOverlays = v })
	setOrigin(n, "asset_key", m.assetKey, func(v string) { n.AssetKeySHA256 = v })
	l.mergeBMC(n, m.bmc)
	mergeRoot(n, &m)
	setOrigin(n, "network_config", m.netConfig, func(v string) { n.NetworkConfig = v })
	setOrigin(n, "users", m.users, func(v []string) { n.Users = v })
	if len(m.tags) > 0 {
		n.Tags = make(map[string]string, len(m.tags))
		for k, t := range m.tags {
			n.Tags[k] = t.v
			n.Origins["tags."+k] = t.rng
		}
	}
	setOrigin(n, "resources", m.resources, func(v Resources) { n.Resources = v })
	if n.Network == "" && n.IP.IsValid() {
		// No network given: take the one network whose subnet holds the IP.
		for _, net := range l.networks {
			if net.Subnet.IsValid() && net.Subnet.Contains(n.IP) {
				n.Network = net.Name
				n.Origins["network"] = n.Origins["ip"]
				break
			}
		}
	}
	l.resolveInterfaces(n, m.ifaces)
	l.shared.intern(n)
	return broken, m.ifaces
}

// sharedMaps lets consecutive nodes with equal Origins (or Tags) share one
// map: the nodes of one for_each block usually have the same (their
// attributes are the same expressions), and 100,000 copies of the same
// map cost some 100 MB for as long as the cluster lives. A Cluster is
// immutable, so sharing is safe.
type sharedMaps struct {
	origins map[string]hcl.Range
	tags    map[string]string
}

func (s *sharedMaps) intern(n *Node) {
	if s.origins != nil && maps.Equal(s.origins, n.Origins) {
		n.Origins = s.origins
	} else {
		s.origins = n.Origins
	}
	if n.Tags != nil && s.tags != nil && maps.Equal(s.tags, n.Tags) {
		n.Tags = s.tags
	} else if n.Tags != nil {
		s.tags = n.Tags
	}
}

func setOrigin[T any](n *Node, name string, s setting[T], set func(T)) {
	if s.set {
		set(s.v)
		n.Origins[name] = s.rng
	}
}

func (m *settings) apply(o settings) {
	if o.image.set || o.image.broken {
		m.image = o.image
	}
	if o.network.set || o.network.broken {
		m.network = o.network
	}
	if o.kernelArgs.set {
		m.kernelArgs = o.kernelArgs
	}
	if o.users.set {
		m.users = o.users
	}
	if o.assetKey.set {
		m.assetKey = o.assetKey
	}
	if o.sysOvl.set {
		m.sysOvl = o.sysOvl
	}
	if o.runtimeOvl.set || o.runtimeOvl.broken {
		m.runtimeOvl = o.runtimeOvl
	}
	m.applyRoot(o)
	if len(o.tags) > 0 && m.tags == nil {
		m.tags = map[string]setting[string]{}
	}
	for k, v := range o.tags {
		m.tags[k] = v
	}
	if o.resources.set {
		m.resources = setting[Resources]{v: mergeResources(m.resources.v, o.resources.v), rng: o.resources.rng, set: true}
	}
	m.bmc.apply(o.bmc)
	if o.netConfig.set || o.netConfig.broken {
		m.netConfig = o.netConfig
	}
	if len(o.ifaces) > 0 {
		m.ifaces = mergeInterfaces(m.ifaces, o.ifaces)
	}
}

// MaxAssetKey bounds the length of asset_key (a DMI chassis asset tag is at
// most 64 bytes on most boards; the header it travels in stays small).
const MaxAssetKey = 256

// assetKey checks an asset_key value and returns its "sha256:<hex>": the
// key itself goes no further than this function, so no model, plan,
// inventory or log can show it. It travels in an HTTP header
// (X-Gitboot-Asset-Key), whose value cannot hold control characters and
// loses leading and trailing blanks, so such a key could never match. The
// diagnostics name the attribute, never the value.
func (l *loader) assetKey(at *hcl.Attribute, v string) (string, bool) {
	rng := at.Expr.Range()
	bad := func(why string) (string, bool) {
		l.errorf(&rng, "Invalid asset_key", "asset_key %s (it is sent in the X-Gitboot-Asset-Key HTTP header; the value is not shown here).", why)
		return "", false
	}
	switch {
	case v == "":
		return bad("is empty: leave it out for a node without an asset key")
	case len(v) > MaxAssetKey:
		return bad(fmt.Sprintf("is longer than %d bytes", MaxAssetKey))
	case strings.TrimSpace(v) != v:
		return bad("starts or ends with white space")
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return bad("holds a control character")
	}
	sum := sha256.Sum256([]byte(v))
	return "sha256:" + hex.EncodeToString(sum[:]), true
}
