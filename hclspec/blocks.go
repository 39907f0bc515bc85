package hclspec

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Server defaults (DESIGN.md's server block).
const (
	DefaultHTTPPort        = 9873
	DefaultHTTPSPort       = 9874
	DefaultTFTPPort        = 69
	DefaultDHCPPort        = 67
	DefaultDHCPMode        = "authoritative"
	DefaultIPXEDir         = "/usr/lib/ipxe"
	DefaultRuntimeInterval = 60 * time.Second
	DefaultLeaseTime       = time.Hour
	DefaultUEFIBootFile    = "snponly.efi"
)

var dhcpModes = []string{"authoritative", "proxy", "off"}

var serverSchema = withRollout(schema("address", "networks", "interface", "http_port", "tftp_port", "dhcp_port",
	"dhcp_mode", "ipxe_dir", "runtime_interval", "router_advert", "secure_runtime", "uefi_boot_file", "auto_apply", "https_port"))

func (l *loader) body(b rawBlock, s *hcl.BodySchema, eachOK bool) *attrs {
	content, diags := b.block.Body.Content(s)
	l.diags = append(l.diags, diags...)
	return &attrs{l: l, content: content, ctx: l.ctx, eachOK: eachOK, what: fmt.Sprintf("%s %q", b.typ, b.name)}
}

func (l *loader) required(b rawBlock, a *attrs, name string) bool {
	if _, ok := a.get(name); ok {
		return true
	}
	l.errorf(b.block.Body.MissingItemRange().Ptr(), "Missing required argument",
		"The %s block %q needs %s.", b.typ, b.name, name)
	return false
}

func (l *loader) decodeServer(b rawBlock) {
	a := l.body(b, serverSchema, false)
	s := &Server{
		Name: b.name, HTTPPort: DefaultHTTPPort, HTTPSPort: DefaultHTTPSPort, TFTPPort: DefaultTFTPPort, DHCPPort: DefaultDHCPPort,
		DHCPMode: DefaultDHCPMode, IPXEDir: DefaultIPXEDir, RuntimeInterval: DefaultRuntimeInterval,
		RouterAdvert: true, AutoApply: true, UEFIBootFile: DefaultUEFIBootFile, Range: b.block.DefRange,
	}
	if l.required(b, a, "address") {
		if v, at, ok := a.str("address"); ok {
			s.Address, _ = a.ipv4(at, "address", v)
		}
	}
	if v, _, ok := a.refList("networks", "network"); ok {
		s.Networks = v
		s.networksSet = true
	}
	if v, _, ok := a.str("interface"); ok {
		s.Interface = v
	}
	if v, _, ok := a.port("http_port"); ok {
		s.HTTPPort = v
	}
	if v, at, ok := a.port("https_port"); ok {
		if v == s.HTTPPort {
			a.valueErr(at, "Port in use", "https_port must differ from http_port (%d): the agent's HTTPS listener and the boot HTTP listener share the address.", s.HTTPPort)
		} else {
			s.HTTPSPort = v
		}
	}
	if v, _, ok := a.port("tftp_port"); ok {
		s.TFTPPort = v
	}
	if v, _, ok := a.port("dhcp_port"); ok {
		s.DHCPPort = v
	}
	if v, at, ok := a.str("dhcp_mode"); ok {
		if !contains(dhcpModes, v) {
			a.valueErr(at, "Invalid dhcp_mode", "dhcp_mode must be one of %s, not %q.%s", strings.Join(quoteAll(dhcpModes), ", "), v, suggest(v, dhcpModes))
		} else {
			s.DHCPMode = v
		}
	}
	if v, at, ok := a.str("ipxe_dir"); ok {
		s.IPXEDir = v
		s.ipxeDirRange = at.Expr.Range()
	}
	if v, at, ok := a.str("runtime_interval"); ok {
		if d, ok := a.duration(at, "runtime_interval", v); ok {
			s.RuntimeInterval = d
		}
	}
	if v, _, ok := a.boolean("router_advert"); ok {
		s.RouterAdvert = v
	}
	if v, _, ok := a.boolean("secure_runtime"); ok {
		s.SecureRuntime = v
	}
	if v, _, ok := a.boolean("auto_apply"); ok {
		s.AutoApply = v
	}
	if v, at, ok := a.str("uefi_boot_file"); ok {
		if v != "snponly.efi" && v != "ipxe.efi" {
			a.valueErr(at, "Invalid uefi_boot_file", "uefi_boot_file must be \"snponly.efi\" or \"ipxe.efi\", not %q.", v)
		} else {
			s.UEFIBootFile = v
		}
	}
	decodeRollout(a, s)
	l.servers = append(l.servers, s)
}

var networkSchema = schema("subnet", "gateway", "dns", "domain", "lease_time", "dynamic_range")

func (l *loader) decodeNetwork(b rawBlock) {
	a := l.body(b, networkSchema, false)
	n := &Network{Name: b.name, LeaseTime: DefaultLeaseTime, Range: b.block.DefRange}
	if l.required(b, a, "subnet") {
		if v, at, ok := a.str("subnet"); ok {
			n.Subnet, _ = a.prefix(at, v)
			n.subnetRange = at.Expr.Range()
		}
	}
	if v, at, ok := a.str("gateway"); ok {
		if ip, ok := a.ipv4(at, "gateway", v); ok {
			n.Gateway = ip
			if n.Subnet.IsValid() && !n.Subnet.Contains(ip) {
				a.valueErr(at, "Gateway outside its network", "gateway %s is not inside subnet %s of network %q.", ip, n.Subnet, n.Name)
			}
		}
	}
	if v, at, ok := a.strList("dns"); ok {
		for _, s := range v {
			if ip, ok := a.ipv4(at, "dns", s); ok {
				n.DNS = append(n.DNS, ip)
			}
		}
	}
	if v, at, ok := a.str("domain"); ok {
		if !domainRE.MatchString(v) {
			a.valueErr(at, "Invalid domain", "domain %q is not a DNS domain name.", v)
		}
		n.Domain = v
	}
	if v, at, ok := a.str("lease_time"); ok {
		if d, ok := a.duration(at, "lease_time", v); ok {
			n.LeaseTime = d
		}
	}
	if v, at, ok := a.strList("dynamic_range"); ok {
		if len(v) != 2 {
			a.valueErr(at, "Invalid dynamic_range", "dynamic_range must be [FIRST, LAST], two addresses; it has %d.", len(v))
		} else {
			first, ok1 := a.ipv4(at, "dynamic_range", v[0])
			last, ok2 := a.ipv4(at, "dynamic_range", v[1])
			switch {
			case !ok1 || !ok2:
			case last.Less(first):
				a.valueErr(at, "Invalid dynamic_range", "dynamic_range starts at %s, after its end %s.", first, last)
			case n.Subnet.IsValid() && (!n.Subnet.Contains(first) || !n.Subnet.Contains(last)):
				a.valueErr(at, "dynamic_range outside its network", "dynamic_range %s-%s is not inside subnet %s.", first, last, n.Subnet)
			default:
				n.DynamicStart, n.DynamicEnd = first, last
				n.dynamicRange = at.Expr.Range()
			}
		}
	}
	l.networks = append(l.networks, n)
}

var domainRE = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

var imageSchema = schema("source", "kernel", "digest", "platform", "exclude", "compression", "boot", "two_stage_above", "stage_one_modules")

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func (l *loader) decodeImage(b rawBlock) {
	a := l.body(b, imageSchema, false)
	img := &Image{Name: b.name, Range: b.block.DefRange}
	if l.required(b, a, "source") {
		if v, at, ok := a.str("source"); ok {
			if v == "" {
				a.valueErr(at, "Empty image source", "source must name a directory, a .tar[.gz] archive or an OCI layout on the server, or oci://REGISTRY/REPOSITORY[:TAG][@sha256:...].")
			}
			img.Source = v
			img.sourceRange = at.Expr.Range()
		}
	}
	if v, _, ok := a.str("kernel"); ok {
		img.Kernel = v
	}
	if v, at, ok := a.str("digest"); ok {
		if !digestRE.MatchString(v) {
			a.valueErr(at, "Invalid digest", "digest must be \"sha256:\" and 64 lower-case hex digits, not %q.", v)
		}
		img.Digest = v
	}
	decodeImageBoot(a, img)
	decodeImagePacking(a, img)
	l.images = append(l.images, img)
}

var overlaySchema = withBlocks(schema("source", "builtin", "post_apply"), overlayFileBlock)

// Builtins are the overlays shipped inside gitboot.
var Builtins = []string{"fstab", "hostname", "hosts", "ssh_host_keys"}

func (l *loader) decodeOverlay(b rawBlock) {
	a := l.body(b, overlaySchema, false)
	o := &Overlay{Name: b.name, Range: b.block.DefRange}
	src, srcAt, hasSrc := a.str("source")
	bi, biAt, hasBi := a.str("builtin")
	switch {
	case hasSrc && hasBi:
		a.valueErr(biAt, "Conflicting overlay arguments", "overlay %q sets both source and builtin; use one.", b.name)
	case !hasSrc && !hasBi:
		if srcAt == nil && biAt == nil {
			l.errorf(b.block.Body.MissingItemRange().Ptr(), "Missing required argument",
				"The overlay block %q needs source (a directory in the repository) or builtin (%s).", b.name, strings.Join(quoteAll(Builtins), " or "))
		}
	case hasBi:
		if !contains(Builtins, bi) {
			a.valueErr(biAt, "Unknown builtin overlay", "There is no builtin overlay %q; gitboot ships %s.%s", bi, strings.Join(quoteAll(Builtins), " and "), suggest(bi, Builtins))
		} else {
			o.Builtin = bi
		}
	default:
		p, err := repoPath(src)
		if err != nil {
			a.valueErr(srcAt, "Invalid overlay source", "%s.", err)
			break
		}
		o.Source = p
		o.sourceRange = srcAt.Expr.Range()
	}
	if v, at, ok := a.str("post_apply"); ok {
		switch {
		case strings.TrimSpace(v) == "":
			a.valueErr(at, "Empty post_apply", "post_apply of overlay %q is empty; give a command such as \"systemctl reload sshd\" or leave it out.", b.name)
		case strings.ContainsAny(v, "\x00\n\r"):
			a.valueErr(at, "Invalid post_apply", "post_apply of overlay %q must be one line: it contains a newline or NUL.", b.name)
		default:
			o.PostApply = v
		}
	}
	l.decodeOverlayFiles(o, a.content.Blocks)
	l.overlays = append(l.overlays, o)
}

// duration parses a Go duration ("90s", "1h30m") and requires it positive.
func (a *attrs) duration(at *hcl.Attribute, name, v string) (time.Duration, bool) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		a.valueErr(at, "Invalid duration", "%s must be a positive duration such as \"90s\", \"10m\" or \"1h\", not %q.", name, v)
		return 0, false
	}
	return d, true
}

func (a *attrs) ipv4(at *hcl.Attribute, name, v string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(v)
	if err != nil || !ip.Is4() {
		a.valueErr(at, "Invalid IP address", "%s of %s must be an IPv4 address, not %q.", name, a.what, v)
		return netip.Addr{}, false
	}
	return ip, true
}

func (a *attrs) prefix(at *hcl.Attribute, v string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(v)
	if err != nil || !p.Addr().Is4() {
		a.valueErr(at, "Invalid CIDR", "subnet of %s must be an IPv4 network in CIDR notation such as \"10.99.0.0/24\", not %q.", a.what, v)
		return netip.Prefix{}, false
	}
	if p.Masked() != p {
		a.valueErr(at, "Invalid CIDR", "subnet %q has host bits set; did you mean %q?", v, p.Masked().String())
		return netip.Prefix{}, false
	}
	return p, true
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

func quoteAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
