package artifact

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/internal/netnstest"
)

// netShells are the shells netconfig must run under: dash (Debian's
// /bin/sh) with the host's tools, and busybox sh with only busybox's
// applets on PATH (as in a busybox image).
func netShells(t *testing.T) map[string][]string {
	t.Helper()
	shells := map[string][]string{}
	if p, err := exec.LookPath("dash"); err == nil {
		shells["dash"] = []string{p, "PATH=" + os.Getenv("PATH")}
	}
	if p, err := exec.LookPath("busybox"); err == nil {
		bin := t.TempDir()
		for _, applet := range []string{"sh", "sed", "grep", "mkdir", "chmod", "mv", "rm", "ln", "tr", "cat", "printf", "echo", "[", "ip", "env"} {
			if err := os.Symlink(p, filepath.Join(bin, applet)); err != nil {
				t.Fatal(err)
			}
		}
		shells["busybox"] = []string{filepath.Join(bin, "sh"), "PATH=" + bin}
	}
	if len(shells) == 0 {
		t.Skip("neither dash nor busybox is installed")
	}
	return shells
}

// image is a fake image root for netconfig: paths (a trailing "/" makes a
// directory, "->" a symlink, "*" an executable file, else a file).
type image []string

func (img image) write(t *testing.T, root string) {
	t.Helper()
	for _, e := range img {
		switch {
		case strings.Contains(e, " -> "):
			p, target, _ := strings.Cut(e, " -> ")
			if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(e, "/"):
			if err := os.MkdirAll(filepath.Join(root, e), 0o755); err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(e, "*"):
			write(t, filepath.Join(root, strings.TrimSuffix(e, "*")), "#!/bin/sh\n", 0o755)
		default:
			p, content, _ := strings.Cut(e, "=")
			write(t, filepath.Join(root, p), content, 0o644)
		}
	}
}

var (
	debianIfupdown = image{
		"usr/sbin/", "sbin -> usr/sbin", "lib -> usr/lib", "usr/sbin/ifup*",
		"usr/lib/systemd/systemd*", "usr/lib/systemd/systemd-networkd*",
		"usr/lib/systemd/system/systemd-networkd.service=[Unit]\n", "usr/lib/systemd/system/systemd-networkd.socket=[Unit]\n",
		"etc/network/interfaces=auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n",
		"etc/resolv.conf=nameserver 10.99.0.1\n",
	}
	networkdEnabled = image{
		"usr/sbin/ifup*", "usr/lib/systemd/systemd*", "usr/lib/systemd/systemd-networkd*",
		"usr/lib/systemd/system/systemd-networkd.service=[Unit]\n",
		"etc/systemd/system/multi-user.target.wants/systemd-networkd.service -> /usr/lib/systemd/system/systemd-networkd.service",
		"etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf",
	}
	nmEnabled = image{
		"usr/sbin/NetworkManager*", "usr/lib/systemd/system/NetworkManager.service=[Unit]\n",
		"etc/systemd/system/multi-user.target.wants/NetworkManager.service -> /usr/lib/systemd/system/NetworkManager.service",
		"usr/lib/systemd/systemd-networkd*", "usr/sbin/ifup*",
	}
	bareImage = image{"bin/", "etc/"}
)

// netDevices is /sys/class/net of the test: the boot NIC (its name as the
// kernel gave it) and the second NIC.
var netDevices = image{"eth0/address=52:54:00:00:00:01\n", "eth1/address=52:54:00:00:01:01\n", "lo/address=00:00:00:00:00:00\n"}

// TestNetconfigScript runs the overlay's netconfig with each shell on each
// case's image.
func TestNetconfigScript(t *testing.T) {
	tests := append(netconfigDetectCases(), netconfigOverrideCases()...)
	for shName, sh := range netShells(t) {
		for _, tc := range tests {
			t.Run(shName+"/"+tc.name, func(t *testing.T) { runNetconfigCase(t, sh, tc) })
		}
	}
}

// netconfigCase is one run of netconfig on an image.
type netconfigCase struct {
	name    string
	image   image
	node    string
	devices image
	log     string   // netconfig's last line
	want    []string // files (with modes) under etc/ afterwards, with the image's own
	check   map[string]string
}

// netconfigDetectCases: netconfig finds the image's network stack
// (ifupdown, networkd, NetworkManager, none) and writes its files.
func netconfigDetectCases() []netconfigCase {
	secondNIC := netCases[0].node
	return []netconfigCase{{
		name: "debian ifupdown", image: debianIfupdown, node: secondNIC, devices: netDevices,
		log: "gitboot init: netconfig: ifupdown: 2 interfaces (detected; boot NIC eth0)",
		want: []string{
			"etc/network/interfaces 0644", "etc/network/interfaces.d/gitboot 0644", "etc/resolv.conf 0644",
			"etc/systemd/network/10-gitboot-boot.link 0644", "etc/systemd/network/10-gitboot-data0.link 0644",
		},
		check: map[string]string{
			"etc/network/interfaces.d/gitboot":              "auto eth0\niface eth0 inet manual\n\tup ip link set dev eth0 up\n\tup ip addr replace 10.99.0.11/24 brd + dev eth0\n",
			"etc/systemd/network/10-gitboot-boot.link":      "MACAddress=52:54:00:00:00:01\n\n[Link]\nName=eth0\n",
			"etc/resolv.conf":                               "search cluster.example data.example\nnameserver 10.99.0.1\nnameserver 10.99.0.2\n",
			"etc/network/interfaces":                        "auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n",
			"etc/systemd/network/10-gitboot-data0.link":     "Name=data0\n",
			"!etc/network/interfaces.d/gitboot":             "@BOOTIF@",
			"!etc/systemd/network/10-gitboot-boot.network":  "",
			"!etc/systemd/system/multi-user.target.wants/x": "",
		},
	}, {
		name: "networkd enabled, resolved's resolv.conf kept", image: networkdEnabled, node: secondNIC, devices: netDevices,
		log: "gitboot init: netconfig: networkd: 2 interfaces (detected; boot NIC eth0)",
		want: []string{
			"etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf",
			"etc/systemd/network/10-gitboot-boot.link 0644", "etc/systemd/network/10-gitboot-boot.network 0644",
			"etc/systemd/network/10-gitboot-data0.link 0644", "etc/systemd/network/10-gitboot-data0.network 0644",
			"etc/systemd/system/multi-user.target.wants/systemd-networkd.service -> /usr/lib/systemd/system/systemd-networkd.service",
		},
		check: map[string]string{"etc/systemd/network/10-gitboot-data0.network": "Address=10.98.0.11/24\nDNS=10.98.0.1\nDomains=data.example\n"},
	}, {
		name: "NetworkManager enabled wins", image: nmEnabled, node: secondNIC, devices: netDevices,
		log: "gitboot init: netconfig: networkmanager: 2 interfaces (detected; boot NIC eth0)",
		want: []string{
			"etc/NetworkManager/system-connections/gitboot-boot.nmconnection 0600",
			"etc/NetworkManager/system-connections/gitboot-data0.nmconnection 0600",
			"etc/systemd/network/10-gitboot-boot.link 0644", "etc/systemd/network/10-gitboot-data0.link 0644",
			"etc/systemd/system/multi-user.target.wants/NetworkManager.service -> /usr/lib/systemd/system/NetworkManager.service",
		},
		check: map[string]string{"etc/NetworkManager/system-connections/gitboot-data0.nmconnection": "[ethernet]\nmac-address=52:54:00:00:01:01\n"},
	}, {
		name: "no network stack", image: bareImage, node: secondNIC, devices: netDevices,
		log:  "gitboot init: netconfig: no network stack in the image (NetworkManager, systemd-networkd, ifupdown): the interfaces stay as /init set them",
		want: nil,
	}}
}

// netconfigOverrideCases: the node's network_config chooses the stack, and
// a boot NIC that is not there has its files left out.
func netconfigOverrideCases() []netconfigCase {
	secondNIC := netCases[0].node
	return []netconfigCase{{
		name: "network_config forces networkd and enables it", image: debianIfupdown, devices: netDevices,
		node: strings.Replace(secondNIC, `image = image.debian`, "image = image.debian\n  network_config = \"networkd\"", 1),
		log:  "gitboot init: netconfig: networkd: 2 interfaces (network_config; boot NIC eth0)",
		want: []string{
			"etc/network/interfaces 0644", "etc/resolv.conf 0644",
			"etc/systemd/network/10-gitboot-boot.link 0644", "etc/systemd/network/10-gitboot-boot.network 0644",
			"etc/systemd/network/10-gitboot-data0.link 0644", "etc/systemd/network/10-gitboot-data0.network 0644",
			"etc/systemd/system/multi-user.target.wants/systemd-networkd.service -> /usr/lib/systemd/system/systemd-networkd.service",
			"etc/systemd/system/sockets.target.wants/systemd-networkd.socket -> /usr/lib/systemd/system/systemd-networkd.socket",
		},
		check: map[string]string{
			"etc/systemd/network/10-gitboot-boot.network": "[Match]\nMACAddress=52:54:00:00:00:01\n",
			"etc/resolv.conf": "search cluster.example data.example\n",
		},
	}, {
		name: "boot NIC not found: its files left out", image: debianIfupdown, node: secondNIC,
		devices: image{"eth1/address=52:54:00:00:01:01\n"},
		log:     "gitboot init: netconfig: ifupdown: 2 interfaces (detected)",
		want: []string{
			"etc/network/interfaces 0644", "etc/network/interfaces.d/gitboot 0644", "etc/resolv.conf 0644",
			"etc/systemd/network/10-gitboot-data0.link 0644",
		},
		check: map[string]string{
			"etc/network/interfaces.d/gitboot":  "auto data0\niface data0 inet static\n\taddress 10.98.0.11/24\n",
			"!etc/network/interfaces.d/gitboot": "BOOTIF",
		},
	}}
}

// runNetconfigCase runs netconfig with shell sh on tc's image and devices
// and checks its last line, the files it added under etc and their
// content (a "!" key: the file does not exist, or does not hold the text).
func runNetconfigCase(t *testing.T, sh []string, tc netconfigCase) {
	root, sys := t.TempDir(), t.TempDir()
	tc.image.write(t, root)
	tc.devices.write(t, sys)
	before := etcFiles(t, root)
	c := loadNetCluster(t, tc.node)
	n, _ := c.Node("n1")
	writeOverlay(t, root, netOverlay(c, n))
	cmd := exec.Command(sh[0], filepath.Join(root, "usr/lib/gitboot/netconfig"))
	cmd.Env = []string{sh[1], "ROOT=" + root, "SYSNET=" + sys}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("netconfig: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if got := lines[len(lines)-1]; got != tc.log {
		t.Errorf("last line %q, want %q; all output:\n%s", got, tc.log, out)
	}
	got := etcFiles(t, root)
	var added []string
	for _, f := range got {
		if !slices.Contains(before, f) || slices.Contains(tc.want, f) {
			added = append(added, f)
		}
	}
	want := slices.Clone(tc.want)
	slices.Sort(want)
	if strings.Join(added, "\n") != strings.Join(want, "\n") {
		t.Errorf("files under etc:\n%s\nwant:\n%s", strings.Join(added, "\n"), strings.Join(want, "\n"))
	}
	for p, sub := range tc.check {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		data, err := os.ReadFile(filepath.Join(root, p))
		switch {
		case neg && sub == "" && err == nil:
			t.Errorf("%s exists", p)
		case neg && sub != "" && strings.Contains(string(data), sub):
			t.Errorf("%s holds %q:\n%s", p, sub, data)
		case !neg && err != nil:
			t.Errorf("%s: %v", p, err)
		case !neg && !strings.Contains(string(data), sub):
			t.Errorf("%s lacks %q:\n%s", p, sub, data)
		}
	}
}

// etcFiles lists the files and links under root/etc: "path MODE" or
// "path -> target", sorted.
func etcFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(filepath.Join(root, "etc"), func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if info.Mode()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			out = append(out, rel+" -> "+target)
		} else {
			out = append(out, fmt.Sprintf("%s %04o", rel, info.Mode().Perm()))
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// writeOverlay writes an overlay's files into root as the kernel would
// unpack them.
func writeOverlay(t *testing.T, root string, ov *overlay) {
	t.Helper()
	if ov == nil {
		t.Fatal("no overlay")
	}
	for _, f := range ov.files {
		p := filepath.Join(root, f.name)
		if f.mode&typeMask == typeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		write(t, p, string(f.data), os.FileMode(f.mode&0o777))
	}
}

// TestNetconfigBootAddress runs netconfig in a network namespace whose
// boot NIC has the node's address without a broadcast address (as an
// /init that ran `ip addr add A/P dev IF` leaves it): netconfig adds it
// again with one, and the default route with it, since systemd-networkd
// cannot take such an address over (the kernel never changes an
// address's broadcast; networkd 252 retries until the link fails).
func TestNetconfigBootAddress(t *testing.T) {
	netnstest.Require(t)
	ns := netnstest.New(t, "gbnc")
	ns.MustIP(t, "link", "add", "eth0", "address", "52:54:00:00:00:01", "type", "veth", "peer", "name", "p0")
	ns.MustIP(t, "link", "set", "eth0", "up")
	ns.MustIP(t, "link", "set", "p0", "up")
	for shName, sh := range netShells(t) {
		t.Run(shName, func(t *testing.T) {
			ns.MustIP(t, "addr", "flush", "dev", "eth0")
			ns.MustIP(t, "addr", "add", "10.99.0.11/24", "dev", "eth0")
			ns.MustIP(t, "route", "add", "default", "via", "10.99.0.1", "dev", "eth0")
			root := t.TempDir()
			debianIfupdown.write(t, root)
			c := loadNetCluster(t, netCases[0].node)
			n, _ := c.Node("n1")
			writeOverlay(t, root, netOverlay(c, n))
			cmd := ns.Command(context.Background(), "env", "-i", sh[1], "ROOT="+root, "FIX_ADDR=1", sh[0], filepath.Join(root, "usr/lib/gitboot/netconfig"))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("netconfig: %v\n%s", err, out)
			}
			addr, _ := ns.Output(context.Background(), "ip", "-4", "-o", "addr", "show", "dev", "eth0")
			route, _ := ns.Output(context.Background(), "ip", "route", "show", "default")
			if !strings.Contains(string(addr), "inet 10.99.0.11/24 brd 10.99.0.255 ") || !strings.Contains(string(route), "default via 10.99.0.1 dev eth0") {
				t.Errorf("after netconfig: address %q, default route %q; want 10.99.0.11/24 brd 10.99.0.255 and the route via 10.99.0.1\n%s", addr, route, out)
			}
			if !strings.Contains(string(out), "eth0: 10.99.0.11/24 again with its broadcast address") {
				t.Errorf("netconfig did not say it added the address again:\n%s", out)
			}
			// The second run finds the broadcast address and changes nothing.
			out, _ = ns.Command(context.Background(), "env", "-i", sh[1], "ROOT="+root, "FIX_ADDR=1", sh[0], filepath.Join(root, "usr/lib/gitboot/netconfig")).CombinedOutput()
			if strings.Contains(string(out), "again") {
				t.Errorf("second run re-added the address:\n%s", out)
			}
		})
	}
}
