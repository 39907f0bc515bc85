package artifact

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gitboot/gitboot/hclspec"
)

// siteHCL is a small site: two compute nodes whose profile mounts /home
// over NFS, one of which adds a scratch file system of its own (resources
// merge key by key: its fstab list replaces the profile's), a login node
// with an alias and a second interface, and a node without resources.
const siteHCL = `
server "head" {
  address = "10.99.0.1"
}

network "cluster" {
  subnet  = "10.99.0.0/24"
  gateway = "10.99.0.1"
  domain  = "cluster.local"
}

network "ib" {
  subnet = "10.98.0.0/24"
}

image "rocky" {
  source = "/images/rocky"
}

overlay "fstab" {
  builtin = "fstab"
}

overlay "hosts" {
  builtin = "hosts"
}

profile "compute" {
  image            = image.rocky
  network          = network.cluster
  runtime_overlays = [overlay.fstab, overlay.hosts]
  resources = {
    fstab = [
      { spec = "head:/home", file = "/home", vfstype = "nfs", mntops = "defaults,nofail" },
      { spec = "head:/opt", file = "/opt", vfstype = "nfs", freq = 0, passno = 0 },
    ]
  }
}

node "c001" {
  mac      = "52:54:00:00:00:01"
  ip       = "10.99.0.11"
  profiles = [profile.compute]
}

node "c002" {
  mac      = "52:54:00:00:00:02"
  ip       = "10.99.0.12"
  profiles = [profile.compute]
  resources = {
    fstab = [
      { spec = "head:/home", file = "/home", vfstype = "nfs" },
      { spec = "tmpfs", file = "/scratch", vfstype = "tmpfs", mntops = "size=8G,mode=1777" },
    ]
  }
}

node "login1" {
  mac      = "52:54:00:00:00:03"
  ip       = "10.99.0.21"
  profiles = [profile.compute]
  resources = { aliases = ["login", "slurmctld"] }
  interface "ib0" {
    type    = "infiniband"
    mac     = "00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:03"
    ip      = "10.98.0.21"
    network = network.ib
  }
}

node "spare" {
  mac              = "52:54:00:00:00:04"
  ip               = "10.99.0.31"
  image            = image.rocky
  network          = network.cluster
  runtime_overlays = [overlay.fstab, overlay.hosts]
}
`

// renderBuiltin renders builtin overlay name's file for every node of c.
func renderBuiltin(t *testing.T, c *hclspec.Cluster, name, file string) string {
	t.Helper()
	ov, err := loadOverlay(c, name)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := c.Server("head")
	ds := newDataSet(c, srv)
	var out strings.Builder
	for _, f := range ov.files {
		if f.name != file {
			continue
		}
		for _, n := range c.Nodes {
			b, err := render(f.tmpl, ds.data(n))
			if err != nil {
				t.Fatalf("%s for %s: %v", file, n.Name, err)
			}
			out.WriteString("==> " + n.Name + " <==\n")
			out.Write(b)
			if len(b) > 0 && b[len(b)-1] != '\n' {
				out.WriteString("\n")
			}
		}
		return out.String()
	}
	t.Fatalf("builtin %s has no %s", name, file)
	return ""
}

func loadSite(t *testing.T, hcl string) *hclspec.Cluster {
	t.Helper()
	c, diags := hclspec.Load(fstest.MapFS{"main.hcl": {Data: []byte(hcl)}}, hclspec.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return c
}

// Golden renders of the builtin fstab and hosts overlays for a small
// cluster, from its resources (go test -run TestBuiltinGolden -update).
func TestBuiltinGolden(t *testing.T) {
	c := loadSite(t, siteHCL)
	for _, g := range []struct{ overlay, file string }{{"fstab", "etc/fstab"}, {"hosts", "etc/hosts"}} {
		got := renderBuiltin(t, c, g.overlay, g.file)
		golden := filepath.Join("testdata", "builtin", g.overlay+".golden")
		if *updateNet {
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if got != string(want) {
			t.Errorf("%s:\n%s\nwant:\n%s", golden, got, want)
		}
	}
}

// An fstab entry without a spec or a file is an error naming resources.fstab.
func TestBuiltinFstabIncomplete(t *testing.T) {
	c := loadSite(t, strings.Replace(siteHCL, `{ spec = "head:/opt", file = "/opt",`, `{ spec = "head:/opt",`, 1))
	ov, err := loadOverlay(c, "fstab")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := c.Server("head")
	n, _ := c.Node("c001")
	_, err = render(ov.files[len(ov.files)-1].tmpl, newDataSet(c, srv).data(n))
	if err == nil || !strings.Contains(err.Error(), "resources.fstab: every entry needs a spec and a file") {
		t.Errorf("render: %v", err)
	}
}

// The builtin overlays read only what they need: fstab the node's
// resources.fstab, hosts the cluster's nodes and their aliases. So a
// change of another resource key changes no input key, and a change of
// one node's fstab changes that node's key only.
func TestBuiltinResourceKeys(t *testing.T) {
	keys := func(hcl string) map[string]string {
		c := loadSite(t, hcl)
		srv, _ := c.Server("head")
		ds := newDataSet(c, srv)
		out := map[string]string{}
		err := nodeInputs(c, ds, c.Nodes, nil, func(n *hclspec.Node, rec nodeRecord, _, _ []*overlay) {
			out[n.Name] = rec.RuntimeInput
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	base := keys(siteHCL)
	same := keys(strings.Replace(siteHCL, `resources = { aliases = ["login", "slurmctld"] }`,
		`resources = { aliases = ["login", "slurmctld"], rack = "r7" }`, 1))
	for n, k := range base {
		if same[n] != k {
			t.Errorf("a resource no template reads changed %s's key", n)
		}
	}
	one := keys(strings.Replace(siteHCL, `mntops = "size=8G,mode=1777"`, `mntops = "size=16G,mode=1777"`, 1))
	for n, k := range base {
		if changed := one[n] != k; changed != (n == "c002") {
			t.Errorf("c002's fstab changed: %s's key changed: %v", n, changed)
		}
	}
	alias := keys(strings.Replace(siteHCL, `"slurmctld"`, `"slurm"`, 1))
	for n, k := range base {
		if alias[n] == k {
			t.Errorf("login1's aliases changed: %s's key did not (every /etc/hosts lists them)", n)
		}
	}
}
