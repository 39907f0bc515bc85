package artifact

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
)

// The renderers of netconfig.go: each returns the files of one network
// stack for a node's interfaces (netInterfaces), as plain text the same
// for the same input. Interfaces with a MAC are matched by it; bonds,
// vlans and undeclared members or parents by name.

// bondMode is the bonding mode of every bond: it needs no switch
// configuration.
const bondMode = "active-backup"

type netFile struct {
	name string
	data []byte
}

// renderLinks returns a systemd .link file per interface with a MAC, so
// udev gives it its declared name (for the implicit boot NIC: the name it
// has at boot, @BOOTIF@). Every stack gets them.
func renderLinks(ifs []*netIface) []netFile {
	var out []netFile
	for _, ni := range ifs {
		if ni.mac == "" || ni.typ == "bond" || ni.typ == "vlan" {
			continue
		}
		var b strings.Builder
		b.WriteString("# gitboot: names the interface with this hardware address\n")
		b.WriteString("[Match]\nMACAddress=" + ni.mac + "\n\n[Link]\nName=" + ni.ifname() + "\n")
		if ni.mtu > 0 {
			b.WriteString("MTUBytes=" + strconv.Itoa(ni.mtu) + "\n")
		}
		out = append(out, netFile{"10-gitboot-" + ni.stem + ".link", []byte(b.String())})
	}
	return out
}

// renderNetworkd returns systemd-networkd .netdev and .network files.
func renderNetworkd(ifs []*netIface) []netFile {
	var out []netFile
	for _, ni := range ifs {
		if ni.typ == "bond" || ni.typ == "vlan" {
			var b strings.Builder
			b.WriteString("[NetDev]\nName=" + ni.name + "\nKind=" + ni.typ + "\n")
			if ni.mtu > 0 {
				b.WriteString("MTUBytes=" + strconv.Itoa(ni.mtu) + "\n")
			}
			if ni.mac != "" {
				b.WriteString("MACAddress=" + ni.mac + "\n")
			}
			if ni.typ == "bond" {
				b.WriteString("\n[Bond]\nMode=" + bondMode + "\n")
			} else {
				b.WriteString("\n[VLAN]\nId=" + strconv.Itoa(ni.vlanID) + "\n")
			}
			out = append(out, netFile{"10-gitboot-" + ni.stem + ".netdev", []byte(b.String())})
		}
		var b strings.Builder
		b.WriteString("[Match]\n")
		switch {
		case ni.mac != "" && ni.bond != "":
			// A bond member takes the bond's address: match the one it
			// was made with.
			b.WriteString("PermanentMACAddress=" + ni.mac + "\n")
		case ni.mac != "" && ni.typ != "bond" && ni.typ != "vlan":
			b.WriteString("MACAddress=" + ni.mac + "\n")
		default:
			b.WriteString("Name=" + ni.name + "\n")
		}
		if ni.mtu > 0 {
			b.WriteString("\n[Link]\nMTUBytes=" + strconv.Itoa(ni.mtu) + "\n")
		}
		b.WriteString("\n[Network]\n")
		if ni.bond != "" {
			b.WriteString("Bond=" + ni.bond + "\n")
		}
		for _, v := range ni.vlans {
			b.WriteString("VLAN=" + v + "\n")
		}
		if ni.addr.IsValid() {
			b.WriteString("Address=" + ni.addr.String() + "\n")
			if ni.gateway != "" {
				b.WriteString("Gateway=" + ni.gateway + "\n")
			}
			for _, d := range ni.dns {
				b.WriteString("DNS=" + d + "\n")
			}
			if ni.domain != "" {
				b.WriteString("Domains=" + ni.domain + "\n")
			}
		} else if ni.bond == "" {
			b.WriteString("LinkLocalAddressing=no\n")
		}
		if ni.bond == "" {
			// IPv4 static only, as the other stacks: no router
			// advertisements, no DHCPv6.
			b.WriteString("IPv6AcceptRA=no\n")
		}
		if ni.boot {
			// /init has set this very address: keep it while networkd
			// takes the link over (and at networkd's restart).
			b.WriteString("KeepConfiguration=static\n")
		}
		out = append(out, netFile{"10-gitboot-" + ni.stem + ".network", []byte(b.String())})
	}
	return out
}

// renderNM returns NetworkManager keyfiles (installed mode 0600).
func renderNM(node string, ifs []*netIface) []netFile {
	var out []netFile
	for _, ni := range ifs {
		var b strings.Builder
		typ := ni.typ
		b.WriteString("[connection]\nid=gitboot-" + ni.stem + "\nuuid=" + nmUUID(node, ni.stem) + "\ntype=" + typ + "\n")
		if ni.mac == "" || typ == "bond" || typ == "vlan" {
			b.WriteString("interface-name=" + ni.name + "\n")
		}
		b.WriteString("autoconnect=true\n")
		if ni.bond != "" {
			b.WriteString("master=" + ni.bond + "\nslave-type=bond\n")
		}
		// The hardware section: [ethernet] (also for a bond's or vlan's
		// MAC and MTU) or [infiniband].
		var hw []string
		switch {
		case ni.mac != "" && (typ == "bond" || typ == "vlan"):
			hw = append(hw, "cloned-mac-address="+ni.mac)
		case ni.mac != "":
			hw = append(hw, "mac-address="+ni.mac)
		}
		if ni.mtu > 0 {
			hw = append(hw, "mtu="+strconv.Itoa(ni.mtu))
		}
		sect := "ethernet"
		if typ == "infiniband" {
			sect = typ
			hw = append(hw, "transport-mode=datagram")
		}
		if len(hw) > 0 {
			b.WriteString("\n[" + sect + "]\n" + strings.Join(hw, "\n") + "\n")
		}
		switch typ {
		case "bond":
			b.WriteString("\n[bond]\nmode=" + bondMode + "\n")
		case "vlan":
			b.WriteString("\n[vlan]\nid=" + strconv.Itoa(ni.vlanID) + "\nparent=" + ni.parent + "\n")
		}
		if ni.bond == "" {
			b.WriteString("\n[ipv4]\n")
			if ni.addr.IsValid() {
				b.WriteString("method=manual\naddress1=" + ni.addr.String())
				if ni.gateway != "" {
					b.WriteString("," + ni.gateway)
				}
				b.WriteString("\n")
				if len(ni.dns) > 0 {
					b.WriteString("dns=" + strings.Join(ni.dns, ";") + ";\n")
				}
				if ni.domain != "" {
					b.WriteString("dns-search=" + ni.domain + ";\n")
				}
				if ni.gateway == "" {
					b.WriteString("never-default=true\n")
				}
			} else {
				b.WriteString("method=disabled\n")
			}
			b.WriteString("\n[ipv6]\nmethod=ignore\n")
		}
		out = append(out, netFile{"gitboot-" + ni.stem + ".nmconnection", []byte(b.String())})
	}
	return out
}

// nmUUID is a fixed UUID for a node's connection (version 5 layout over
// sha256), so a rebuild gives the same keyfile.
func nmUUID(node, stem string) string {
	s := sha256.Sum256([]byte("gitboot-nm\x00" + node + "\x00" + stem))
	s[6] = s[6]&0x0f | 0x50
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// renderIfupdown returns /etc/network/interfaces.d/gitboot. ifupdown
// matches by name (the .link files pin the names). The boot NIC already
// has its address when networking.service runs `ifup -a`: its stanza is
// "inet manual" with idempotent `ip ... replace` commands, so ifup
// succeeds on the configured link and changes nothing. Bonds and vlans are
// made with ip(8), so neither ifenslave nor vlan need be installed; bond
// members without an address of their own get no stanza (the bond's
// pre-up enslaves them).
func renderIfupdown(ifs []*netIface) []byte {
	var b strings.Builder
	b.WriteString("# gitboot: written by /usr/lib/gitboot/netconfig; changes are lost at the next boot\n")
	for _, ni := range ifs {
		if ni.bond != "" && !ni.addr.IsValid() {
			continue
		}
		name := ni.ifname()
		b.WriteString("\nauto " + name + "\n")
		method := "manual"
		if ni.addr.IsValid() && !ni.boot {
			method = "static"
		}
		b.WriteString("iface " + name + " inet " + method + "\n")
		switch ni.typ {
		case "bond":
			b.WriteString("\tpre-up ip link show dev " + name + " >/dev/null 2>&1 || ip link add " + name + " type bond\n")
			b.WriteString("\tpre-up ip link set dev " + name + " down; ip link set dev " + name + " type bond mode " + bondMode + "\n")
			for _, m := range ni.members {
				b.WriteString("\tpre-up ip link set dev " + m + " down; ip link set dev " + m + " master " + name + "\n")
			}
		case "vlan":
			b.WriteString("\tpre-up ip link set dev " + ni.parent + " up\n")
			b.WriteString("\tpre-up ip link show dev " + name + " >/dev/null 2>&1 || ip link add link " + ni.parent + " name " + name + " type vlan id " + strconv.Itoa(ni.vlanID) + "\n")
		}
		if ni.mac != "" && (ni.typ == "bond" || ni.typ == "vlan") {
			b.WriteString("\tpre-up ip link set dev " + name + " address " + ni.mac + "\n")
		}
		if ni.mtu > 0 {
			b.WriteString("\tpre-up ip link set dev " + name + " mtu " + strconv.Itoa(ni.mtu) + "\n")
		}
		switch {
		case method == "static":
			b.WriteString("\taddress " + ni.addr.String() + "\n")
		case ni.addr.IsValid():
			b.WriteString("\tup ip link set dev " + name + " up\n")
			b.WriteString("\tup ip addr replace " + ni.addr.String() + " brd + dev " + name + "\n")
			if ni.gateway != "" {
				b.WriteString("\tup ip route replace default via " + ni.gateway + " dev " + name + "\n")
			}
		default:
			b.WriteString("\tup ip link set dev " + name + " up\n")
		}
		if method == "static" && ni.gateway != "" {
			b.WriteString("\tgateway " + ni.gateway + "\n")
		}
		if ni.addr.IsValid() && len(ni.dns) > 0 {
			b.WriteString("\tdns-nameservers " + strings.Join(ni.dns, " ") + "\n")
		}
		if ni.addr.IsValid() && ni.domain != "" {
			b.WriteString("\tdns-search " + ni.domain + "\n")
		}
		if ni.typ == "bond" || ni.typ == "vlan" {
			b.WriteString("\tpost-down ip link del dev " + name + "\n")
		}
	}
	return []byte(b.String())
}
