package hclspec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
)

const baseHCL = `
server "head" {
  address = "10.99.0.1"
}

network "cluster" {
  subnet  = "10.99.0.0/24"
  gateway = "10.99.0.1"
}

image "rocky9" {
  source = "/images/rocky9"
}

image "alma9" {
  source = "/images/alma9"
}

overlay "generic" {
  source = "overlays/generic"
}

overlay "hosts" {
  builtin = "hosts"
}
`

func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{"overlays/generic/etc/motd": {Data: []byte("hi\n")}}
	for k, v := range files {
		m[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return m
}

func mustLoad(t *testing.T, fsys fstest.MapFS, opts Options) *Cluster {
	t.Helper()
	c, diags := Load(fsys, opts)
	if diags.HasErrors() {
		t.Fatalf("unexpected errors: %s", diags.Error())
	}
	return c
}

func TestMergeRules(t *testing.T) {
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL, "nodes.hcl": `
profile "base" {
  image       = image.rocky9
  kernel_args = ["quiet", "console=ttyS0"]
  tags        = { site = "lab", role = "none" }
}

profile "compute" {
  profiles         = [profile.base]
  network          = network.cluster
  runtime_overlays = [overlay.generic]
  tags             = { role = "compute", rack = "r1" }
}

profile "debug" {
  kernel_args = ["debug"]
}

node "c001" {
  mac      = "52-54-00-AA-BB-01"
  ip       = "10.99.0.11"
  profiles = [profile.compute, profile.debug]
  image    = image.alma9
  tags     = { rack = "r9" }
}
`}), Options{})
	n, ok := c.Node("c001")
	if !ok {
		t.Fatal("node c001 missing")
	}
	if n.MAC != "52:54:00:aa:bb:01" {
		t.Errorf("MAC %q, want normalised 52:54:00:aa:bb:01", n.MAC)
	}
	if n.Image != "alma9" {
		t.Errorf("image %q: the node's own attribute must win over profiles", n.Image)
	}
	if n.Network != "cluster" {
		t.Errorf("network %q, want cluster from profile compute", n.Network)
	}
	if got := strings.Join(n.KernelArgs, " "); got != "debug" {
		t.Errorf("kernel_args %q: lists replace, the later profile (debug) wins", got)
	}
	wantTags := map[string]string{"site": "lab", "role": "compute", "rack": "r9"}
	if fmt.Sprint(n.Tags) != fmt.Sprint(wantTags) {
		t.Errorf("tags %v, want %v (maps merge key by key)", n.Tags, wantTags)
	}
	for attr, want := range map[string]string{"image": "nodes.hcl:23", "network": "nodes.hcl:10", "kernel_args": "nodes.hcl:16", "tags.site": "nodes.hcl:5", "tags.role": "nodes.hcl:12", "tags.rack": "nodes.hcl:24"} {
		r := n.Origins[attr]
		if got := fmt.Sprintf("%s:%d", r.Filename, r.Start.Line); got != want {
			t.Errorf("origin of %s = %s, want %s", attr, got, want)
		}
	}
	if s, _ := c.Server("head"); fmt.Sprint(s.Networks) != "[cluster]" || s.HTTPPort != DefaultHTTPPort || s.DHCPMode != "authoritative" {
		t.Errorf("server defaults not applied: %+v", s)
	}
}

func TestForEachMapAndSet(t *testing.T) {
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL + `
locals {
  macs = [for l in split("\n", file("racks/r1.macs")) : trimspace(l) if l != "" && !startswith(l, "#")]
}

profile "compute" {
  image            = image.rocky9
  runtime_overlays = [overlay.generic]
}

node "rack1" {
  for_each = { for i, mac in local.macs : format("r1n%02d", i + 1) => { mac = mac, ip = cidrhost("10.99.0.0/24", 100 + i) } }
  mac      = each.value.mac
  ip       = each.value.ip
  profiles = [profile.compute]
}

node "named" {
  for_each = toset(["x1", "x2"])
  mac      = each.key == "x1" ? "52:54:00:00:09:01" : "52:54:00:00:09:02"
  ip       = each.key == "x1" ? "10.99.0.91" : "10.99.0.92"
  profiles = [profile.compute]
}
`, "racks/r1.macs": "# vendor header\n52:54:00:00:01:01\n52:54:00:00:01:02\n\n52:54:00:00:01:03\n"}), Options{})
	var names []string
	for _, n := range c.Nodes {
		names = append(names, n.Name+"="+n.IP.String())
	}
	want := "[r1n01=10.99.0.100 r1n02=10.99.0.101 r1n03=10.99.0.102 x1=10.99.0.91 x2=10.99.0.92]"
	if fmt.Sprint(names) != want {
		t.Errorf("nodes %v, want %s", names, want)
	}
	if n, _ := c.Node("r1n02"); n.Network != "cluster" {
		t.Errorf("network %q: a node without network takes the one whose subnet holds its ip", n.Network)
	}
}

func TestVariables(t *testing.T) {
	files := map[string]string{"main.hcl": baseHCL + `
variable "first" {
  type    = number
  default = 10
}

variable "img" {
  type = string
}

profile "p" {
  image            = var.img == "alma" ? image.alma9 : image.rocky9
  runtime_overlays = [overlay.generic]
}

node "n1" {
  mac      = "52:54:00:00:00:01"
  ip       = cidrhost("10.99.0.0/24", var.first)
  profiles = [profile.p]
}
`}
	c := mustLoad(t, mapFS(files), Options{Vars: map[string]string{"first": "42", "img": "alma"}})
	if n, _ := c.Node("n1"); n.IP.String() != "10.99.0.42" || n.Image != "alma9" {
		t.Errorf("got ip %s image %s, want 10.99.0.42 alma9", n.IP, n.Image)
	}
	_, diags := Load(mapFS(files), Options{Vars: map[string]string{"first": "ten", "img": "x"}})
	if !hasSummary(diags, "Invalid value for variable") {
		t.Errorf("a non-number for a number variable must be an error: %v", diags)
	}
	_, diags = Load(mapFS(files), Options{Vars: map[string]string{"img": "x", "nope": "1"}})
	if !hasSummary(diags, "Value for undeclared variable") {
		t.Errorf("an undeclared --var must be an error: %v", diags)
	}
	_, diags = Load(mapFS(files), Options{})
	if !hasSummary(diags, "No value for required variable") {
		t.Errorf("a variable without value must be an error: %v", diags)
	}
}

func hasSummary(diags hcl.Diagnostics, s string) bool {
	for _, d := range diags {
		if d.Summary == s {
			return true
		}
	}
	return false
}

func TestFunctions(t *testing.T) {
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL + `
locals {
  sub   = cidrsubnet("10.0.0.0/8", 8, 99)
  mask  = cidrnetmask("10.99.0.0/24")
  rows  = csvdecode("name,mac\nq1,52:54:00:00:07:01\n")
  cfg   = jsondecode("{\"args\": [\"a\", \"b\"]}")
  n     = tonumber("12") + length(keys({ a = 1, b = 2 }))
  label = upper(replace(lookup({ x = "a-b" }, "x", "none"), "-", "_"))
}

profile "p" {
  image            = image.rocky9
  runtime_overlays = [overlay.generic]
  kernel_args      = concat(local.cfg.args, [local.sub, local.mask, tostring(local.n), local.label, join(",", values({ k = "v" }))])
}

node "q1" {
  mac      = local.rows[0].mac
  ip       = "10.99.0.7"
  profiles = [profile.p]
}
`}), Options{})
	n, _ := c.Node("q1")
	want := "a b 10.99.0.0/16 255.255.255.0 14 A_B v"
	if got := strings.Join(n.KernelArgs, " "); got != want {
		t.Errorf("kernel_args %q, want %q", got, want)
	}
}

// TestFileConfinedToRepository checks that file() cannot read outside the
// repository, by path or through a symlink, when the repository is opened
// the way the CLI opens it (os.Root).
func TestFileConfinedToRepository(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	if err := os.MkdirAll(filepath.Join(repo, "overlays/generic"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("52:54:00:00:00:01"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../secret", filepath.Join(repo, "link")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"link", "../secret", "/etc/hostname", "a/../../secret"} {
		src := baseHCL + fmt.Sprintf("\nlocals {\n  x = file(%q)\n}\n", p)
		if err := os.WriteFile(filepath.Join(repo, "main.hcl"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		root, err := os.OpenRoot(repo)
		if err != nil {
			t.Fatal(err)
		}
		_, diags := Load(root.FS(), Options{})
		root.Close()
		if !diags.HasErrors() {
			t.Errorf("file(%q) must be refused", p)
		}
	}
}

func TestHashIgnoresFormatting(t *testing.T) {
	nodes := `
profile "p" {
  image            = image.rocky9
  runtime_overlays = [overlay.generic]
}

node "n1" {
  mac      = "52:54:00:00:00:01"
  ip       = "10.99.0.11"
  profiles = [profile.p]
}
`
	a := mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL + nodes}), Options{})
	reformatted := "# a comment\n" + strings.ReplaceAll(baseHCL, "  ", "    ")
	b := mustLoad(t, mapFS(map[string]string{"a.hcl": reformatted, "b.hcl": "// nodes\n" + nodes}), Options{})
	if a.Hash != b.Hash {
		t.Errorf("comments, layout and file split changed the hash: %s vs %s", a.Hash, b.Hash)
	}
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL + strings.Replace(nodes, "10.99.0.11", "10.99.0.12", 1)}), Options{})
	if a.Hash == c.Hash {
		t.Error("changing a node's ip must change the hash")
	}
}

func TestLargeInputs(t *testing.T) {
	// A 10 MB file: one huge string value.
	big := strings.Repeat("x", 10<<20)
	_, diags := Load(mapFS(map[string]string{"main.hcl": baseHCL + "\nlocals {\n  big = \"" + big + "\"\n}\n"}), Options{})
	if diags.HasErrors() {
		t.Errorf("a 10 MB file with a valid long string should load: %s", diags.Error())
	}
	// Over the size limit: a clear error, no crash.
	_, diags = Load(mapFS(map[string]string{"main.hcl": strings.Repeat("#", MaxFileSize+1)}), Options{})
	if !hasSummary(diags, "Cannot read file") {
		t.Errorf("a file over the limit must be refused: %v", diags)
	}
	// 100,000 nodes (written out, as a generator would).
	if testing.Short() {
		t.Skip("100k nodes skipped in -short mode")
	}
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": generated(100_000, false)}), Options{})
	if len(c.Nodes) != 100_000 {
		t.Errorf("loaded %d nodes, want 100000", len(c.Nodes))
	}
}

// generated writes a repository with n nodes, as literal node blocks or as
// one for_each over a MAC file.
func generated(n int, forEach bool) string {
	var b strings.Builder
	b.WriteString(`
server "head" {
  address = "10.0.0.1"
}

network "big" {
  subnet  = "10.0.0.0/8"
  gateway = "10.0.0.1"
}

image "rocky9" {
  source = "/images/rocky9"
}

overlay "generic" {
  source = "overlays/generic"
}

profile "compute" {
  image            = image.rocky9
  network          = network.big
  kernel_args      = ["quiet", "console=ttyS0"]
  runtime_overlays = [overlay.generic]
  tags             = { role = "compute" }
}
`)
	if forEach {
		b.WriteString(`
node "all" {
  for_each = { for i, mac in compact(split("\n", file("nodes.macs"))) : format("n%06d", i + 1) => { mac = mac, ip = cidrhost("10.0.0.0/8", 256 + i) } }
  mac      = each.value.mac
  ip       = each.value.ip
  profiles = [profile.compute]
}
`)
		return b.String()
	}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "node \"n%06d\" {\n  mac      = %q\n  ip       = %q\n  profiles = [profile.compute]\n}\n", i+1, macFor(i), ipFor(i))
	}
	return b.String()
}

func macFor(i int) string {
	return fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff)
}

func ipFor(i int) string {
	v := 256 + i
	return fmt.Sprintf("10.%d.%d.%d", v>>16&0xff, v>>8&0xff, v&0xff)
}

func macFile(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(macFor(i) + "\n")
	}
	return b.String()
}
