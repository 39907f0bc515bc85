package reconcile

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

const (
	priorHash = "0000000000000000000000000000000000000a11"
	nextHash  = "1111111111111111111111111111111111111b22"
)

// planEnv computes desired states of test repositories. Image directories
// live in t.TempDir(): their paths and content keys differ on every run,
// so the text is normalised (paths to /images/NAME, content keys to
// <content-N>) before it is compared with a golden file.
type planEnv struct {
	t      *testing.T
	image  string // the default image (var.image)
	image2 string // another image, other content
	paths  map[string]string
}

func newPlanEnv(t *testing.T) *planEnv {
	e := &planEnv{t: t, paths: map[string]string{}}
	e.image = e.newImage("rocky")
	e.image2 = e.newImage("alma")
	writeFile(t, filepath.Join(e.image2, "etc/os-release"), "NAME=alma\n")
	return e
}

// newImage makes a directory image shown as /images/NAME.
func (e *planEnv) newImage(name string) string {
	dir := makeImage(e.t, filepath.Join(e.t.TempDir(), name))
	e.paths[dir] = "/images/" + name
	return dir
}

// desire computes the desired state of files (var.image is e.image
// unless vars say otherwise) as commit hash.
func (e *planEnv) desire(files, vars map[string]string, images bool, hash, subject string) *Inventory {
	e.t.Helper()
	v := map[string]string{"image": e.image}
	if strings.Contains(files["main.hcl"], `variable "image2"`) {
		v["image2"] = e.image2
	}
	for k, val := range vars {
		v[k] = val
	}
	c, srv := loadFiles(e.t, files, v)
	inv, err := Desire(fakeCommit(hash, subject), c, srv, images)
	if err != nil {
		e.t.Fatal(err)
	}
	inv.keyAssetKeys(testAssetSecret) // as the server does
	return inv
}

// testAssetSecret keys the asset keys of planEnv's states.
var testAssetSecret = []byte("0123456789abcdef0123456789abcdef")

// running is the desired state of files as the prior commit.
func (e *planEnv) running(files map[string]string) *Inventory {
	return e.desire(files, nil, true, priorHash, "before")
}

// next is the desired state of files as the next commit.
func (e *planEnv) next(files map[string]string, subject string) *Inventory {
	return e.desire(files, nil, true, nextHash, subject)
}

// planCase is one plan: a running state (nil: nothing applied) and a
// desired one, and the nodes that must need a reboot.
type planCase struct {
	name   string
	states func(e *planEnv) (running, desired *Inventory)
	reboot []string
}

// diff plans a case as Diff does for the reconciler and CLI.
func diff(t testing.TB, running, desired *Inventory) *Plan {
	t.Helper()
	var digest string
	if running != nil {
		data, err := running.Encode()
		if err != nil {
			t.Fatal(err)
		}
		digest = Digest(data)
	}
	return Diff(running, desired, digest)
}

// imageHCL declares a second image (unused unless a node names it).
const imageHCL = `
variable "image2" {
  type = string
}

image "alma" {
  source = var.image2
}
`

// planCases are the cases of TestPlanGolden, by group.
func planCases() []planCase {
	return slices.Concat(planNodeCases(), planClusterCases(), planOverlayCases(), planNodeSetCases(), planImageCases())
}

// editedBase returns the states of a case: the base files running, and
// desired those files as f edits them, committed with subject.
func editedBase(f func(map[string]string) map[string]string, subject string) func(*planEnv) (*Inventory, *Inventory) {
	return func(e *planEnv) (*Inventory, *Inventory) {
		return e.running(baseFiles()), e.next(f(baseFiles()), subject)
	}
}

// planNodeCases: changes of a node's own attributes (and the first plan).
func planNodeCases() []planCase {
	b := baseFiles
	same := editedBase
	t := &nopTB{}
	return []planCase{
		{name: "add", states: func(e *planEnv) (*Inventory, *Inventory) {
			return nil, e.next(b(), "first commit")
		}},
		{name: "add_unknown_image", states: func(e *planEnv) (*Inventory, *Inventory) {
			return nil, e.desire(b(), nil, false, nextHash, "planned in CI without images")
		}},
		{name: "no_changes_comment", states: same(func(f map[string]string) map[string]string {
			return edit(t, f, "main.hcl", "# a small test cluster", "# a small test cluster\n# (with a comment)")
		}, "only a comment")},
		{name: "node_ip", states: same(func(f map[string]string) map[string]string {
			return edit(t, f, "main.hcl", `ip       = "10.99.0.11"`, `ip       = "10.99.0.21"`)
		}, "renumber c001")},
		{name: "kernel_args", reboot: []string{"c001", "c002"}, states: same(func(f map[string]string) map[string]string {
			return edit(t, f, "main.hcl", `["quiet", "console=ttyS0"]`, `["quiet", "console=ttyS0,115200", "nomodeset"]`)
		}, "serial speed")},
		{name: "tags", states: same(func(f map[string]string) map[string]string {
			return edit(t, f, "main.hcl", `{ role = "compute" }`, `{ role = "compute", rack = "r1" }`)
		}, "tag the rack")},
		{name: "node_image", reboot: []string{"c002"}, states: func(e *planEnv) (*Inventory, *Inventory) {
			before := with(b(), "main.hcl", b()["main.hcl"]+imageHCL)
			after := edit(t, before, "main.hcl", "ip       = \"10.99.0.12\"\n", "ip       = \"10.99.0.12\"\n  image    = image.alma\n")
			return e.running(before), e.next(after, "c002 runs alma")
		}},
		{name: "tmpfs_root", reboot: []string{"c002"}, states: same(func(f map[string]string) map[string]string {
			return edit(t, f, "main.hcl", "ip       = \"10.99.0.12\"\n", "ip       = \"10.99.0.12\"\n  root     = \"tmpfs\"\n  root_size = \"8G\"\n")
		}, "c002 on a tmpfs root")},
		{name: "asset_key_added", states: same(func(f map[string]string) map[string]string {
			return edit(t, f, "main.hcl", "ip       = \"10.99.0.12\"\n", "ip       = \"10.99.0.12\"\n  asset_key = \"SECRET-TAG-1\"\n")
		}, "c002 asset key")},
		{name: "asset_key_changed", states: func(e *planEnv) (*Inventory, *Inventory) {
			before := edit(t, b(), "main.hcl", "ip       = \"10.99.0.12\"\n", "ip       = \"10.99.0.12\"\n  asset_key = \"SECRET-TAG-1\"\n")
			after := edit(t, before, "main.hcl", "SECRET-TAG-1", "SECRET-TAG-2")
			return e.running(before), e.next(after, "c002 new asset key")
		}},
	}
}

// planClusterCases: changes of networks and the server.
func planClusterCases() []planCase {
	same := editedBase
	t := &nopTB{}
	return []planCase{
		{name: "network_settings", states: same(func(f map[string]string) map[string]string {
			f = edit(t, f, "main.hcl", `lease_time = "1h"`, "lease_time = \"2h\"\n  dynamic_range = [\"10.99.0.200\", \"10.99.0.250\"]")
			return edit(t, f, "main.hcl", `dns        = ["10.99.0.1"]`, `dns        = ["10.99.0.1", "10.99.0.2"]`)
		}, "longer leases")},
		{name: "network_add", states: same(func(f map[string]string) map[string]string {
			return with(f, "main.hcl", f["main.hcl"]+"\nnetwork \"storage\" {\n  subnet = \"10.98.0.0/24\"\n}\n")
		}, "storage network")},
		{name: "server_http_port", reboot: []string{"c001", "c002"}, states: same(func(f map[string]string) map[string]string {
			return edit(t, f, "main.hcl", `address = "10.99.0.1"`, "address   = \"10.99.0.1\"\n  http_port = 8080")
		}, "move HTTP")},
		{name: "server_renamed", states: same(func(f map[string]string) map[string]string {
			return edit(t, f, "main.hcl", `server "head"`, `server "head2"`)
		}, "rename the server")},
	}
}

// planOverlayCases: changes of overlay files, templates, overlay lists and
// template data.
func planOverlayCases() []planCase {
	same := editedBase
	t := &nopTB{}
	return []planCase{
		{name: "overlay_file_edit", states: same(func(f map[string]string) map[string]string {
			return with(f, "overlays/generic/etc/motd", "welcome to the cluster\n")
		}, "new motd")},
		{name: "overlay_file_add", states: same(func(f map[string]string) map[string]string {
			return with(f, "overlays/generic/etc/banner", "hello\n")
		}, "add a banner")},
		{name: "overlay_file_remove", states: same(func(f map[string]string) map[string]string {
			return without(f, "overlays/generic/etc/issue")
		}, "drop issue")},
		{name: "overlay_template_edit", states: same(func(f map[string]string) map[string]string {
			return with(f, "overlays/generic/etc/node.tmpl", "name={{.Node.Name}}\nip={{.Node.IP}}\n")
		}, "node.tmpl shows the IP")},
		{name: "overlay_list", states: same(func(f map[string]string) map[string]string {
			return edit(t, f, "main.hcl", "ip       = \"10.99.0.12\"\n", "ip       = \"10.99.0.12\"\n  runtime_overlays = [overlay.generic]\n")
		}, "c002 without hosts")},
		{name: "system_overlay", reboot: []string{"c001", "c002"}, states: same(func(f map[string]string) map[string]string {
			return with(f, "overlays/init/etc/init.conf", "mode=diskless\ndebug=1\n")
		}, "debug init")},
		{name: "template_data_node_added", states: same(func(f map[string]string) map[string]string {
			return with(f, "main.hcl", f["main.hcl"]+"\nnode \"c003\" {\n  mac      = \"52:54:00:00:00:03\"\n  ip       = \"10.99.0.13\"\n  profiles = [profile.compute]\n}\n")
		}, "add c003")},
	}
}

// planNodeSetCases: nodes retired, replaced or renamed (with other changes).
func planNodeSetCases() []planCase {
	same := editedBase
	t := &nopTB{}
	return []planCase{
		{name: "destroy", states: same(func(f map[string]string) map[string]string {
			return edit(t, f, "main.hcl", "node \"c002\" {\n  mac      = \"52:54:00:00:00:02\"\n  ip       = \"10.99.0.12\"\n  profiles = [profile.compute]\n}\n", "")
		}, "retire c002")},
		{name: "replace_mac", states: same(func(f map[string]string) map[string]string {
			return edit(t, f, "main.hcl", `52:54:00:00:00:02`, `52:54:00:00:00:22`)
		}, "new board in c002")},
		{name: "mixed", reboot: []string{"c001"}, states: same(func(f map[string]string) map[string]string {
			f = edit(t, f, "main.hcl", "ip       = \"10.99.0.11\"\n", "ip       = \"10.99.0.21\"\n  kernel_args = [\"quiet\"]\n")
			f = edit(t, f, "main.hcl", "node \"c002\"", "node \"c003\"")
			return with(f, "overlays/generic/etc/motd", "maintenance tonight\n")
		}, "renumber c001, rename c002 to c003")},
	}
}

// planImageCases: changes of an image's source or content, and images not
// examined.
func planImageCases() []planCase {
	b := baseFiles
	return []planCase{
		{name: "image_source", reboot: []string{"c001", "c002"}, states: func(e *planEnv) (*Inventory, *Inventory) {
			return e.running(b()), e.desire(b(), map[string]string{"image": e.image2}, true, nextHash, "switch to alma")
		}},
		{name: "image_content", reboot: []string{"c001", "c002"}, states: func(e *planEnv) (*Inventory, *Inventory) {
			img := e.newImage("rocky-rebuilt")
			vars := map[string]string{"image": img}
			before := e.desire(b(), vars, true, priorHash, "before")
			writeFile(e.t, filepath.Join(img, "boot/vmlinuz-1"), "another kernel, longer\n")
			return before, e.desire(b(), vars, true, nextHash, "same commit, image rebuilt")
		}},
		{name: "unknown_image_same_source", states: func(e *planEnv) (*Inventory, *Inventory) {
			return e.running(b()), e.desire(b(), nil, false, nextHash, "planned without images")
		}},
		{name: "unknown_image_missing_source", reboot: []string{"c001", "c002"}, states: func(e *planEnv) (*Inventory, *Inventory) {
			return e.running(b()), e.desire(b(), map[string]string{"image": "/nonexistent/images/rocky10"}, true, nextHash, "rocky 10")
		}},
	}
}

// nopTB lets planCases build edits outside a test; an edit that does not
// apply panics (a broken table, not a failing plan).
type nopTB struct{ testing.TB }

func (nopTB) Helper() {}
func (nopTB) Fatalf(format string, args ...any) {
	panic("planCases: bad edit: " + strings.TrimSpace(format))
}

// normalise replaces the temporary image paths and their content keys.
func (e *planEnv) normalise(text string, invs ...*Inventory) string {
	for dir, name := range e.paths {
		text = strings.ReplaceAll(text, dir, name)
	}
	n := 0
	seen := map[string]bool{}
	for _, inv := range invs {
		if inv == nil {
			continue
		}
		for _, name := range sortedKeys(inv.Images) {
			k := Short(inv.Images[name].Input)
			if k == "" || seen[k] {
				continue
			}
			seen[k] = true
			n++
			text = strings.ReplaceAll(text, `"`+k+`"`, `"<content-`+string(rune('0'+n))+`>"`)
		}
	}
	return text
}

// TestPlanGolden prints the plan of every case, without colour, and
// compares it with testdata/plan/NAME.golden (go test -update rewrites
// them); "mixed" is also printed with colour.
func TestPlanGolden(t *testing.T) {
	for _, pc := range planCases() {
		t.Run(pc.name, func(t *testing.T) {
			e := newPlanEnv(t)
			running, desired := pc.states(e)
			p := diff(t, running, desired)
			var buf bytes.Buffer
			if err := p.WriteText(&buf, false); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, pc.name+".golden", e.normalise(buf.String(), running, desired))
			if pc.name == "mixed" {
				buf.Reset()
				if err := p.WriteText(&buf, true); err != nil {
					t.Fatal(err)
				}
				checkGolden(t, pc.name+".color.golden", e.normalise(buf.String(), running, desired))
			}

			reboot := pc.reboot
			if reboot == nil {
				reboot = []string{}
			}
			if !slices.Equal(p.NeedsReboot, reboot) {
				t.Errorf("needs_reboot = %q, want %q", p.NeedsReboot, reboot)
			}
			for _, rc := range p.ResourceChanges {
				if rc.NeedsReboot != slices.Contains(reboot, rc.Name) && rc.Type == "node" {
					t.Errorf("%s: needs_reboot = %v", rc.Address, rc.NeedsReboot)
				}
			}
		})
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "plan", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
