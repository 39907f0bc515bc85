package wwimport

import (
	"maps"
	"strings"
)

// resolved is one node as Warewulf would give it to its templates: its
// profiles expanded (included profiles first, each once), profile lists
// appended in order, scalars overridden, maps merged key by key, and
// entries written "~name" removed.
type resolved struct {
	name          string
	src           *wwProfile // the node's own entry
	profiles      []string   // the node's own profile list, "~" entries applied
	expanded      []string   // every profile applied, in order
	image         string
	kernelArgs    []string
	kernelVersion string
	sysOvl, rtOvl []string
	init, root    string
	ipxe          string
	cluster       string
	tags          map[string]string
	ipmi          wwIPMI
	ipmiOrigin    string // the profile or node that set the IPMI user name
	netdevs       map[string]*wwNetDev
	primary       string // the key of the primary network device; "" when none
	assetKey      string
	missing       []string // profiles named that nodes.conf does not declare
}

// expandProfiles lists the profiles names stands for, included profiles
// first, each once; "~name" entries are kept for cleanList.
func (c *wwConf) expandProfiles(names []string, visited map[string]bool) []string {
	var out []string
	for _, id := range names {
		switch {
		case strings.HasPrefix(id, "~"):
			out = append(out, id)
		case visited[id]:
		default:
			visited[id] = true
			if p, ok := c.profiles[id]; ok {
				out = append(out, c.expandProfiles(p.Profiles, visited)...)
			}
			out = append(out, id)
		}
	}
	return out
}

// cleanList drops the entries a "~name" entry removes, and those entries.
func cleanList(list []string) []string {
	neg := map[string]bool{}
	for _, s := range list {
		if v, ok := strings.CutPrefix(s, "~"); ok {
			neg[v] = true
		}
	}
	var out []string
	for _, s := range list {
		if strings.HasPrefix(s, "~") || neg[s] {
			continue
		}
		out = append(out, s)
	}
	return out
}

// resolve merges node n with its profiles.
func (c *wwConf) resolve(n *wwProfile) *resolved {
	r := &resolved{name: n.name, src: n, tags: map[string]string{}, netdevs: map[string]*wwNetDev{}}
	r.profiles = cleanList(n.Profiles)
	for _, id := range cleanList(c.expandProfiles(n.Profiles, map[string]bool{})) {
		p, ok := c.profiles[id]
		if !ok {
			r.missing = append(r.missing, id)
			continue
		}
		r.expanded = append(r.expanded, id)
		r.apply(p)
	}
	r.apply(n)
	r.sysOvl, r.rtOvl, r.kernelArgs = cleanList(r.sysOvl), cleanList(r.rtOvl), cleanList(r.kernelArgs)
	if r.netdevs[r.primary] == nil {
		// Warewulf's fallback: the first device by name.
		r.primary = ""
		if keys := sortedKeys(r.netdevs); len(keys) > 0 {
			r.primary = keys[0]
		}
	}
	return r
}

// over returns v when set, else old (Warewulf's override of scalars).
func over(old, v string) string {
	if v != "" {
		return v
	}
	return old
}

// apply merges p (a profile, or the node itself last) into r.
func (r *resolved) apply(p *wwProfile) {
	r.image = over(over(r.image, p.ContainerName), p.ImageName)
	r.sysOvl = append(r.sysOvl, p.SystemOverlay...)
	r.rtOvl = append(r.rtOvl, p.RuntimeOverlay...)
	if p.Kernel != nil {
		r.kernelVersion = over(r.kernelVersion, p.Kernel.Version)
		r.kernelArgs = append(r.kernelArgs, p.Kernel.Args...)
	}
	r.init, r.root, r.ipxe, r.cluster = over(r.init, p.Init), over(r.root, p.Root), over(r.ipxe, p.Ipxe), over(r.cluster, p.ClusterName)
	r.assetKey = over(r.assetKey, p.AssetKey)
	r.primary = over(r.primary, p.PrimaryNetDev)
	maps.Copy(r.tags, p.Tags)
	if m := p.Ipmi; m != nil {
		if m.UserName != "" || m.Password != "" {
			r.ipmiOrigin = p.name
		}
		i := &r.ipmi
		i.UserName, i.Password, i.Ipaddr = over(i.UserName, m.UserName), over(i.Password, m.Password), over(i.Ipaddr, m.Ipaddr)
		i.Gateway, i.Netmask, i.Port = over(i.Gateway, m.Gateway), over(i.Netmask, m.Netmask), over(i.Port, m.Port)
		i.Interface, i.EscapeChar = over(i.Interface, m.Interface), over(i.EscapeChar, m.EscapeChar)
		i.Write, i.Template = over(i.Write, m.Write), over(i.Template, m.Template)
		if len(m.Tags) > 0 {
			if i.Tags == nil {
				i.Tags = map[string]string{}
			}
			maps.Copy(i.Tags, m.Tags)
		}
	}
	for key, d := range p.NetDevs {
		if d == nil {
			continue
		}
		cur := r.netdevs[key]
		if cur == nil {
			cur = &wwNetDev{}
			r.netdevs[key] = cur
		}
		cur.Type, cur.OnBoot, cur.Device = over(cur.Type, d.Type), over(cur.OnBoot, d.OnBoot), over(cur.Device, d.Device)
		cur.Hwaddr, cur.Ipaddr, cur.Netmask = over(cur.Hwaddr, d.Hwaddr), over(cur.Ipaddr, d.Ipaddr), over(cur.Netmask, d.Netmask)
		cur.Gateway, cur.Ipaddr6, cur.PrefixLen6 = over(cur.Gateway, d.Gateway), over(cur.Ipaddr6, d.Ipaddr6), over(cur.PrefixLen6, d.PrefixLen6)
		cur.Gateway6, cur.MTU = over(cur.Gateway6, d.Gateway6), over(cur.MTU, d.MTU)
		if d.line > 0 {
			cur.line = d.line
		}
		if len(d.Tags) > 0 {
			if cur.Tags == nil {
				cur.Tags = map[string]string{}
			}
			maps.Copy(cur.Tags, d.Tags)
		}
	}
}
