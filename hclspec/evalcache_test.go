package hclspec

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
)

// cacheRepo is a repository whose node blocks depend on a profile, a
// local, a variable and a file() input, with node blocks in two files and
// one for_each block.
func cacheRepo() map[string]string {
	return map[string]string{
		"main.hcl": baseHCL + `
variable "site" {
  type    = string
  default = "lab"
}

locals {
  rack = "r1"
}

profile "compute" {
  image            = image.rocky9
  network          = network.cluster
  kernel_args      = ["quiet"]
  runtime_overlays = [overlay.generic]
}

profile "gpu" {
  profiles    = [profile.compute]
  kernel_args = ["quiet", "nouveau.modeset=0"]
}
`,
		"nodes.hcl": `# compute nodes
node "c001" {
  mac      = "52:54:00:00:00:01"
  ip       = "10.99.0.11"
  profiles = [profile.compute]
  tags     = { rack = local.rack, site = var.site }
}

node "c002" {
  mac      = "52:54:00:00:00:02"
  ip       = "10.99.0.12"
  profiles = [profile.compute]
}

// a GPU node
node "g001" {
  mac      = "52:54:00:00:01:01"
  ip       = "10.99.0.21"
  profiles = [profile.gpu]
  tags     = { serial = trimspace(file("serials/g001")) }
}
`,
		"more.hcl": `node "m" {
  for_each = { m1 = "10.99.0.31", m2 = "10.99.0.32" }
  mac      = each.key == "m1" ? "52:54:00:00:02:01" : "52:54:00:00:02:02"
  ip       = each.value
  profiles = [profile.compute]
}
`,
		"serials/g001": "SN-1\n",
	}
}

// loadCachedAndWhole loads files with the warm cache c and without a cache, and
// fails the test unless both give the same cluster (every node equal,
// ranges included, and the same Hash) or, for an invalid repository, the
// same diagnostics.
func loadCachedAndWhole(t *testing.T, c *EvalCache, files map[string]string, vars map[string]string) *Cluster {
	t.Helper()
	fsys := fstest.MapFS{}
	for k, v := range mapFS(files) {
		fsys[k] = v
	}
	want, wantDiags := Load(fsys, Options{Vars: vars})
	got, gotDiags := Load(fsys, Options{Vars: vars, Cache: c})
	if wantDiags.Error() != gotDiags.Error() {
		t.Fatalf("diagnostics with the cache:\n%s\nwithout:\n%s", gotDiags.Error(), wantDiags.Error())
	}
	if want == nil || got == nil {
		if want != got {
			t.Fatalf("cluster with the cache %v, without %v", got, want)
		}
		return nil
	}
	if got.Hash != want.Hash {
		t.Errorf("Hash with the cache %s, without %s", got.Hash, want.Hash)
	}
	if len(got.Nodes) != len(want.Nodes) {
		t.Fatalf("%d nodes with the cache, %d without", len(got.Nodes), len(want.Nodes))
	}
	for i := range want.Nodes {
		if !reflect.DeepEqual(decodedOrigins(got.Nodes[i]), want.Nodes[i]) {
			t.Errorf("node %s with the cache:\n%+v\nwithout:\n%+v", want.Nodes[i].Name, got.Nodes[i], want.Nodes[i])
		}
	}
	return got
}

// decodedOrigins returns n with its Origins decoded (a node taken from the
// evaluation cache keeps them encoded), to compare with a node evaluated.
// Each origin is read both ways: AllOrigins and Origin.
func decodedOrigins(n *Node) *Node {
	cp := *n
	cp.Origins, cp.lazy = map[string]hcl.Range{}, lazyOrigins{}
	for k := range n.AllOrigins() {
		cp.Origins[k] = n.Origin(k)
	}
	if n.lazy.raw == nil && n.Origins == nil {
		cp.Origins = nil
	}
	return &cp
}

// A warm cache gives exactly what a whole evaluation gives, for every kind
// of change, and hits only the node blocks the change cannot reach: kept
// in memory (serve's) and read from its file by each load (plan's, whose
// entries are decoded, and moved, only when used).
func TestEvalCacheSameAsWholeLoad(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		c := NewEvalCache()
		testEvalCacheSteps(t, func() *EvalCache { return c })
	})
	t.Run("file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "cache")
		var c *EvalCache
		testEvalCacheSteps(t, func() *EvalCache {
			if c != nil {
				if err := c.save(true); err != nil {
					t.Fatal(err)
				}
			}
			c = OpenEvalCache(p)
			return c
		})
	})
}

// testEvalCacheSteps loads a series of changes with the cache next
// returns before each load.
func testEvalCacheSteps(t *testing.T, next func() *EvalCache) {
	c := next()
	base := cacheRepo()
	loadCachedAndWhole(t, c, base, nil)
	if s := c.Stats(); s.Hits != 0 || s.Misses != 4 {
		t.Fatalf("cold cache: %+v, want 4 misses", s)
	}
	c = next()
	loadCachedAndWhole(t, c, base, nil)
	if s := c.Stats(); s.Hits != 4 || s.Misses != 0 {
		t.Fatalf("same repository again: %+v, want 4 hits", s)
	}
	tag := func(cl *Cluster, node, key string) string {
		n, _ := cl.Node(node)
		return n.Tags[key]
	}
	steps := []struct {
		name         string
		files        func(map[string]string) map[string]string
		vars         map[string]string
		hits, misses int
		check        func(*Cluster) string
	}{
		{"comment only", func(f map[string]string) map[string]string {
			return with(f, "nodes.hcl", f["nodes.hcl"]+"# the end\n")
		}, nil, 4, 0, nil},
		{"one node's block", func(f map[string]string) map[string]string {
			return with(f, "nodes.hcl", strings.Replace(f["nodes.hcl"], `"10.99.0.11"`, `"10.99.0.111"`, 1))
		}, nil, 3, 1, func(cl *Cluster) string {
			n, _ := cl.Node("c001")
			return n.IP.String()
		}},
		{"a block above grows: the rest move", func(f map[string]string) map[string]string {
			return with(f, "nodes.hcl", strings.Replace(f["nodes.hcl"], "profiles = [profile.compute]\n  tags", "profiles = [profile.compute]\n\n\n  tags", 1))
		}, nil, 3, 1, nil},
		{"a profile", func(f map[string]string) map[string]string {
			return with(f, "main.hcl", strings.Replace(f["main.hcl"], `"nouveau.modeset=0"`, `"nouveau.modeset=1"`, 1))
		}, nil, 0, 4, func(cl *Cluster) string {
			n, _ := cl.Node("g001")
			return n.KernelArgs[1]
		}},
		{"a local", func(f map[string]string) map[string]string {
			return with(f, "main.hcl", strings.Replace(f["main.hcl"], `rack = "r1"`, `rack = "r2"`, 1))
		}, nil, 0, 4, func(cl *Cluster) string { return tag(cl, "c001", "rack") }},
		{"a variable", func(f map[string]string) map[string]string { return f },
			map[string]string{"site": "hq"}, 0, 4, func(cl *Cluster) string { return tag(cl, "c001", "site") }},
		{"a file() input", func(f map[string]string) map[string]string {
			return with(f, "serials/g001", "SN-2\n")
		}, nil, 3, 1, func(cl *Cluster) string { return tag(cl, "g001", "serial") }},
		{"an invalid node", func(f map[string]string) map[string]string {
			return with(f, "nodes.hcl", strings.Replace(f["nodes.hcl"], `"52:54:00:00:00:02"`, `"52:54:00:00:00:01"`, 1))
		}, nil, -1, -1, nil},
	}
	c = next()
	prev := loadCachedAndWhole(t, c, base, nil)
	for _, st := range steps {
		files := st.files(base)
		c = next()
		got := loadCachedAndWhole(t, c, files, st.vars)
		if st.hits >= 0 {
			if s := c.Stats(); s.Hits != st.hits || s.Misses != st.misses {
				t.Errorf("%s: %+v, want %d hits and %d misses", st.name, s, st.hits, st.misses)
			}
		} else if got != nil {
			t.Errorf("%s: loaded", st.name)
		}
		if st.check != nil && got != nil && st.check(got) == st.check(prev) {
			t.Errorf("%s: %q before and after the change", st.name, st.check(got))
		}
		// And back: the change undone is seen too.
		c = next()
		loadCachedAndWhole(t, c, base, nil)
	}
}

// The cache kept in a file is read back by another process's load.
func TestEvalCacheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cache")
	c := OpenEvalCache(p)
	loadCachedAndWhole(t, c, cacheRepo(), nil)
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c2 := OpenEvalCache(p)
	loadCachedAndWhole(t, c2, cacheRepo(), nil)
	if s := c2.Stats(); s.Hits != 4 || s.Misses != 0 {
		t.Errorf("cache read from its file: %+v, want 4 hits", s)
	}
	writeFileT(t, p, "not a cache")
	c3 := OpenEvalCache(p)
	loadCachedAndWhole(t, c3, cacheRepo(), nil)
	if s := c3.Stats(); s.Misses != 4 {
		t.Errorf("a damaged cache file: %+v, want 4 misses", s)
	}
}

func with(files map[string]string, path, content string) map[string]string {
	out := make(map[string]string, len(files))
	for k, v := range files {
		out[k] = v
	}
	out[path] = content
	return out
}

func writeFileT(t *testing.T, p, data string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The cache file encodes every field of Node (but Interfaces: nodes with
// interface blocks are not cached); a new field must be added to
// evalcache_codec.go, and this list.
func TestEvalCacheCodecCoversNode(t *testing.T) {
	var names []string
	for _, f := range reflect.VisibleFields(reflect.TypeOf(Node{})) {
		names = append(names, f.Name)
	}
	want := "Name MAC IP Profiles Image Network KernelArgs SystemOverlays RuntimeOverlays Tags Resources AssetKeySHA256 BMC Root RootSize Interfaces NetworkConfig Users Origins Range lazy"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("Node's fields are\n%s\nthe cache encodes\n%s", got, want)
	}
	n := &Node{Name: "a", MAC: "52:54:00:00:00:01", IP: netip.MustParseAddr("10.0.0.1"), Profiles: []string{"p"},
		Image: "i", Network: "n", KernelArgs: []string{}, SystemOverlays: nil, RuntimeOverlays: []string{"o"},
		Tags: map[string]string{"k": "v"}, Resources: Resources{"fstab": []any{map[string]any{"spec": "head:/home", "freq": int64(0)}}, "x": 1.5, "b": true, "z": nil}, AssetKeySHA256: "sha256:00", BMC: &BMC{Driver: "ipmi", Address: "10.1.0.1", Port: 623, Credentials: "c", Insecure: true},
		Root: "tmpfs", RootSize: "50%", NetworkConfig: "networkd", Users: []string{"alice"},
		Origins: map[string]hcl.Range{"mac": {Filename: "n.hcl", Start: hcl.Pos{Line: 2, Column: 3, Byte: 20}, End: hcl.Pos{Line: 2, Column: 9, Byte: 26}}},
		Range:   hcl.Range{Filename: "n.hcl", Start: hcl.Pos{Line: 1, Column: 6, Byte: 5}, End: hcl.Pos{Line: 1, Column: 9, Byte: 8}}}
	in := map[string]*cacheEntry{"k": {File: "n.hcl", Line: 1, Byte: 0, End: 40, Nodes: []*Node{n}, Deps: map[string]string{"f": "absent"}}}
	out, err := decodeEntries(encodeEntries(in), map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	e := out["k"]
	nodes, err := entryNodes(e, map[string]string{}, 1, 0)
	if err != nil || !reflect.DeepEqual(decodedOrigins(nodes[0]), n) {
		t.Errorf("decoded %+v %v", nodes, err)
	}
	if nodes[0].Origins != nil || nodes[0].Origin("mac") != n.Origins["mac"] || nodes[0].Origin("ip") != (hcl.Range{}) {
		t.Errorf("a decoded node's origins: map %v (want nil: kept encoded), mac %v, ip %v", nodes[0].Origins, nodes[0].Origin("mac"), nodes[0].Origin("ip"))
	}
	head := *e
	head.Nodes, head.raw = in["k"].Nodes, nil
	if want := *in["k"]; !reflect.DeepEqual(head, want) {
		t.Errorf("decoded entry %+v, want %+v", head, want)
	}
	// Read at another place, the ranges inside its block move with it.
	nodes, err = entryNodes(out["k"], map[string]string{}, 3, 10)
	if err != nil || nodes[0].Origin("mac").Start.Line != 4 || nodes[0].AllOrigins()["mac"].Start.Byte != 30 || nodes[0].Range.Start.Byte != 15 {
		t.Errorf("moved by 2 lines and 10 bytes: %+v %v", nodes, err)
	}
	data := encodeEntries(in)
	for i := range data {
		if _, err := decodeEntries(data[:i], map[string]string{}); err == nil {
			t.Fatalf("a cache file cut at %d of %d bytes decoded", i, len(data))
		}
	}
	// Any byte changed (a MAC, a line) is seen: the file is no cache.
	for i := len(cacheFormat) + 1; i < len(data); i++ {
		bad := append([]byte(nil), data...)
		bad[i] ^= 0x20
		if _, err := decodeEntries(bad, map[string]string{}); err == nil {
			t.Fatalf("a cache file with byte %d of %d changed decoded", i, len(data))
		}
	}
}

// InFile: only a file-backed cache that its file holds whole (read or
// written since the last block evaluated).
func TestEvalCacheInFile(t *testing.T) {
	if NewEvalCache().InFile() {
		t.Error("a cache in memory only is in a file")
	}
	p := filepath.Join(t.TempDir(), "cache")
	c := OpenEvalCache(p)
	if c.InFile() {
		t.Error("a cache without its file is in it")
	}
	loadCachedAndWhole(t, c, cacheRepo(), nil)
	if c.InFile() {
		t.Error("an evaluated cache not saved is in its file")
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if !c.InFile() {
		t.Error("a saved cache is not in its file")
	}
	c2 := OpenEvalCache(p)
	loadCachedAndWhole(t, c2, cacheRepo(), nil)
	if !c2.InFile() {
		t.Errorf("a cache read from its file, every block a hit (%+v), is not in it", c2.Stats())
	}
	files := cacheRepo()
	files = with(files, "nodes.hcl", strings.Replace(files["nodes.hcl"], `"10.99.0.12"`, `"10.99.0.42"`, 1))
	loadCachedAndWhole(t, c2, files, nil)
	if c2.InFile() {
		t.Errorf("a cache that evaluated a new block (%+v) is in its file", c2.Stats())
	}
}
