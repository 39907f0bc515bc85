// Package examples_test checks that the example repositories load and hold
// what their READMEs, the end-to-end tests and `make demo` rely on.
package examples_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/gitboot/gitboot/hclspec"
)

func load(t *testing.T, dir string) *hclspec.Cluster {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	c, diags := hclspec.Load(root.FS(), hclspec.Options{FilePrefix: dir})
	for _, d := range diags {
		t.Errorf("%s: %s", dir, d.Error())
	}
	if c == nil {
		t.Fatalf("%s does not load", dir)
	}
	return c
}

// TestLab pins the lab cluster the end-to-end tests boot in QEMU.
func TestLab(t *testing.T) {
	c := load(t, "lab")
	s, ok := c.Server("head")
	if !ok || s.Address.String() != "10.99.0.1" {
		t.Fatalf("server head: %+v", s)
	}
	nw, ok := c.Network("cluster")
	if !ok || nw.Subnet.String() != "10.99.0.0/24" || nw.Gateway.String() != "10.99.0.1" || nw.Domain != "cluster.local" {
		t.Errorf("network cluster: %+v", nw)
	}
	for _, want := range []struct{ name, mac, ip string }{
		{"n1", "52:54:00:99:00:01", "10.99.0.11"},
		{"n2", "52:54:00:99:00:02", "10.99.0.12"},
	} {
		n, ok := c.Node(want.name)
		if !ok {
			t.Errorf("no node %s", want.name)
			continue
		}
		if n.MAC != want.mac || n.IP.String() != want.ip || n.Image != "demo" || n.Network != "cluster" {
			t.Errorf("node %s: mac %s ip %s image %s network %s; want %s %s demo cluster", n.Name, n.MAC, n.IP, n.Image, n.Network, want.mac, want.ip)
		}
		if fmt.Sprint(n.KernelArgs) != "[console=ttyS0 quiet]" || fmt.Sprint(n.SystemOverlays) != "[init]" || fmt.Sprint(n.RuntimeOverlays) != "[generic hostname]" {
			t.Errorf("node %s: kernel args %q, system overlays %v, runtime overlays %v", n.Name, n.KernelArgs, n.SystemOverlays, n.RuntimeOverlays)
		}
		if n.Tags["role"] != "compute" || n.Tags["slot"] != want.name[1:] {
			t.Errorf("node %s: tags %v", n.Name, n.Tags)
		}
	}
	if len(c.Nodes) != 2 {
		t.Errorf("%d nodes, want 2", len(c.Nodes))
	}
	if img, ok := c.Image("demo"); !ok || img.Source != "/var/lib/gitboot/images/demo" {
		t.Errorf("image demo: %+v", img)
	}
}

// TestSite1000 checks the nodes read from the vendor's rack files.
func TestSite1000(t *testing.T) {
	c := load(t, "site1000")
	if len(c.Nodes) != 1000 {
		t.Fatalf("%d nodes, want 1000", len(c.Nodes))
	}
	roles := map[string]int{}
	ips := map[string]string{}
	for _, n := range c.Nodes {
		roles[n.Tags["role"]]++
		if other, dup := ips[n.IP.String()]; dup {
			t.Errorf("%s and %s share %s", n.Name, other, n.IP)
		}
		ips[n.IP.String()] = n.Name
	}
	if roles["compute"] != 880 || roles["gpu"] != 80 || roles["login"] != 40 {
		t.Errorf("roles %v, want 880 compute, 80 gpu, 40 login", roles)
	}
	for _, want := range []struct{ name, mac, ip, image, network string }{
		{"r01n01", "02:47:42:00:01:01", "10.100.0.129", "rocky9", "compute"},
		{"r02n40", "02:47:42:00:02:28", "10.100.1.40", "rocky9", "compute"},
		{"r23n01", "02:47:42:00:17:01", "10.100.11.129", "rocky9_cuda", "compute"},
		{"r25n40", "02:47:42:00:19:28", "10.100.16.50", "rocky9_login", "service"},
	} {
		n, ok := c.Node(want.name)
		if !ok {
			t.Errorf("no node %s", want.name)
			continue
		}
		if n.MAC != want.mac || n.IP.String() != want.ip || n.Image != want.image || n.Network != want.network {
			t.Errorf("node %s: %s %s %s %s; want %s %s %s %s", n.Name, n.MAC, n.IP, n.Image, n.Network, want.mac, want.ip, want.image, want.network)
		}
	}
	// gpu includes compute: it adds to compute's lists, keeps its runtime
	// overlays and overrides its tags.
	if n, ok := c.Node("r24n40"); ok {
		if fmt.Sprint(n.KernelArgs) != "[console=ttyS0,115200 quiet rd.driver.blacklist=nouveau nvidia-drm.modeset=1]" ||
			fmt.Sprint(n.SystemOverlays) != "[site gpu]" || fmt.Sprint(n.RuntimeOverlays) != "[hosts hostname]" ||
			n.Tags["partition"] != "gpu" || n.Tags["rack"] != "r24" {
			t.Errorf("gpu node r24n40: %q %v %v %v", n.KernelArgs, n.SystemOverlays, n.RuntimeOverlays, n.Tags)
		}
	}
}
