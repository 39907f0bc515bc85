package artifact

import (
	"bytes"
	"context"
	"errors"
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
