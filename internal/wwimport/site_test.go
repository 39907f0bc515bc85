package wwimport

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/hclspec"
)

// TestImportSite imports testdata/site and checks the repository against
// testdata/site/golden, that it validates, and what each node gets. Its
// output uses interface blocks (branch netif), root (init), bmc (power)
// and overlay file blocks (layout): it passes once those are on main.
func TestImportSite(t *testing.T) {
	out, rep := importCase(t, "site", func(overlays string) {
		if err := os.Chmod(filepath.Join(overlays, "generic/rootfs/etc/generic.conf"), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	c := load(t, out)

	// The 200 n nodes are one for_each block.
	if rep.ForEach != 1 || rep.Nodes != 1+3+2+200+1 {
		t.Errorf("report: %d nodes in %d for_each blocks, want 207 in 1", rep.Nodes, rep.ForEach)
	}
	if len(c.Nodes) != 207 {
		t.Fatalf("%d nodes loaded, want 207", len(c.Nodes))
	}
	nodes, _ := os.ReadFile(filepath.Join(out, "nodes.hcl"))
	if strings.Count(string(nodes), "\nnode ") != 1+3+2+1+1 {
		t.Errorf("nodes.hcl has %d node blocks:\n%s", strings.Count(string(nodes), "\nnode "), nodes)
	}
	macs, err := os.ReadFile(filepath.Join(out, "macs/n001-n200.macs"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(macs)), "\n")
	if len(lines) != 201 || lines[1] != "02:00:00:00:00:01" || lines[200] != "02:00:00:00:00:c8" {
		t.Errorf("MAC file: %d lines, %q ... %q", len(lines), lines[1], lines[len(lines)-1])
	}

	checkSiteNodes(t, c)
	checkSiteOverlays(t, out)
	checkSiteCredentials(t, out, rep)
	checkMigration(t, out)
}

// checkSiteNodes checks that every node of the imported site c gets
// exactly what Warewulf's merge gives it, and that the node without a
// hwaddr is left out.
func checkSiteNodes(t *testing.T, c *hclspec.Cluster) {
	// Every node gets exactly what Warewulf's merge gives it.
	for _, tc := range []struct {
		node            string
		image           string
		args, sys, rt   []string
		tags            map[string]string
		root, bmc, cred string
	}{
		{"n001", "rockylinux_9", []string{"quiet", "crashkernel=no", "console=ttyS0"}, []string{"hostname"}, []string{"hosts", "generic", "slurm"},
			map[string]string{"site": "lab", "role": "compute"}, "initramfs", "10.2.2.1:623", "default"},
		{"n150", "rockylinux_9", []string{"quiet", "crashkernel=no", "console=ttyS0"}, []string{"hostname"}, []string{"hosts", "generic", "slurm"},
			map[string]string{"site": "lab", "role": "compute"}, "initramfs", "10.2.2.150:623", "default"},
		{"n200", "rockylinux_9", []string{"quiet", "crashkernel=no", "console=ttyS0"}, []string{"hostname"}, []string{"hosts", "generic", "slurm"},
			map[string]string{"site": "lab", "role": "compute"}, "initramfs", "10.2.2.200:623", "default"},
		// gpu includes compute; "~quiet" and "~fstab" remove entries the
		// default profile appended.
		{"gpu02", "rockylinux_9_cuda", []string{"crashkernel=no", "console=ttyS0", "nvidia-drm.modeset=1"}, []string{"hostname"}, []string{"hosts", "generic", "slurm"},
			map[string]string{"site": "lab", "role": "gpu"}, "initramfs", "10.2.3.2:623", "default"},
		// The node removes slurm; tmpfs root from its third profile.
		{"c01", "rockylinux_9", []string{"quiet", "crashkernel=no", "console=ttyS0"}, []string{"hostname"}, []string{"hosts", "generic"},
			map[string]string{"site": "lab", "role": "compute"}, "tmpfs", "", ""},
		{"svc1", "rockylinux_9", []string{"quiet", "crashkernel=no"}, []string{"hostname"}, []string{"hosts", "generic"},
			map[string]string{"site": "lab"}, "initramfs", "10.2.9.1:623", "svc1"},
	} {
		n, ok := c.Node(tc.node)
		if !ok {
			t.Errorf("node %s missing", tc.node)
			continue
		}
		if n.Image != tc.image || !slices.Equal(n.KernelArgs, tc.args) || !slices.Equal(n.SystemOverlays, tc.sys) || !slices.Equal(n.RuntimeOverlays, tc.rt) {
			t.Errorf("%s: image %s args %q system %q runtime %q; want %s %q %q %q", tc.node, n.Image, n.KernelArgs, n.SystemOverlays, n.RuntimeOverlays, tc.image, tc.args, tc.sys, tc.rt)
		}
		if len(n.Tags) != len(tc.tags) {
			t.Errorf("%s: tags %v, want %v", tc.node, n.Tags, tc.tags)
		}
		for k, v := range tc.tags {
			if n.Tags[k] != v {
				t.Errorf("%s: tags %v, want %v", tc.node, n.Tags, tc.tags)
			}
		}
		checkNodeExtras(t, n, tc.root, tc.bmc, tc.cred)
	}
	if _, ok := c.Node("nohw"); ok {
		t.Error("nohw (no hwaddr) imported")
	}
	login, _ := c.Node("login1")
	checkLogin(t, login)
}

// checkSiteOverlays checks the overlays imported into out: the static
// file, its mode, the translated templates; the template using Include set
// aside.
func checkSiteOverlays(t *testing.T, out string) {
	// Overlays: the static file, its mode, the translated template; the
	// template using Include set aside.
	for _, p := range []string{"overlays/generic/etc/motd", "overlays/generic/etc/issue.tmpl", "overlays/slurm/etc/slurm/nodes.conf.tmpl", "overlays/generic/etc/interfaces.tmpl", "warewulf-templates/generic/etc/profile.d/site.sh.ww"} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "overlays/generic/etc/profile.d/site.sh.ww")); err == nil {
		t.Error("an untranslated template was put into an overlay, where a node would get it as is")
	}
	ovl, _ := os.ReadFile(filepath.Join(out, "overlays.hcl"))
	if !strings.Contains(string(ovl), "file \"etc/generic.conf\" {\n    mode = \"0600\"") {
		t.Errorf("overlays.hcl lacks the 0600 mode of etc/generic.conf:\n%s", ovl)
	}
}

// checkSiteCredentials checks that the BMC passwords are only in the
// credentials file beside the repository out (mode 0600), as rep says.
func checkSiteCredentials(t *testing.T, out string, rep *Report) {
	// Passwords only in the credentials file beside the repository.
	cred := out + ".bmc-credentials.hcl"
	if rep.Credentials != cred {
		t.Errorf("credentials file %q, want %q", rep.Credentials, cred)
	}
	data, err := os.ReadFile(cred)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(cred); st.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode %v", st.Mode().Perm())
	}
	for _, want := range []string{`credentials "default"`, `password = "s3cret-ipmi"`, `credentials "svc1"`, `username = "root"`, `password = "other-secret"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("credentials file lacks %s:\n%s", want, data)
		}
	}
	for p, b := range readTree(t, out) {
		if strings.Contains(string(b), "s3cret-ipmi") || strings.Contains(string(b), "other-secret") {
			t.Errorf("%s holds a BMC password", p)
		}
	}
}

// checkMigration checks MIGRATION.md lists what could not be mapped, with
// where it was.
func checkMigration(t *testing.T, out string) {
	t.Helper()
	md, err := os.ReadFile(filepath.Join(out, "MIGRATION.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"**no hwaddr on the primary network device** (nodes.conf:",
		"(node nohw)",
		"**ipaddr6 of network device default** (nodes.conf:",
		"**kernel version 5.14.0-427.el9.x86_64** (nodes.conf:",
		"**disks** (nodes.conf:",
		"(profile gpu)",
		"**filesystems**",
		"**resources: fstab**",
		"**ipxe template: custom**",
		"**init: /usr/lib/systemd/systemd**",
		"**ipmi netmask**",
		"**overlay fstab**",
		"**overlay ssh.host_keys**",
		"**overlay missing-overlay** (nodes.conf:",
		"**generic/etc/profile.d/site.sh.ww**",
		"calls Include",
		"**overlay wwinit**",
		"**generic/etc/interfaces.ww** (nodes.conf:22 (profile default)): translated; check it",
		"**nfs** (warewulf.conf:",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("MIGRATION.md lacks %q", want)
		}
	}
	// The 200 nodes' notes are one line each, with "and N more".
	if strings.Count(string(md), "kernel version") != 1 {
		t.Errorf("kernel version listed %d times, want once", strings.Count(string(md), "kernel version"))
	}
}
