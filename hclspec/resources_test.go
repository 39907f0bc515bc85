package hclspec

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// Resources merge like tags: objects key by key (at every depth), lists
// and other values replaced; the node's own win over its profiles', a
// later profile's over an earlier one's.
func TestResourcesMerge(t *testing.T) {
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL, "nodes.hcl": `
profile "base" {
  image     = image.rocky9
  network   = network.cluster
  resources = {
    fstab = [{ spec = "head:/home", file = "/home", vfstype = "nfs" }]
    nfs   = { server = "head", opts = "rw", vers = 4 }
    site  = "lab"
  }
}

profile "scratch" {
  resources = {
    fstab = [{ spec = "tmpfs", file = "/scratch", vfstype = "tmpfs", mntops = "size=1G" }]
    gpus  = 0
  }
}

node "c001" {
  mac       = "52:54:00:00:00:01"
  ip        = "10.99.0.11"
  profiles  = [profile.base, profile.scratch]
  resources = {
    nfs  = { opts = "ro" }
    gpus = 2
    frac = 0.5
    on   = true
  }
}

node "c002" {
  mac      = "52:54:00:00:00:02"
  ip       = "10.99.0.12"
  profiles = [profile.base]
}
`}), Options{})
	n, _ := c.Node("c001")
	want := Resources{
		"fstab": []any{map[string]any{"spec": "tmpfs", "file": "/scratch", "vfstype": "tmpfs", "mntops": "size=1G"}},
		"nfs":   map[string]any{"server": "head", "opts": "ro", "vers": int64(4)},
		"site":  "lab",
		"gpus":  int64(2),
		"frac":  0.5,
		"on":    true,
	}
	if !reflect.DeepEqual(n.Resources, want) {
		t.Errorf("c001 resources\n%#v\nwant\n%#v", n.Resources, want)
	}
	if r := n.Origins["resources"]; r.Filename != "nodes.hcl" || r.Start.Line != 23 {
		t.Errorf("origin of resources: %s, want the node's attribute at nodes.hcl:23", r)
	}
	// The profile's own value is not changed by the merge.
	n2, _ := c.Node("c002")
	if got := n2.Resources["nfs"].(map[string]any)["opts"]; got != "rw" {
		t.Errorf("c002 nfs.opts = %v, want the profile's rw (the merge for c001 changed it?)", got)
	}
	if len(n2.Resources["fstab"].([]any)) != 1 || n2.Resources["fstab"].([]any)[0].(map[string]any)["file"] != "/home" {
		t.Errorf("c002 fstab %v", n2.Resources["fstab"])
	}
	// The JSON form round-trips (the evaluation cache stores it).
	back, err := ParseResourcesJSON(ResourcesJSON(n.Resources))
	if err != nil || !reflect.DeepEqual(back, n.Resources) {
		t.Errorf("round trip: %v %#v", err, back)
	}
}

// resources must be an object: anything else is an error at the
// attribute, naming the block.
func TestResourcesNotObject(t *testing.T) {
	for _, v := range []string{`"nfs"`, `["fstab"]`, `42`} {
		_, diags := Load(mapFS(map[string]string{"main.hcl": baseHCL + `
node "c001" {
  mac       = "52:54:00:00:00:01"
  ip        = "10.99.0.11"
  image     = image.rocky9
  network   = network.cluster
  resources = ` + v + `
}
`}), Options{})
		if !diags.HasErrors() {
			t.Fatalf("resources = %s: no error", v)
		}
		d := diags.Errs()[0].(*hcl.Diagnostic)
		if len(diags.Errs()) != 1 {
			t.Errorf("resources = %s: %d errors: %v", v, len(diags.Errs()), diags.Errs())
		}
		if d.Summary != "Invalid resources" || d.Subject == nil || d.Subject.Filename != "main.hcl" || d.Subject.Start.Line != 32 ||
			!strings.Contains(d.Detail, `node "c001" must be an object`) {
			t.Errorf("resources = %s: %s at %v: %s", v, d.Summary, d.Subject, d.Detail)
		}
	}
}

// A node's resources are desired state: changing them changes the
// cluster's hash (a comment does not).
func TestResourcesInClusterHash(t *testing.T) {
	load := func(res string) string {
		c := mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL + `
node "c001" {
  mac       = "52:54:00:00:00:01"
  ip        = "10.99.0.11"
  image     = image.rocky9
  network   = network.cluster
  resources = ` + res + `
}
`}), Options{})
		return c.Hash
	}
	a := load(`{ fstab = [{ spec = "head:/home" }] }`)
	if b := load(`{ fstab = [{ spec = "head:/home" }] } # same`); a != b {
		t.Error("a comment changed the hash")
	}
	if b := load(`{ fstab = [{ spec = "head:/scratch" }] }`); a == b {
		t.Error("a change of resources left the hash as it was")
	}
}
