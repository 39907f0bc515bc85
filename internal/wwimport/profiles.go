package wwimport

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// profileBlocks builds a profile block per Warewulf profile and returns
// them with what each sets, for gitbootMerge. A profile's lists are what
// Warewulf gives a node that has only that profile: its included profiles'
// lists appended, "~" entries applied.
func (im *importer) profileBlocks() (*hclwrite.File, map[string]*gbProfile) {
	f := hclwrite.NewEmptyFile()
	gb := map[string]*gbProfile{}
	for _, name := range sortedKeys(im.conf.profiles) {
		p := im.conf.profiles[name]
		im.reportSource(p)
		id := im.id("profile", name)
		g := &gbProfile{tags: p.Tags}
		alone := im.conf.resolve(&wwProfile{name: name, Profiles: []string{name}})
		body := f.Body().AppendNewBlock("profile", []string{id}).Body()
		if p.Comment != "" {
			body.AppendUnstructuredTokens(commentTokens(p.Comment))
		}
		for _, inc := range cleanList(p.Profiles) {
			if _, ok := im.conf.profiles[inc]; !ok {
				im.mig.add(secFields, im.where(p, "profiles"), "profile "+inc, "nodes.conf declares no such profile (Warewulf ignores it too); left out.")
			}
		}
		if g.includes = im.profileIDs(cleanList(p.Profiles)); len(g.includes) > 0 {
			body.SetAttributeRaw("profiles", refList("profile", g.includes))
		}
		if img := over(p.ContainerName, p.ImageName); img != "" {
			g.image = im.imageID(img)
			body.SetAttributeRaw("image", expr("image."+g.image))
		}
		if p.Kernel != nil && len(p.Kernel.Args) > 0 {
			l := alone.kernelArgs
			g.kernelArgs = &l
			body.SetAttributeValue("kernel_args", strList(l))
		}
		if len(p.SystemOverlay) > 0 {
			l := im.overlayIDs(alone.sysOvl)
			g.sys = &l
			body.SetAttributeRaw("system_overlays", refList("overlay", l))
		}
		if len(p.RuntimeOverlay) > 0 {
			l := im.overlayIDs(alone.rtOvl)
			g.rt = &l
			body.SetAttributeRaw("runtime_overlays", refList("overlay", l))
		}
		if len(p.Tags) > 0 {
			body.SetAttributeValue("tags", strMap(p.Tags))
		}
		if p.Root == "tmpfs" || p.Root == "initramfs" {
			g.root = p.Root
			body.SetAttributeValue("root", cty.StringVal(p.Root))
		}
		gb[id] = g
		f.Body().AppendNewline()
		im.report.Profiles++
	}
	return f, gb
}

func commentTokens(c string) hclwrite.Tokens {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(c), "\n") {
		b.WriteString("# " + strings.TrimSpace(l) + "\n")
	}
	return hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte(b.String())}}
}

// reportSource lists the fields of one profile or node entry that gitboot
// has no place for.
func (im *importer) reportSource(p *wwProfile) {
	at := func(k string) string { return im.where(p, k) }
	for _, k := range sortedKeys(p.keys) {
		if !knownKeys[k] {
			im.mig.add(secFields, at(k), k, "not a Warewulf 4.6/4.7 field the importer knows; check whether it matters.")
		}
	}
	if p.Root != "" && p.Root != "tmpfs" && p.Root != "initramfs" {
		im.mig.add(secFields, at("root"), "root: "+p.Root, "gitboot's root is the initramfs or a tmpfs (root = \"tmpfs\"); a disk root needs disk provisioning, which gitboot does not have yet.")
	}
	if p.Init != "" && p.Init != "/sbin/init" {
		im.mig.add(secFields, at("init"), "init: "+p.Init, "gitboot's /init execs the image's /sbin/init; make that the init you want (a link in the image).")
	}
	if p.Ipxe != "" && p.Ipxe != "default" {
		im.mig.add(secFields, at("ipxe template"), "ipxe template: "+p.Ipxe, "gitboot writes each node's iPXE script itself; put extra kernel arguments in kernel_args.")
	}
	if p.Kernel != nil && p.Kernel.Version != "" {
		im.mig.add(secFields, at("kernel"), "kernel version "+p.Kernel.Version, "per-node kernels: gitboot boots the image's newest /boot/vmlinuz-*, or the image block's kernel glob; make an image (or a kernel glob) for this kernel.")
	}
	if p.ClusterName != "" {
		im.mig.add(secFields, at("cluster name"), "cluster name "+p.ClusterName, "gitboot has no cluster name; put it into tags (cluster = \"...\") if templates need it.")
	}
	if len(p.Disks) > 0 {
		im.mig.add(secFields, at("disks"), "disks", "disk provisioning does not exist in gitboot yet; partition disks with a script in an overlay (a systemd unit) meanwhile.")
	}
	if len(p.FileSystems) > 0 {
		im.mig.add(secFields, at("filesystems"), "filesystems", "file system creation does not exist in gitboot yet; create and mount them from an overlay (fstab, a systemd unit) meanwhile.")
	}
	if len(p.Resources) > 0 {
		im.mig.add(secFields, at("resources"), "resources: "+strings.Join(sortedKeys(p.Resources), ", "), "gitboot has no resources attribute yet; keep the data as tags or in the templates that read it.")
	}
	if p.Discoverable != "" && p.Discoverable != "false" {
		im.mig.add(secFields, at("discoverable"), "discoverable", "gitboot serves unknown MACs from a network's dynamic_range and `gitboot discover` writes node blocks for them.")
	}
	if i := p.Ipmi; i != nil {
		for _, x := range []struct{ k, v, todo string }{
			{"netmask", i.Netmask, "gitboot does not configure the BMC's own network; set it with ipmitool lan set."},
			{"gateway", i.Gateway, "gitboot does not configure the BMC's own network; set it with ipmitool lan set."},
			{"write", i.Write, "gitboot does not write BMC settings at boot; configure the BMC once with ipmitool."},
			{"template", i.Template, "gitboot's power command runs IPMI itself; no template."},
			{"escapechar", i.EscapeChar, "console escape characters are not part of gitboot's power control."},
		} {
			if x.v != "" {
				im.mig.add(secFields, at("ipmi"), "ipmi "+x.k, x.todo)
			}
		}
		if i.Interface != "" && i.Interface != "lanplus" {
			im.mig.add(secFields, at("ipmi"), "ipmi interface "+i.Interface, "gitboot speaks IPMI 2.0 (lanplus) only.")
		}
		if len(i.Tags) > 0 {
			im.mig.add(secFields, at("ipmi"), "ipmi tags", "no place in gitboot's bmc block; keep them as node tags if a template reads them.")
		}
	}
}

// serverBlock writes the server block from warewulf.conf.
func (im *importer) serverBlock(body *hclwrite.Body, nodes []*nodeOut) {
	s := im.server
	if s == nil {
		im.mig.add(secFields, "warewulf.conf", "server", "no --warewulf-conf given: add server \"head\" { address = \"...\" } to site.hcl (the address nodes reach).")
		return
	}
	file := func(k string) string {
		if l := s.lines[k]; l > 0 {
			return fmt.Sprintf("%s:%d", baseName(s.file), l)
		}
		return baseName(s.file)
	}
	addr, err := netip.ParseAddr(s.Ipaddr)
	if err != nil || !addr.Is4() {
		im.mig.add(secFields, file("ipaddr"), "ipaddr "+s.Ipaddr, "the server needs an IPv4 address: add server \"head\" { address = \"...\" } to site.hcl.")
		return
	}
	var snet *network
	if s.Netmask != "" {
		if n, err := im.networkFor(addr, s.Netmask, "cluster"); err == nil {
			snet = n
		} else {
			im.mig.add(secFields, file("netmask"), "netmask "+s.Netmask, err.Error())
		}
	}
	b := body.AppendNewBlock("server", []string{"head"}).Body()
	b.SetAttributeValue("address", cty.StringVal(addr.String()))
	if p := s.Warewulf.Port; p != 0 && p != 9873 {
		b.SetAttributeValue("http_port", cty.NumberIntVal(int64(p)))
	}
	if v := s.Warewulf.UpdateInterval; v > 0 && v != 60 {
		b.SetAttributeValue("runtime_interval", cty.StringVal(fmt.Sprintf("%ds", v)))
	}
	secure := s.Warewulf.Secure == nil || *s.Warewulf.Secure
	b.SetAttributeValue("secure_runtime", cty.BoolVal(secure))
	if e := s.DHCP.Enabled; e != nil && !*e {
		b.SetAttributeValue("dhcp_mode", cty.StringVal("off"))
		im.mig.add(secFields, file("dhcp"), "dhcp enabled: false", "gitboot's DHCP is off (dhcp_mode = \"off\"): another DHCP server must send nodes to gitboot (next-server and the iPXE script URL).")
	}
	if t := s.DHCP.Template; t != "" && t != "default" && t != "static" {
		im.mig.add(secFields, file("dhcp"), "dhcp template "+t, "gitboot answers DHCP itself from the node blocks; no template.")
	}
	for _, arch := range sortedKeys(s.TFTP.IPXE) {
		v := s.TFTP.IPXE[arch]
		switch {
		case arch == "00:07" || arch == "00:09":
			if strings.Contains(v, "snponly") {
				continue
			}
			if strings.HasSuffix(v, "ipxe.efi") || strings.HasSuffix(v, "x86_64.efi") {
				b.SetAttributeValue("uefi_boot_file", cty.StringVal("ipxe.efi"))
				continue
			}
		case arch == "00:00" && strings.Contains(v, "undionly"), arch == "00:0B" && strings.Contains(v, "snponly"):
			continue
		}
		im.mig.add(secFields, file("tftp"), "tftp ipxe "+arch+": "+v, "gitboot serves undionly.kpxe (BIOS), snponly.efi or ipxe.efi (UEFI, uefi_boot_file) from ipxe_dir.")
	}
	if snet != nil && s.DHCP.RangeStart != "" {
		im.dynamicRange(snet, file("dhcp"), nodes)
	}
	for _, k := range s.other {
		todo := "gitboot has no setting for this; configure it on the server or in an overlay."
		switch k {
		case "nfs":
			todo = "gitboot does not export NFS; run the server's nfs-server and mount the exports from an overlay (fstab)."
		case "ssh":
			todo = "ssh host keys are not generated by gitboot yet; keep them in a runtime overlay."
		case "image mounts", "container mounts", "paths", "api", "wwclient":
			todo = "Warewulf's own machinery; nothing to do in gitboot."
		case "ipaddr6", "prefixlen6":
			todo = "gitboot networks are IPv4."
		}
		im.mig.add(secFields, file(k), k, todo)
	}
	body.AppendNewline()
}

// dynamicRange gives the server's network warewulf.conf's DHCP range as
// its dynamic_range, unless it holds a node's address (gitboot refuses
// that).
func (im *importer) dynamicRange(n *network, at string, nodes []*nodeOut) {
	s := im.server
	first, err1 := netip.ParseAddr(s.DHCP.RangeStart)
	last, err2 := netip.ParseAddr(s.DHCP.RangeEnd)
	if err1 != nil || err2 != nil || last.Less(first) || !n.subnet.Contains(first) || !n.subnet.Contains(last) {
		im.mig.add(secFields, at, "dhcp range "+s.DHCP.RangeStart+"-"+s.DHCP.RangeEnd, "not a range inside the server's network "+n.subnet.String()+"; set dynamic_range by hand if nodes should be discovered.")
		return
	}
	var inside []string
	for _, nd := range nodes {
		if !nd.ip.Less(first) && !last.Less(nd.ip) {
			inside = append(inside, nd.name)
		}
	}
	if len(inside) > 0 {
		slices.Sort(inside)
		im.mig.add(secFields, at, "dhcp range "+s.DHCP.RangeStart+"-"+s.DHCP.RangeEnd,
			fmt.Sprintf("holds the addresses of %d nodes (%s...); gitboot keeps dynamic_range apart from reserved addresses: pick a free range.", len(inside), inside[0]))
		return
	}
	n.dynamic = [2]netip.Addr{first, last}
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}
