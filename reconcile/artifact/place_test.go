package artifact

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cavaliergopher/cpio"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/hashicorp/hcl/v2"
)

// makeMergedUsrImage writes an image the way current distributions lay
// theirs out: /bin, /sbin, /lib are links into /usr, /root is 0700, and
// /etc/passwd and /etc/group name a munge user and group.
func makeMergedUsrImage(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "boot/vmlinuz-1.0"), "kernel", 0o644)
	write(t, filepath.Join(dir, "usr/sbin/init"), "#!/bin/sh\n", 0o755)
	write(t, filepath.Join(dir, "usr/bin/sh"), "sh", 0o755)
	write(t, filepath.Join(dir, "usr/lib/os-release"), "ID=test\n", 0o644)
	write(t, filepath.Join(dir, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nmunge:x:105:107::/nonexistent:/usr/sbin/nologin\n", 0o644)
	write(t, filepath.Join(dir, "etc/group"), "root:x:0:\nmunge:x:107:\nssh:x:108:\n", 0o644)
	write(t, filepath.Join(dir, "etc/foo"), "a file", 0o644)
	write(t, filepath.Join(dir, "root/.profile"), "", 0o644)
	if err := os.Chmod(filepath.Join(dir, "root"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "usr/local"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]string{
		{"usr/sbin", "sbin"},
		{"usr/bin", "bin"},
		{"/usr/lib", "lib"},               // absolute
		{"../../sbin", "usr/local/sbin2"}, // a chain: -> sbin -> usr/sbin
		{"foo", "etc/foolink"},            // a link to a file
		{"loopb", "loopa"},
		{"loopa", "loopb"},
	} {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// siteFS is an overlay repository for the merged-/usr image.
func siteFS() fstest.MapFS {
	return fstest.MapFS{
		"overlays/site/sbin/foo":                          {Data: []byte("foo"), Mode: 0o755},
		"overlays/site/usr/local/sbin2/tool":              {Data: []byte("tool"), Mode: 0o755},
		"overlays/site/lib/site/x.conf":                   {Data: []byte("x"), Mode: 0o644},
		"overlays/site/root/.ssh/authorized_keys":         {Data: []byte("ssh-ed25519 AAAA"), Mode: 0o644},
		"overlays/site/etc/munge/munge.key":               {Data: []byte("secret"), Mode: 0o644},
		"overlays/site/etc/ssh/ssh_host_ed25519_key.tmpl": {Data: []byte("key of {{.Node.Name}}\n"), Mode: 0o644},
		"overlays/site/new/dir/file":                      {Data: []byte("new"), Mode: 0o644},
		"overlays/clash/etc/foo/bar":                      {Data: []byte("x"), Mode: 0o644},
		"overlays/clashlink/etc/foolink/bar":              {Data: []byte("x"), Mode: 0o644},
		"overlays/overdir/usr/local":                      {Data: []byte("x"), Mode: 0o644},
		"overlays/loop/loopa/x":                           {Data: []byte("x"), Mode: 0o644},
	}
}

var siteFiles = []*hclspec.FileAttr{
	{Glob: "etc/munge/munge.key", Mode: 0o400, ModeSet: true, Owner: "munge", Group: "munge"},
	{Glob: "etc/ssh/ssh_host_*_key", Mode: 0o600, ModeSet: true, Group: "108"},
	{Glob: "root/.ssh", Mode: 0o700, ModeSet: true},
}

func siteCluster(t testing.TB, system, runtime []string) *testCluster {
	return &testCluster{
		fs:     siteFS(),
		images: []*hclspec.Image{{Name: "img", Source: makeMergedUsrImage(t)}},
		overlays: []*hclspec.Overlay{
			{Name: "site", Source: "overlays/site", Files: siteFiles},
			{Name: "clash", Source: "overlays/clash"},
			{Name: "clashlink", Source: "overlays/clashlink"},
			{Name: "overdir", Source: "overlays/overdir"},
			{Name: "loop", Source: "overlays/loop"},
		},
		nodes: mkNodes(2, "img", system, runtime),
	}
}

// cpioHeaders returns the headers of every entry of an artifact, by name
// (the last entry wins), and the names in order.
func cpioHeaders(t testing.TB, path string) (map[string]*cpio.Header, []string) {
	t.Helper()
	out := map[string]*cpio.Header{}
	var names []string
	for _, m := range gzipMembers(t, path) {
		r := cpio.NewReader(bytes.NewReader(m))
		for {
			h, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out[h.Name] = h
			names = append(names, h.Name)
		}
	}
	return out, names
}

// TestOverlayThroughImageLinks: overlay paths under the image's links are
// written through them, the image's directories get no entries (their
// owner and mode survive the unpacking), and file blocks set owners (by
// the image's names) and modes, in system and runtime overlays alike.
func TestOverlayThroughImageLinks(t *testing.T) {
	agent := writeTestAgent(t)
	tc := siteCluster(t, []string{"site"}, []string{"site"})
	b, err := New(Config{StateDir: t.TempDir(), Agent: agent})
	if err != nil {
		t.Fatal(err)
	}
	r := mustBuild(t, b, tc.build())
	a := r.Nodes["n00001"]
	for kind, p := range map[string]string{"system": a.System.Path, "runtime": a.Runtime.Path} {
		hdrs, names := cpioHeaders(t, p)
		for _, want := range []string{"usr/sbin/foo", "usr/sbin/tool", "usr/lib/site/x.conf", "root/.ssh", "root/.ssh/authorized_keys",
			"etc/munge", "etc/munge/munge.key", "etc/ssh", "etc/ssh/ssh_host_ed25519_key", "new", "new/dir", "new/dir/file", "usr/lib/site"} {
			if hdrs[want] == nil {
				t.Errorf("%s overlay lacks %s: %v", kind, want, names)
			}
		}
		for _, bad := range []string{"sbin", "sbin/foo", "lib", "usr/local/sbin2", "usr", "usr/sbin", "usr/lib", "usr/local", "etc", "root"} {
			if hdrs[bad] != nil {
				t.Errorf("%s overlay has an entry %s (mode %o): it would replace or chmod the image's", kind, bad, hdrs[bad].Mode)
			}
		}
		check := func(name string, mode cpio.FileMode, uid, gid int) {
			t.Helper()
			h := hdrs[name]
			if h == nil {
				return
			}
			if h.Mode&0o7777 != mode || h.Uid != uid || h.Guid != gid {
				t.Errorf("%s overlay: %s is %o %d:%d, want %o %d:%d", kind, name, h.Mode&0o7777, h.Uid, h.Guid, mode, uid, gid)
			}
		}
		check("etc/munge/munge.key", 0o400, 105, 107)
		check("etc/ssh/ssh_host_ed25519_key", 0o600, 0, 108)
		check("root/.ssh", 0o700, 0, 0)
		check("root/.ssh/authorized_keys", 0o644, 0, 0)
		check("usr/sbin/foo", 0o755, 0, 0)
	}
	if _, names := cpioHeaders(t, a.System.Path); !strings.Contains(strings.Join(names, " "), AgentPath) {
		t.Errorf("the system overlay lacks the agent at %s: %v", AgentPath, names)
	}

	// Unpacked in boot order onto the image, the links and modes hold.
	if os.Geteuid() != 0 {
		return // cpio cannot give the files their owners
	}
	root := t.TempDir()
	for _, p := range []string{a.Image.Path, a.System.Path, a.Runtime.Path} {
		for _, m := range gzipMembers(t, p) {
			cmd := exec.Command("cpio", "-idmu", "--quiet", "--no-absolute-filenames")
			cmd.Dir, cmd.Stdin = root, bytes.NewReader(m)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("cpio: %v\n%s", err, out)
			}
		}
	}
	for _, l := range []string{"sbin", "bin", "lib", "usr/local/sbin2"} {
		if fi, err := os.Lstat(filepath.Join(root, l)); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("/%s is no longer a link: %v %v", l, fi, err)
		}
	}
	for p, want := range map[string]string{"sbin/init": "#!/bin/sh\n", "sbin/foo": "foo", "sbin/tool": "tool"} {
		if got := readFile(t, filepath.Join(root, p)); got != want {
			t.Errorf("/%s: %q, want %q", p, got, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "root")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("/root: %v %v, want the image's 0700", fi, err)
	}
}

// TestImageLayoutReused: a build that reuses the image artifact (a new
// Builder on the same state) still places overlays on its layout.
func TestImageLayoutReused(t *testing.T) {
	tc := siteCluster(t, []string{"site"}, nil)
	state := t.TempDir()
	b := newBuilder(t, state)
	r := mustBuild(t, b, tc.build())
	if err := b.Commit(r); err != nil {
		t.Fatal(err)
	}
	tc.fs.(fstest.MapFS)["overlays/site/sbin/bar"] = &fstest.MapFile{Data: []byte("bar"), Mode: 0o755}
	b2 := newBuilder(t, state)
	r2 := mustBuild(t, b2, tc.build())
	if r2.Images["img"].Rebuilt {
		t.Error("the image was built again: its layout should have come from the store")
	}
	hdrs, names := cpioHeaders(t, r2.Nodes["n00000"].System.Path)
	if hdrs["usr/sbin/bar"] == nil || hdrs["sbin"] != nil {
		t.Errorf("the overlay is not placed through the image's links: %v", names)
	}
}

// TestOverlayLayoutConflicts: what the kernel cannot put on the image is a
// repository error naming the overlay, the path and the image.
func TestOverlayLayoutConflicts(t *testing.T) {
	for name, tc := range map[string]struct {
		overlay string
		want    []string
	}{
		"dir over file":      {"clash", []string{"overlay clash", "/etc/foo", "image img", "as a file"}},
		"dir over file link": {"clashlink", []string{"overlay clashlink", "/etc/foolink", "/etc/foo", "image img"}},
		"file over dir":      {"overdir", []string{"overlay overdir", "/usr/local", "image img", "directory"}},
		"link loop":          {"loop", []string{"overlay loop", "/loopa", "image img", "too many levels"}},
	} {
		t.Run(name, func(t *testing.T) {
			c := siteCluster(t, nil, []string{tc.overlay})
			_, err := newBuilder(t, t.TempDir()).Build(context.Background(), c.build(), "")
			var re *RepoError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T), want a *RepoError", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestOverlayOwnerUnknown: an owner the image's /etc/passwd lacks is a
// repository error at the attribute, naming the image.
func TestOverlayOwnerUnknown(t *testing.T) {
	tc := siteCluster(t, nil, []string{"site"})
	at := hcl.Range{Filename: "main.hcl", Start: hcl.Pos{Line: 7, Column: 13}, End: hcl.Pos{Line: 7, Column: 20}}
	tc.overlays[0].Files = []*hclspec.FileAttr{{Glob: "etc/munge/munge.key", Owner: "munge2", OwnerRange: at}}
	_, err := newBuilder(t, t.TempDir()).Build(context.Background(), tc.build(), "")
	var re *RepoError
	var le *locError
	if !errors.As(err, &re) || !errors.As(err, &le) {
		t.Fatalf("error %v (%T), want a located *RepoError", err, err)
	}
	for _, w := range []string{`owner "munge2"`, "etc/munge/munge.key", "/etc/passwd", "image img"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if le.subject == nil || *le.subject != at {
		t.Errorf("error placed at %v, want the owner attribute %v", le.subject, at)
	}
}

// TestFileBlockMatchesNothing: a file block whose glob matches nothing is
// an error at the block (Check and Build), and `*` does not cross `/`.
func TestFileBlockMatchesNothing(t *testing.T) {
	tc := siteCluster(t, nil, []string{"site"})
	at := hcl.Range{Filename: "main.hcl", Start: hcl.Pos{Line: 9, Column: 3}, End: hcl.Pos{Line: 9, Column: 30}}
	tc.overlays[0].Files = []*hclspec.FileAttr{{Glob: "etc/*.key", Mode: 0o400, ModeSet: true, Range: at}}
	_, err := newBuilder(t, t.TempDir()).Build(context.Background(), tc.build(), "")
	if err == nil || !strings.Contains(err.Error(), `file "etc/*.key" matches no file`) {
		t.Fatalf("build error %v, want the glob named", err)
	}
	diags := Check(tc.build(), "")
	if len(diags) != 1 || diags[0].Subject == nil || *diags[0].Subject != at || !strings.Contains(diags[0].Detail, "matches no file") {
		t.Fatalf("Check: %v, want one diagnostic at %v", diags, at)
	}
}

func TestLayoutRealpath(t *testing.T) {
	l := &Layout{Links: map[string]string{
		"sbin": "usr/sbin", "lib": "/usr/lib", "usr/local/sbin2": "../../sbin", "etc/up": "../..",
		"a": "b", "b": "a", "abs": "/", "usr/lib64": "lib",
	}, Kinds: map[string]byte{"usr": kindDir, "usr/sbin": kindDir, "usr/lib": kindDir, "etc": kindDir, "usr/local": kindDir}}
	for in, want := range map[string]string{
		"sbin/foo":            "usr/sbin/foo",
		"lib/x/y":             "usr/lib/x/y",
		"usr/local/sbin2/foo": "usr/sbin/foo",
		"etc/up/sbin":         "usr/sbin", // .. stops at the root
		"abs/sbin":            "usr/sbin",
		"usr/lib64/z":         "usr/lib/z",
		"etc/x":               "etc/x",
		"":                    "",
	} {
		got, err := l.realpath(in)
		if err != nil || got != want {
			t.Errorf("realpath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := l.realpath("a/x"); !errors.Is(err, errLinkLoop) {
		t.Errorf("a loop: %v, want errLinkLoop", err)
	}
}

func TestLayoutEncode(t *testing.T) {
	tr := newTree()
	for p, ino := range map[string]*inode{
		"etc":        {mode: typeDir | 0o755},
		"etc/passwd": {mode: typeReg | 0o644, data: bytesContent("root:x:0:0::/root:/bin/sh\n# comment\nbad line\nmunge:x:105:107::/:/bin/false\nmunge:x:9:9::/:/bin/false\n"), size: 99},
		"etc/group":  {mode: typeReg | 0o644, data: bytesContent("munge:x:107:\n"), size: 13},
		"sbin":       {mode: typeSymlink | 0o777, link: "usr/sbin"},
		"dev/null":   {mode: typeChar | 0o666},
	} {
		if b, ok := ino.data.(bytesContent); ok {
			ino.size = int64(len(b))
		}
		if err := tr.put(p, ino); err != nil {
			t.Fatal(err)
		}
	}
	l, err := layoutOf(tr)
	if err != nil {
		t.Fatal(err)
	}
	if l.Users["munge"] != 105 || l.Users["root"] != 0 || len(l.Users) != 2 || l.Groups["munge"] != 107 {
		t.Errorf("users %v groups %v", l.Users, l.Groups)
	}
	data, err := l.encode()
	if err != nil {
		t.Fatal(err)
	}
	again, err := l.encode()
	if err != nil || !bytes.Equal(data, again) {
		t.Error("the same layout encodes to other bytes")
	}
	back, err := decodeLayout(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.Links["sbin"] != "usr/sbin" || !back.isDir("etc") || !back.isDir("dev") || back.Kinds["dev/null"] != kindOther ||
		back.Kinds["etc/passwd"] != kindOther || back.Users["munge"] != 105 || back.Groups["munge"] != 107 || len(back.Kinds) != len(l.Kinds) {
		t.Errorf("decoded %+v, want %+v", back, l)
	}
}

// TestSharedSegmentPerImage: the shared part of the system overlays is
// placed on each image: an image that has /etc/systemd/system (0700 here)
// gets no entry for it, one without gets the directories, and each node's
// overlay is what one archive placed on its image gives.
func TestSharedSegmentPerImage(t *testing.T) {
	agent := writeTestAgent(t)
	tc := siteCluster(t, nil, nil)
	withUnits := makeMergedUsrImage(t)
	if err := os.MkdirAll(filepath.Join(withUnits, "etc/systemd/system"), 0o700); err != nil {
		t.Fatal(err)
	}
	tc.images = append(tc.images, &hclspec.Image{Name: "units", Source: withUnits})
	tc.nodes[1].Image = "units"
	b, err := New(Config{StateDir: t.TempDir(), Agent: agent})
	if err != nil {
		t.Fatal(err)
	}
	c := tc.build()
	r := mustBuild(t, b, c)
	if len(b.segments) != 2 {
		t.Fatalf("%d shared segments for two images, want 2", len(b.segments))
	}
	plain, _ := cpioHeaders(t, r.Nodes["n00000"].System.Path)
	units, _ := cpioHeaders(t, r.Nodes["n00001"].System.Path)
	for _, d := range []string{"etc/systemd", "etc/systemd/system", "usr/lib/gitboot"} {
		if plain[d] == nil {
			t.Errorf("image img lacks /%s, its system overlay has no entry for it", d)
		}
	}
	for _, d := range []string{"etc/systemd", "etc/systemd/system", "etc", "usr", "usr/lib"} {
		if units[d] != nil {
			t.Errorf("image units has /%s, its system overlay has an entry for it (mode %o)", d, units[d].Mode)
		}
	}
	for _, n := range []string{"n00000", "n00001"} {
		if units := units["etc/systemd/system/gitboot-agent.service"]; units == nil {
			t.Fatalf("no agent unit in %s's system overlay", n)
		}
		node, _ := c.Node(n)
		view := &imageView{name: node.Image}
		for h, l := range b.layouts {
			if b.images[mustInput(t, c, node.Image)].Layout.Hex == h {
				view.lay = l
			}
		}
		if view.lay == nil {
			t.Fatalf("no layout for image %s", node.Image)
		}
		want := singleArchiveOn(t, c, agent, n, view)
		compareTrees(t, unpack(t, want), unpack(t, r.Nodes[n].System.Path))
	}
}

func mustInput(t testing.TB, c *hclspec.Cluster, image string) string {
	t.Helper()
	img, _ := c.Image(image)
	src, err := examineImage(img)
	if err != nil {
		t.Fatal(err)
	}
	return src.input
}

// TestRender: what `gitboot overlay render` shows of a node: every entry
// of its overlays with its overlay, mode, owner and size, placed on the
// image the server built, and one file's rendered bytes.
func TestRender(t *testing.T) {
	agent := writeTestAgent(t)
	tc := siteCluster(t, []string{"site"}, []string{"site"})
	state := t.TempDir()
	b, err := New(Config{StateDir: state, Agent: agent})
	if err != nil {
		t.Fatal(err)
	}
	c := tc.build()
	if err := b.Commit(mustBuild(t, b, c)); err != nil {
		t.Fatal(err)
	}
	r, err := Render(state, c, "", "n00001", agent)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Placed || r.Image != "img" {
		t.Errorf("placed %v image %q, want the built image's layout", r.Placed, r.Image)
	}
	got := map[string]RenderedFile{}
	for _, f := range r.Files {
		got[f.Kind+" "+f.Path] = f
	}
	for key, want := range map[string]RenderedFile{
		"system usr/sbin/foo":                 {Overlay: "site", Type: "file", Mode: 0o755, Size: 3},
		"runtime etc/munge/munge.key":         {Overlay: "site", Type: "file", Mode: 0o400, UID: 105, GID: 107, Size: 6},
		"runtime root/.ssh":                   {Overlay: "site", Type: "dir", Mode: 0o700},
		"system " + AgentPath:                 {Overlay: "gitboot-init", Type: "file", Mode: 0o755, Size: got["system "+AgentPath].Size},
		"system etc/ssh/ssh_host_ed25519_key": {Overlay: "site", Type: "file", Mode: 0o600, GID: 108, Size: int64(len("key of n00001\n"))},
	} {
		g, ok := got[key]
		want.Kind, want.Path = strings.Fields(key)[0], strings.Fields(key)[1]
		if !ok || g != want {
			t.Errorf("%s: %+v, want %+v", key, g, want)
		}
	}
	for _, bad := range []string{"system sbin", "system sbin/foo", "runtime root", "system usr"} {
		if _, ok := got[bad]; ok {
			t.Errorf("lists %s, which the archive does not hold", bad)
		}
	}
	if data, f, ok := r.Content("/etc/ssh"); ok {
		t.Errorf("a directory has content: %v %q", f, data)
	}
	for _, p := range []string{"/etc/ssh/ssh_host_ed25519_key", "sbin/foo"} {
		data, f, ok := r.Content(p)
		if !ok || (p == "sbin/foo") != (string(data) == "foo") || f.Size != int64(len(data)) {
			t.Errorf("Content(%s) = %q %+v %v", p, data, f, ok)
		}
	}

	// Without the server's state: as the overlays have it.
	r, err = Render("", c, "", "n00001", "")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range r.Files {
		found = found || f.Path == "sbin/foo"
	}
	if r.Placed || !found {
		t.Errorf("unplaced render: placed %v, sbin/foo listed %v", r.Placed, found)
	}
	if _, err := Render(state, c, "", "nope", ""); err == nil {
		t.Error("an unknown node renders")
	}
}

func TestLayoutPlace(t *testing.T) {
	l := &Layout{Links: map[string]string{"sbin": "usr/sbin", "etc/foolink": "foo", "dangling": "/nowhere", "etc/rc": "/sbin"},
		Kinds: map[string]byte{"usr": kindDir, "usr/sbin": kindDir, "etc": kindDir, "etc/foo": kindOther}}
	for _, c := range []struct {
		p    string
		dir  bool
		want string // "" : an error
	}{
		{"sbin/x", false, "usr/sbin/x"},
		{"sbin", true, "usr/sbin"},
		{"sbin", false, ""},                   // a file over a directory's link (merged /usr)
		{"etc/foolink", false, "etc/foolink"}, // a file replaces a file's link, as the overlay says
		{"etc/rc/x", false, "usr/sbin/x"},
		{"etc/foo", false, "etc/foo"},
		{"etc/foo", true, ""},
		{"etc/foo/x", false, ""},
		{"etc/foolink/x", false, ""},
		{"dangling/x", false, ""},
		{"dangling", false, "dangling"},
		{"usr", false, ""},
		{"new/dir/x", false, "new/dir/x"},
	} {
		got, err := l.place(c.p, c.dir)
		if (c.want == "") != (err != nil) || got != c.want {
			t.Errorf("place(%q, dir %v) = %q, %v; want %q", c.p, c.dir, got, err, c.want)
		}
	}
}

// TestImageLayoutFromArtifact: an image recorded without a layout (by an
// older gitboot) is not built again: its layout is read from the image
// artifact, the same as reading the image gives.
func TestImageLayoutFromArtifact(t *testing.T) {
	tc := siteCluster(t, []string{"site"}, nil)
	b := newBuilder(t, t.TempDir())
	r := mustBuild(t, b, tc.build())
	var rec imageRecord
	for _, x := range b.images {
		rec = x
	}
	fromSource := b.layouts[rec.Layout.Hex]
	fromArtifact, err := b.layoutFromArtifact(rec.Image)
	if err != nil {
		t.Fatal(err)
	}
	if fromSource == nil || fmt.Sprint(fromArtifact) != fmt.Sprint(fromSource) {
		t.Errorf("layout from the artifact %v, from the source %v", fromArtifact, fromSource)
	}
	// Forget it, as a manifest of an older gitboot would.
	rec.Layout = ref{}
	b.images[rec.Input] = rec
	tc.fs.(fstest.MapFS)["overlays/site/sbin/bar"] = &fstest.MapFile{Data: []byte("bar"), Mode: 0o755}
	r2 := mustBuild(t, b, tc.build())
	if r2.Images["img"].Rebuilt || r2.Images["img"].Digest != r.Images["img"].Digest {
		t.Error("the image was built again")
	}
	if hdrs, names := cpioHeaders(t, r2.Nodes["n00000"].System.Path); hdrs["usr/sbin/bar"] == nil {
		t.Errorf("not placed on the image's layout: %v", names)
	}
}
