package hclspec

import (
	"strings"
	"testing"
)

const rootNodes = `
profile "base" {
  image = image.rocky9
  root  = "tmpfs"
}
profile "big" {
  profiles  = [profile.base]
  root_size = "8G"
}
node "c001" {
  mac      = "52:54:00:00:00:01"
  ip       = "10.99.0.11"
  profiles = [profile.base]
}
node "c002" {
  mac       = "52:54:00:00:00:02"
  ip        = "10.99.0.12"
  profiles  = [profile.big]
  root_size = "75%"
}
node "c003" {
  mac   = "52:54:00:00:00:03"
  ip    = "10.99.0.13"
  image = image.rocky9
}
`

// TestRoot: root and root_size merge like the other attributes (the node
// wins over its profiles, included profiles first), with their defaults,
// and are part of the cluster's hash only where they reach a node.
func TestRoot(t *testing.T) {
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL, "nodes.hcl": rootNodes}), Options{})
	for _, tc := range []struct{ node, root, size string }{
		{"c001", RootTmpfs, DefaultRootSize},
		{"c002", RootTmpfs, "75%"},
		{"c003", RootInitramfs, DefaultRootSize},
	} {
		n, _ := c.Node(tc.node)
		if n.Root != tc.root || n.RootSize != tc.size {
			t.Errorf("%s: root %q size %q, want %q %q", tc.node, n.Root, n.RootSize, tc.root, tc.size)
		}
	}
	if n, _ := c.Node("c002"); n.Origins["root_size"].Start.Line != 19 || n.Origins["root"].Start.Line != 4 {
		t.Errorf("origins of c002: root_size at line %d, root at line %d", n.Origins["root_size"].Start.Line, n.Origins["root"].Start.Line)
	}

	hashOf := func(nodes string) string {
		return mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL, "nodes.hcl": nodes}), Options{}).Hash
	}
	if hashOf(strings.Replace(rootNodes, `root_size = "75%"`, `root_size = "60%"`, 1)) == c.Hash {
		t.Error("a tmpfs root's size changed, the hash did not")
	}
	if hashOf(strings.Replace(rootNodes, `root  = "tmpfs"`, `root  = "initramfs"`, 1)) == c.Hash {
		t.Error("root changed, the hash did not")
	}
	// The default written out reaches no node: the hash stays. root_size
	// on an initramfs root does: it sizes the tmpfs root of a two-stage
	// image.
	plain := strings.Replace(rootNodes, `root  = "tmpfs"`, ``, 1)
	if hashOf(plain) != hashOf(strings.Replace(plain, `image = image.rocky9
}
node "c001"`, `image = image.rocky9
  root = "initramfs"
}
node "c001"`, 1)) {
		t.Error("writing the default root changed the hash")
	}
	if hashOf(plain) == hashOf(strings.Replace(plain, `"75%"`, `"10%"`, 1)) {
		t.Error("root_size of an initramfs root (a two-stage image's tmpfs size) did not change the hash")
	}
}

func TestRootInvalid(t *testing.T) {
	for name, tc := range map[string]struct{ attr, want string }{
		"root":          {`root = "ramdisk"`, `Invalid root: root must be "initramfs"`},
		"root type":     {`root = ["tmpfs"]`, "must be string"},
		"size zero":     {`root_size = "0"`, `Invalid root_size: root_size "0": zero`},
		"size 0%":       {`root_size = "0%"`, "a percentage from 1% to 100%"},
		"size 101%":     {`root_size = "101%"`, "a percentage from 1% to 100%"},
		"size fraction": {`root_size = "50.5%"`, "not a whole percentage"},
		"size unit":     {`root_size = "8GB"`, "not a size"},
		"size negative": {`root_size = "-8G"`, "not a size"},
		"size empty":    {`root_size = ""`, "empty"},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := Load(mapFS(map[string]string{"main.hcl": baseHCL, "nodes.hcl": `
node "c001" {
  mac   = "52:54:00:00:00:01"
  ip    = "10.99.0.11"
  image = image.rocky9
  ` + tc.attr + `
}
`}), Options{})
			msg := strings.Join(errorLines(diags), "\n")
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "nodes.hcl:6:") {
				t.Fatalf("diagnostic %q, want %q at nodes.hcl:6", msg, tc.want)
			}
		})
	}
	for _, ok := range []string{"1%", "100%", "512M", "8G", "8g", "1t", "1048576"} {
		if why := checkRootSize(ok); why != "" {
			t.Errorf("root_size %q refused: %s", ok, why)
		}
	}
}
