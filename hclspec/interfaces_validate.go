package hclspec

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// addrOwner is the interface an address belongs to, for duplicate reports.
type addrOwner struct {
	node, iface string
	rng         hcl.Range
}

// checkInterfaceAddrs checks every node's interfaces against their
// networks, and their MACs and IPs against each other and against every
// node's own mac and ip (byMAC, byIP: checkNodes' indexes of those). A
// boot interface (the node's own mac) carries the node's address, which
// is not a duplicate of itself.
func (l *loader) checkInterfaceAddrs(c *Cluster, byMAC, byIP map[string]*Node) {
	var macs, ips map[string]addrOwner
	for i, d := range l.nodeDefs {
		if i%cancelCheckEvery == 0 && l.stopped() {
			return
		}
		n := d.node
		for _, def := range d.ifaces {
			it := findInterface(n, def.name)
			if it == nil || it.Boot {
				continue
			}
			what := "interface " + quote(it.Name) + " of node " + quote(n.Name)
			if it.MAC != "" {
				if macs == nil {
					macs = map[string]addrOwner{}
				}
				if prev, dup := byMAC[it.MAC]; dup {
					l.errorf(def.mac.rng.Ptr(), "Duplicate MAC address", "%s has mac %s, the mac of node %q (set at %s).", what, it.MAC, prev.Name, prev.Origin("mac").String())
				} else if prev, dup := macs[it.MAC]; dup {
					l.errorf(def.mac.rng.Ptr(), "Duplicate MAC address", "%s has mac %s, as has interface %q of node %q (set at %s).", what, it.MAC, prev.iface, prev.node, prev.rng.String())
				} else {
					macs[it.MAC] = addrOwner{n.Name, it.Name, def.mac.rng}
				}
			}
			if !it.IP.IsValid() {
				continue
			}
			if ips == nil {
				ips = map[string]addrOwner{}
			}
			ip := it.IP.String()
			if prev, dup := byIP[ip]; dup {
				l.errorf(def.ip.rng.Ptr(), "Duplicate IP address", "%s has ip %s, the ip of node %q (set at %s).", what, ip, prev.Name, prev.Origin("ip").String())
			} else if prev, dup := ips[ip]; dup {
				l.errorf(def.ip.rng.Ptr(), "Duplicate IP address", "%s has ip %s, as has interface %q of node %q (set at %s).", what, ip, prev.iface, prev.node, prev.rng.String())
			} else {
				ips[ip] = addrOwner{n.Name, it.Name, def.ip.rng}
			}
			l.checkInterfaceNetwork(c, it, def, what)
		}
		l.checkMembers(n, d.ifaces)
	}
}

// checkInterfaceNetwork checks that an interface's address is a host
// address of its network.
func (l *loader) checkInterfaceNetwork(c *Cluster, it *Interface, def ifaceDef, what string) {
	net, ok := c.Network(it.Network)
	if !ok || !net.Subnet.IsValid() {
		return
	}
	r := def.ip.rng
	switch {
	case !net.Subnet.Contains(it.IP):
		l.errorf(&r, "IP outside its network", "%s has ip %s, outside subnet %s of network %q.", what, it.IP, net.Subnet, net.Name)
	case it.IP == net.Subnet.Addr():
		l.errorf(&r, "IP is the network address", "%s has ip %s, the network address of %s.", what, it.IP, net.Subnet)
	case it.IP == broadcast(net):
		l.errorf(&r, "IP is the broadcast address", "%s has ip %s, the broadcast address of %s.", what, it.IP, net.Subnet)
	case net.Gateway.IsValid() && it.IP == net.Gateway:
		l.errorf(&r, "IP is the gateway", "%s has ip %s, the gateway of network %q.", what, it.IP, net.Name)
	}
}

// checkMembers reports a declared interface that is a member of two bonds
// or that both is a bond member and has an address of its own.
func (l *loader) checkMembers(n *Node, defs []ifaceDef) {
	var bondOf map[string]string
	for _, it := range n.Interfaces {
		if it.Type != "bond" {
			continue
		}
		for _, m := range it.Members {
			if bondOf == nil {
				bondOf = map[string]string{}
			}
			def := findDef(defs, it.Name)
			if other, dup := bondOf[m]; dup {
				l.errorf(def.members.rng.Ptr(), "Interface in two bonds", "interface %q of node %q is a member of both %q and %q.", m, n.Name, other, it.Name)
				continue
			}
			bondOf[m] = it.Name
			if mi := findInterface(n, m); mi != nil && mi.IP.IsValid() {
				l.errorf(def.members.rng.Ptr(), "Bond member with an address", "interface %q of node %q is a member of bond %q and has ip %s; the address belongs on the bond.", m, n.Name, it.Name, mi.IP)
			}
		}
	}
}

func findInterface(n *Node, name string) *Interface {
	for _, it := range n.Interfaces {
		if it.Name == name {
			return it
		}
	}
	return nil
}

func findDef(defs []ifaceDef, name string) *ifaceDef {
	for i := range defs {
		if defs[i].name == name {
			return &defs[i]
		}
	}
	return &ifaceDef{}
}

// checkNetworkConfig reports an unknown network_config value.
func checkNetworkConfig(a *attrs) setting[string] {
	v, at, ok := a.str("network_config")
	if !ok {
		return setting[string]{broken: at != nil}
	}
	if !contains(NetworkConfigs, v) {
		a.valueErr(at, "Invalid network_config", "network_config must be one of %s, not %q (leave it out to detect the image's stack at boot).%s",
			strings.Join(quoteAll(NetworkConfigs), ", "), v, suggest(v, NetworkConfigs))
		return setting[string]{broken: true}
	}
	return setting[string]{v: v, rng: at.Expr.Range(), set: true}
}
