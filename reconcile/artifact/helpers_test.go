package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/initrdtest"
)

// requireRoot skips a test that needs root, except under CI where it fails.
func requireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("needs root (%s) and CI=true forbids skipping", why)
	}
	t.Skipf("needs root: %s", why)
}

func run(t testing.TB, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func shell(t testing.TB, dir, script string) string {
	t.Helper()
	return run(t, dir, "sh", "-c", script)
}

func write(t testing.TB, p string, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	// syscall.Chmod: os.Chmod maps only os.ModeSetuid etc., not 0o4000.
	if err := syscall.Chmod(p, uint32(mode)); err != nil {
		t.Fatal(err)
	}
}

// makeImageTree writes a small but varied root file system: a kernel (two
// versions, the newest by version order is 6.1.0-13), its modules, files
// of several modes and owners, symlinks (one pointing outside the tree),
// hard links, a FIFO, and device nodes when root.
func makeImageTree(t testing.TB, dir string) {
	t.Helper()
	write(t, filepath.Join(dir, "boot/vmlinuz-6.1.0-9-amd64"), "old kernel", 0o644)
	write(t, filepath.Join(dir, "boot/vmlinuz-6.1.0-13-amd64"), "new kernel "+strings.Repeat("k", 5000), 0o644)
	write(t, filepath.Join(dir, "lib/modules/6.1.0-13-amd64/kernel/drivers/net/virtio_net.ko"), "module", 0o644)
	write(t, filepath.Join(dir, "sbin/init"), "#!/bin/sh\necho init\n", 0o755)
	write(t, filepath.Join(dir, "usr/bin/suid"), "suid", 0o4755)
	write(t, filepath.Join(dir, "etc/shadow"), "root:*:1::::::\n", 0o600)
	write(t, filepath.Join(dir, "etc/big"), strings.Repeat("0123456789abcdef", 70000), 0o644)
	write(t, filepath.Join(dir, "etc/empty"), "", 0o644)
	write(t, filepath.Join(dir, "home/user/file"), "user data", 0o640)
	write(t, filepath.Join(dir, "a-b"), "sorts between a and a/b", 0o644)
	write(t, filepath.Join(dir, "a/b"), "child", 0o644)
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]string{
		{"/etc/passwd", "etc/abs-link"},
		{"../../../../outside", "etc/outside-link"},
		{"vmlinuz-6.1.0-13-amd64", "boot/vmlinuz"},
		{"usr/bin", "bin"},
	} {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(dir, "sbin/init"), filepath.Join(dir, "usr/bin/init-hardlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "sbin/init"), filepath.Join(dir, "usr/bin/init-hardlink2")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "etc/fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.MkdirAll(filepath.Join(dir, "dev"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mknod(filepath.Join(dir, "dev/null"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mknod(filepath.Join(dir, "dev/loop9"), syscall.S_IFBLK|0o660, 7<<8|9); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(filepath.Join(dir, "home/user"), 1000, 1000); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(filepath.Join(dir, "home/user/file"), 1000, 100); err != nil {
			t.Fatal(err)
		}
	}
	// Fixed mtimes make the tree's metadata reproducible across runs.
	stamp := time.Unix(1_700_000_000, 0)
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink == 0 {
			_ = os.Chtimes(p, stamp, stamp)
		}
		return nil
	})
}

// fileState is what the comparison checks for one entry.
type fileState struct {
	mode     os.FileMode
	uid, gid uint32
	link     string
	sum      string
	rdev     uint64
	mtime    int64
	ino      uint64
}

func scanState(t testing.TB, root string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		s := fileState{mode: info.Mode(), uid: st.Uid, gid: st.Gid, ino: st.Ino}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			s.link, _ = os.Readlink(p)
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			s.sum = hex.EncodeToString(sum[:])
			s.mtime = info.ModTime().Unix()
		case info.Mode()&fs.ModeDevice != 0:
			s.rdev = st.Rdev
		}
		out[filepath.ToSlash(rel)] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// compareTrees checks that got reproduces want: same names, types, modes,
// owners (when root), symlink targets, contents, device numbers, file
// mtimes, and the same hard link groups.
func compareTrees(t testing.TB, want, got string) {
	t.Helper()
	w, g := scanState(t, want), scanState(t, got)
	var names []string
	for n := range w {
		names = append(names, n)
	}
	sort.Strings(names)
	for n := range g {
		if _, ok := w[n]; !ok {
			t.Errorf("unpacked tree has extra %s", n)
		}
	}
	wIno, gIno := map[uint64][]string{}, map[uint64][]string{}
	for _, n := range names {
		ws := w[n]
		gs, ok := g[n]
		if !ok {
			t.Errorf("unpacked tree lacks %s", n)
			continue
		}
		if ws.mode != gs.mode {
			t.Errorf("%s: mode %v, want %v", n, gs.mode, ws.mode)
		}
		if os.Geteuid() == 0 && (ws.uid != gs.uid || ws.gid != gs.gid) {
			t.Errorf("%s: owner %d:%d, want %d:%d", n, gs.uid, gs.gid, ws.uid, ws.gid)
		}
		if ws.link != gs.link || ws.sum != gs.sum || ws.rdev != gs.rdev || ws.mtime != gs.mtime {
			t.Errorf("%s: got %+v, want %+v", n, gs, ws)
		}
		if ws.mode.IsRegular() {
			wIno[ws.ino] = append(wIno[ws.ino], n)
			gIno[gs.ino] = append(gIno[gs.ino], n)
		}
	}
	groups := func(m map[uint64][]string) []string {
		var out []string
		for _, v := range m {
			if len(v) > 1 {
				out = append(out, strings.Join(v, ","))
			}
		}
		sort.Strings(out)
		return out
	}
	if a, b := fmt.Sprint(groups(wIno)), fmt.Sprint(groups(gIno)); a != b {
		t.Errorf("hard link groups: got %s, want %s", b, a)
	}
}

// checkArchive runs the real tools over an artifact: gzip -t, then cpio -it
// (GNU cpio) over each gzip member (a system overlay has two, each a cpio
// archive). It returns the listed names, all members' in order.
func checkArchive(t testing.TB, path string) []string {
	t.Helper()
	run(t, "", "gzip", "-t", path)
	var names []string
	for _, m := range gzipMembers(t, path) {
		cmd := exec.Command("cpio", "-it", "--quiet")
		cmd.Stdin = bytes.NewReader(m)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cpio -it of %s: %v\n%s", path, err, out)
		}
		names = append(names, strings.Split(strings.TrimSpace(string(out)), "\n")...)
	}
	return names
}

// gzipMembers returns the decompressed gzip members of the file at path.
func gzipMembers(t testing.TB, path string) [][]byte {
	t.Helper()
	m, err := initrdtest.Members(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// unpack extracts an artifact into a new directory as Linux's initramfs
// unpacker does: each gzip member is a cpio archive, extracted in order
// with GNU cpio -idmu (-u: an entry replaces what an earlier archive put
// at its path, as the kernel's does).
func unpack(t testing.TB, path string) string {
	t.Helper()
	dir := t.TempDir()
	// Unpacked directories may lack write permission (0555): restore it so
	// TempDir's cleanup can remove them when not root.
	t.Cleanup(func() { _ = exec.Command("chmod", "-R", "u+rwx", dir).Run() })
	for i, m := range gzipMembers(t, path) {
		cmd := exec.Command("cpio", "-idmu", "--quiet", "--no-absolute-filenames")
		cmd.Dir, cmd.Stdin = dir, bytes.NewReader(m)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cpio -idmu of %s, member %d: %v\n%s", path, i, err, out)
		}
	}
	return dir
}

func fileSHA(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// testCluster is a small cluster: one network, one server, the given
// images and overlays, and n nodes using image "img" and the overlays.
type testCluster struct {
	fs       fs.FS
	images   []*hclspec.Image
	overlays []*hclspec.Overlay
	nodes    []*hclspec.Node
}

func (tc *testCluster) build() *hclspec.Cluster {
	srv := &hclspec.Server{Name: "head", Address: netip.MustParseAddr("10.99.0.1"), HTTPPort: 9873}
	nw := &hclspec.Network{Name: "cluster", Subnet: netip.MustParsePrefix("10.99.0.0/16"), Gateway: netip.MustParseAddr("10.99.0.1"),
		DNS: []netip.Addr{netip.MustParseAddr("10.99.0.1")}, Domain: "cluster.local"}
	// Copy the blocks: a Cluster is immutable and tests change theirs.
	var imgs []*hclspec.Image
	for _, i := range tc.images {
		c := *i
		imgs = append(imgs, &c)
	}
	var ovs []*hclspec.Overlay
	for _, o := range tc.overlays {
		c := *o
		ovs = append(ovs, &c)
	}
	var nodes []*hclspec.Node
	for _, n := range tc.nodes {
		c := *n
		nodes = append(nodes, &c)
	}
	return hclspec.NewCluster(tc.fs, []*hclspec.Server{srv}, []*hclspec.Network{nw}, imgs, ovs, nil, nodes)
}

func mkNodes(n int, image string, system, runtime []string) []*hclspec.Node {
	var out []*hclspec.Node
	for i := 0; i < n; i++ {
		out = append(out, &hclspec.Node{
			Name:            fmt.Sprintf("n%05d", i),
			MAC:             fmt.Sprintf("52:54:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff),
			IP:              netip.AddrFrom4([4]byte{10, 99, byte(1 + i/250), byte(1 + i%250)}),
			Image:           image,
			Network:         "cluster",
			KernelArgs:      []string{"quiet", "console=ttyS0"},
			SystemOverlays:  system,
			RuntimeOverlays: runtime,
			Tags:            map[string]string{"role": "compute", "rack": fmt.Sprint(i / 40)},
		})
	}
	return out
}

func newBuilder(t testing.TB, state string) *Builder {
	t.Helper()
	b, err := New(Config{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustBuild(t testing.TB, b *Builder, c *hclspec.Cluster) *Result {
	t.Helper()
	r, err := b.Build(context.Background(), c, "")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// repoFS is a small overlay repository.
func repoFS() fstest.MapFS {
	return fstest.MapFS{
		"overlays/generic/etc/motd":                {Data: []byte("welcome\n"), Mode: 0o644},
		"overlays/generic/etc/network.conf.tmpl":   {Data: []byte("name={{.Node.Name}}\nip={{.Node.IP}}/{{.Network.Prefix}}\nmask={{.Network.Netmask}}\ngw={{.Network.Gateway}}\nrole={{index .Node.Tags \"role\"}}\nargs={{join .Node.KernelArgs \" \"}}\nserver={{.Server.URL}}\n"), Mode: 0o640},
		"overlays/generic/usr/local/bin/hello":     {Data: []byte("#!/bin/sh\necho hello\n"), Mode: 0o755},
		"overlays/generic/etc/localtime":           {Data: []byte("../usr/share/zoneinfo/UTC"), Mode: fs.ModeSymlink | 0o777},
		"overlays/generic/var/empty":               {Mode: fs.ModeDir | 0o711},
		"overlays/secrets/etc/munge/munge.key":     {Data: []byte("secret"), Mode: 0o400},
		"overlays/shared/etc/cluster-size.tmpl":    {Data: []byte("{{len .Cluster.Nodes}} nodes\n"), Mode: 0o644},
		"overlays/same/etc/issue":                  {Data: []byte("same for all\n"), Mode: 0o644},
		"overlays/badparse/etc/x.tmpl":             {Data: []byte("line one\n{{.Node.Name\n"), Mode: 0o644},
		"overlays/badexec/etc/y.tmpl":              {Data: []byte("ok\nok\n{{.Node.Nope}}\n"), Mode: 0o644},
		"overlays/badindex/etc/z.tmpl":             {Data: []byte("{{index .Node.KernelArgs 99}}\n"), Mode: 0o644},
		"overlays/recursive/etc/r.tmpl":            {Data: []byte("{{define \"r\"}}{{template \"r\" .}}{{end}}{{template \"r\" .}}"), Mode: 0o644},
		"overlays/rangevar/etc/r.tmpl":             {Data: []byte("{{$n := 100000000000}}\n{{range $n}}{{end}}"), Mode: 0o644},
		"overlays/rangeint/etc/r.tmpl":             {Data: []byte("{{range 100000000000}}{{end}}"), Mode: 0o644},
		"overlays/huge/etc/h.tmpl":                 {Data: []byte("{{range $.Cluster.Nodes}}{{range $.Cluster.Nodes}}{{range $.Cluster.Nodes}}{{range $.Cluster.Nodes}}{{range $.Cluster.Nodes}}{{printf \"%0999999d\" 1}}{{end}}{{end}}{{end}}{{end}}{{end}}"), Mode: 0o644},
		"overlays/readfile/etc/f.tmpl":             {Data: []byte("{{readFile \"/etc/passwd\"}}"), Mode: 0o644},
		"overlays/conflict/etc/a":                  {Data: []byte("a"), Mode: 0o644},
		"overlays/conflict/etc/a.tmpl":             {Data: []byte("b"), Mode: 0o644},
		"overlays/nodedep/etc/only-node.tmpl":      {Data: []byte("{{.Node.Name}}"), Mode: 0o644},
		"overlays/nodedep/etc/static":              {Data: []byte("static"), Mode: 0o644},
		"overlays/override/etc/motd":               {Data: []byte("overridden\n"), Mode: 0o600},
		"overlays/generic/etc/dir-from-repo/.keep": {Data: nil, Mode: 0o644},
	}
}

func sameBytes(t testing.TB, a, b string) bool {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}
