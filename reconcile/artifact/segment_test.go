package artifact

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/gitboot/gitboot/hclspec"
)

// segmentCluster is overlayCluster with overlays that collide with
// gitboot's init overlay: "replace" writes /init over the builtin one, a
// file into the builtin's etc/systemd/system and sbin as a directory of
// its own mode; "dirclash" a file where the builtin has a directory with
// entries; "through" a directory where the builtin has /init.
func segmentCluster(t testing.TB, system []string, n int) *testCluster {
	tc := overlayCluster(t, system, []string{"secrets"}, n)
	repo := repoFS()
	for p, f := range map[string]*fstest.MapFile{
		"overlays/replace/init":                             {Data: []byte("#!/bin/sh\necho replaced\n"), Mode: 0o700},
		"overlays/replace/etc/systemd/system/extra.service": {Data: []byte("[Unit]\n"), Mode: 0o644},
		"overlays/replace/sbin":                             {Mode: fs.ModeDir | 0o700},
		"overlays/dirclash/etc/systemd":                     {Data: []byte("not a directory\n"), Mode: 0o644},
		"overlays/through/init/x":                           {Data: []byte("x"), Mode: 0o644},
	} {
		repo[p] = f
	}
	tc.fs = repo
	tc.overlays = append(tc.overlays, &hclspec.Overlay{Name: "replace", Source: "overlays/replace"},
		&hclspec.Overlay{Name: "dirclash", Source: "overlays/dirclash"}, &hclspec.Overlay{Name: "through", Source: "overlays/through"})
	return tc
}

// onlyView returns the image view of b's only image layout.
func onlyView(t testing.TB, b *Builder, image string) *imageView {
	t.Helper()
	if len(b.layouts) != 1 {
		t.Fatalf("%d image layouts, want 1", len(b.layouts))
	}
	for _, l := range b.layouts {
		return &imageView{name: image, lay: l}
	}
	return nil
}

// onlySegment returns b's only shared segment.
func onlySegment(t testing.TB, b *Builder) *sharedSegment {
	t.Helper()
	if len(b.segments) != 1 {
		t.Fatalf("%d shared segments for one image, want 1", len(b.segments))
	}
	for _, s := range b.segments {
		return s
	}
	return nil
}

// singleArchive builds node's system overlay the way one archive of all its
// overlays gives it (the layout before shared segments), into a file.
func singleArchive(t testing.TB, b *Builder, c *hclspec.Cluster, agentPath, node string) string {
	t.Helper()
	n, _ := c.Node(node)
	return singleArchiveOn(t, c, agentPath, node, onlyView(t, b, n.Image))
}

// singleArchiveOn is singleArchive placed on img.
func singleArchiveOn(t testing.TB, c *hclspec.Cluster, agentPath, node string, img *imageView) string {
	t.Helper()
	agent, err := readAgent(agentPath)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := buildServer(c, "")
	if err != nil {
		t.Fatal(err)
	}
	ds := newDataSet(c, srv)
	var data []byte
	err = nodeInputs(c, ds, c.Nodes, []ovFile{*agent}, func(n *hclspec.Node, _ nodeRecord, sys, _ []*overlay) {
		if n.Name != node {
			return
		}
		var cache sync.Map
		if data, err = renderOverlay(&job{ovs: sys, node: n, img: img}, ds, &cache); err != nil {
			t.Fatal(err)
		}
	})
	if err != nil || data == nil {
		t.Fatalf("no system overlay for %s: %v", node, err)
	}
	p := filepath.Join(t.TempDir(), "single.img.gz")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeTestAgent(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), AgentName)
	var b bytes.Buffer
	for i := 0; b.Len() < 300<<10; i++ {
		b.WriteString("\x7fELF agent code block ")
		b.WriteByte(byte(i * 7919))
	}
	write(t, p, b.String(), 0o755)
	return p
}

// TestSystemOverlaySegments: every node's system overlay is the shared
// segment (gitboot's /init, the agent's unit and binary: the same gzip
// member, byte for byte, for every node) followed by a gzip member of the
// node's own files; its digest and size are those of the stored bytes;
// unpacked member after member (a later entry replacing an earlier one, as
// Linux does) it gives the tree one archive of all the overlays gives,
// also where a repository overlay replaces the builtin /init and a
// directory's mode; builds are reproducible and incremental.
func TestSystemOverlaySegments(t *testing.T) {
	agent := writeTestAgent(t)
	tc := segmentCluster(t, []string{"generic", "hostname", "replace", "override"}, 3)
	b, err := New(Config{StateDir: t.TempDir(), Agent: agent})
	if err != nil {
		t.Fatal(err)
	}
	c := tc.build()
	r := mustBuild(t, b, c)
	if r.Built != 4 { // 3 system overlays, 1 shared runtime overlay
		t.Errorf("built %d, want 4", r.Built)
	}
	var prefix []byte
	for _, name := range []string{"n00000", "n00001", "n00002"} {
		a := r.Nodes[name].System
		data, err := os.ReadFile(a.Path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fileSHA(t, a.Path); got != a.Digest || int64(len(data)) != a.Size {
			t.Errorf("%s: the system overlay's file has %s (%d bytes), the artifact says %s (%d bytes)", name, got, len(data), a.Digest, a.Size)
		}
		checkSegmentMembers(t, name, a.Path)
		// The first member's compressed bytes are the same for every node.
		shl := len(onlySegment(t, b).data)
		if prefix == nil {
			prefix = data[:shl]
		} else if !bytes.Equal(data[:shl], prefix) {
			t.Errorf("%s: the shared segment's bytes differ from n00000's", name)
		}
		checkSegmentTree(t, b, c, agent, name, a.Path)
	}
	if r.Nodes["n00000"].System.Digest == r.Nodes["n00001"].System.Digest {
		t.Error("two nodes with different hostnames share a system overlay")
	}

	// Unchanged: nothing built. One node's IP: only its system overlay.
	if r2 := mustBuild(t, b, c); r2.Built != 0 || r2.Manifest != r.Manifest {
		t.Errorf("unchanged rebuild built %d", r2.Built)
	}
	tc.nodes[1].IP = tc.nodes[1].IP.Next()
	r3 := mustBuild(t, b, tc.build())
	if r3.Built != 1 || r3.Nodes["n00001"].System.Digest == r.Nodes["n00001"].System.Digest ||
		r3.Nodes["n00002"].System.Digest != r.Nodes["n00002"].System.Digest {
		t.Errorf("one IP changed: built %d; n00001 %s -> %s", r3.Built, r.Nodes["n00001"].System.Digest, r3.Nodes["n00001"].System.Digest)
	}
	if data, err := os.ReadFile(r3.Nodes["n00001"].System.Path); err != nil || !bytes.HasPrefix(data, prefix) {
		t.Errorf("the rebuilt node's system overlay does not start with the shared segment (%v)", err)
	}

	// Reproducible: a fresh store gives the same bytes.
	fresh, err := New(Config{StateDir: t.TempDir(), Agent: agent})
	if err != nil {
		t.Fatal(err)
	}
	r4 := mustBuild(t, fresh, tc.build())
	for name, a := range r3.Nodes {
		if r4.Nodes[name].System.Digest != a.System.Digest {
			t.Errorf("%s: a fresh store built system overlay %s, the first %s", name, r4.Nodes[name].System.Digest, a.System.Digest)
		}
	}
}

// checkSegmentMembers checks that node name's system overlay at path is
// two gzip members: the shared one with /init, the agent and its unit,
// and the node's own files without the agent.
func checkSegmentMembers(t *testing.T, name, path string) {
	members := gzipMembers(t, path)
	if len(members) != 2 {
		t.Fatalf("%s: system overlay of %d gzip members, want 2 (shared, node)", name, len(members))
	}
	shared := listCPIO(t, members[0])
	for _, want := range []string{"init", AgentPath, "etc/systemd/system/gitboot-agent.service"} {
		if !slices.Contains(shared, want) {
			t.Errorf("%s: the first member lacks %s: %v", name, want, shared)
		}
	}
	own := listCPIO(t, members[1])
	for _, want := range []string{"etc/hostname", "etc/network.conf", "init", "sbin"} {
		if !slices.Contains(own, want) {
			t.Errorf("%s: the node's member lacks %s: %v", name, want, own)
		}
	}
	if slices.Contains(own, AgentPath) {
		t.Errorf("%s: the node's member holds the agent again", name)
	}
}

// checkSegmentTree checks that node name's system overlay at path unpacks
// to the tree of one archive of all its overlays, with the repository's
// /init, the node's hostname and the repository's mode of sbin.
func checkSegmentTree(t *testing.T, b *Builder, c *hclspec.Cluster, agent, name, path string) {
	want := unpack(t, singleArchive(t, b, c, agent, name))
	got := unpack(t, path)
	compareTrees(t, want, got)
	if s := readFile(t, filepath.Join(got, "init")); s != "#!/bin/sh\necho replaced\n" {
		t.Errorf("%s: /init %q, want the repository's", name, s)
	}
	if s := readFile(t, filepath.Join(got, "etc/hostname")); s != name+"\n" {
		t.Errorf("%s: /etc/hostname %q", name, s)
	}
	if fi, err := os.Stat(filepath.Join(got, "sbin")); err != nil || fi.Mode() != fs.ModeDir|0o700 {
		t.Errorf("%s: sbin: %v %v, want the repository's mode 0700", name, fi.Mode(), err)
	}
}

// TestSharedSegmentKeepsNoContent: the shared segment the builder keeps
// between builds holds its compressed bytes (no spare capacity)
// and its entries' names and types, not their content (the agent binary,
// 7 MB, would otherwise stay in serve's heap for good); a later build
// that renders a node's system overlay on it still splits it correctly.
func TestSharedSegmentKeepsNoContent(t *testing.T) {
	agent := writeTestAgent(t)
	tc := segmentCluster(t, []string{"generic", "hostname", "replace"}, 2)
	b, err := New(Config{StateDir: t.TempDir(), Agent: agent})
	if err != nil {
		t.Fatal(err)
	}
	mustBuild(t, b, tc.build())
	s := onlySegment(t, b)
	// The allocator rounds up to its size class (at most 1/8 more) or,
	// beyond 32 KiB, a page; a buffer grown by doubling has up to 2x.
	if len(s.data) == 0 || cap(s.data) > len(s.data)+len(s.data)/8+8192 {
		t.Errorf("segment data: len %d cap %d, want no spare capacity", len(s.data), cap(s.data))
	}
	var held []string
	_ = s.tree.walk(func(p string, ino *inode) error {
		if ino.data != nil || ino.link != "" {
			held = append(held, p)
		}
		return nil
	})
	if len(held) > 0 {
		t.Errorf("the kept segment's tree holds content of %v", held)
	}
	n, ok := s.tree.lookup(AgentPath)
	if !ok || n.ino.mode != typeReg|0o755 {
		t.Fatalf("the kept segment's tree lacks /%s as a regular file 0755 (%v)", AgentPath, ok)
	}
	tc.nodes[1].IP = tc.nodes[1].IP.Next()
	c := tc.build()
	r := mustBuild(t, b, c)
	if r.Built != 1 {
		t.Errorf("one IP changed: built %d, want 1", r.Built)
	}
	checkSegmentMembers(t, "n00001", r.Nodes["n00001"].System.Path)
	checkSegmentTree(t, b, c, agent, "n00001", r.Nodes["n00001"].System.Path)
}

// TestSystemOverlayNoNodeFiles: a node with no system_overlays gets the
// shared segment alone.
func TestSystemOverlayNoNodeFiles(t *testing.T) {
	agent := writeTestAgent(t)
	b, err := New(Config{StateDir: t.TempDir(), Agent: agent})
	if err != nil {
		t.Fatal(err)
	}
	r := mustBuild(t, b, segmentCluster(t, nil, 2).build())
	a := r.Nodes["n00000"].System
	data, err := os.ReadFile(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	seg := onlySegment(t, b)
	if !bytes.Equal(data, seg.data) || fileSHA(t, a.Path) != a.Digest {
		t.Errorf("a system overlay without node files is %d bytes (%s), want the %d-byte shared segment", len(data), a.Digest, len(seg.data))
	}
	if names := checkArchive(t, a.Path); !slices.Contains(names, AgentPath) || !slices.Contains(names, "init") {
		t.Errorf("lists %v", names)
	}
}

// TestSystemOverlayConflicts: where the segments would unpack to another
// tree than one archive (a file where the init overlay has a directory
// with entries, a directory where it has /init), the system overlay is one
// archive, as before.
func TestSystemOverlayConflicts(t *testing.T) {
	agent := writeTestAgent(t)
	tc := segmentCluster(t, []string{"hostname", "dirclash"}, 2)
	b, err := New(Config{StateDir: t.TempDir(), Agent: agent})
	if err != nil {
		t.Fatal(err)
	}
	c := tc.build()
	r := mustBuild(t, b, c)
	a := r.Nodes["n00001"].System
	if n := len(gzipMembers(t, a.Path)); n != 1 {
		t.Errorf("a file over the builtin etc/systemd: %d gzip members, want 1", n)
	}
	got := unpack(t, a.Path)
	compareTrees(t, unpack(t, singleArchive(t, b, c, agent, "n00001")), got)
	if fi, err := os.Lstat(filepath.Join(got, "etc/systemd")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("etc/systemd: %v %v, want the repository's file", fi, err)
	}
	if fileSHA(t, a.Path) != a.Digest {
		t.Error("digest is not the file's")
	}

	// A directory where the builtin /init is: it replaces the file, as a
	// later overlay's entry always did.
	tc.nodes[0].SystemOverlays = []string{"through"}
	c = tc.build()
	a = mustBuild(t, b, c).Nodes["n00000"].System
	if n := len(gzipMembers(t, a.Path)); n != 1 {
		t.Errorf("a directory over the builtin /init: %d gzip members, want 1", n)
	}
	got = unpack(t, a.Path)
	compareTrees(t, unpack(t, singleArchive(t, b, c, agent, "n00000")), got)
	if s := readFile(t, filepath.Join(got, "init/x")); s != "x" {
		t.Errorf("init/x: %q", s)
	}
}

// listCPIO lists a cpio archive's names with GNU cpio.
func listCPIO(t testing.TB, archive []byte) []string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a.cpio")
	if err := os.WriteFile(p, archive, 0o644); err != nil {
		t.Fatal(err)
	}
	return strings.Fields(run(t, "", "cpio", "-it", "--quiet", "-F", p))
}
