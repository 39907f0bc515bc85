package artifact

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/hclspec"
)

func TestImageFromDirectory(t *testing.T) {
	src := t.TempDir()
	makeImageTree(t, src)
	tc := &testCluster{
		// exclude: none, so the artifact is the whole tree (the default
		// leaves /boot out: TestImageExcludeAndCompression).
		images: []*hclspec.Image{{Name: "img", Source: src, Exclude: []string{}}},
		nodes:  mkNodes(2, "img", nil, nil),
	}
	b := newBuilder(t, t.TempDir())
	r := mustBuild(t, b, tc.build())

	a := r.Nodes["n00000"]
	if a.Image.Name != NameImage || a.System.Name != NameSystem || a.Runtime.Name != NameRuntime {
		t.Errorf("SENT names: %q %q %q", a.Image.Name, a.System.Name, a.Runtime.Name)
	}
	if a.Kernel.Name != "vmlinuz-6.1.0-13-amd64" {
		t.Errorf("kernel %q, want the newest by version order vmlinuz-6.1.0-13-amd64", a.Kernel.Name)
	}
	info := r.Images["img"]
	if info.KernelVersion != "6.1.0-13-amd64" || !info.Modules || info.Kind != "dir" || !info.Rebuilt {
		t.Errorf("image info %+v", info)
	}
	if !sameBytes(t, a.Kernel.Path, filepath.Join(src, "boot/vmlinuz-6.1.0-13-amd64")) {
		t.Error("kernel artifact differs from the image's kernel")
	}
	for _, art := range []struct{ path, digest string }{{a.Kernel.Path, a.Kernel.Digest}, {a.Image.Path, a.Image.Digest}, {a.System.Path, a.System.Digest}, {a.Runtime.Path, a.Runtime.Digest}} {
		if got := fileSHA(t, art.path); got != art.digest {
			t.Errorf("%s: content digest %s, recorded %s", art.path, got, art.digest)
		}
		if !strings.HasPrefix(art.path, filepath.Join(b.cfg.StateDir, "artifacts", "sha256")+"/") {
			t.Errorf("artifact %s outside the store", art.path)
		}
	}
	names := checkArchive(t, a.Image.Path)
	if !slices.IsSorted(names) && names[0] != "a" {
		t.Errorf("entries not in tree order: %v", names)
	}
	// Sorted: each directory before its contents, names byte-wise.
	if i, j := slices.Index(names, "a"), slices.Index(names, "a/b"); i < 0 || j < i {
		t.Errorf("a must precede a/b: %v", names)
	}
	if i, j := slices.Index(names, "a/b"), slices.Index(names, "a-b"); j < i {
		t.Errorf("walk order: a/b before a-b: %v", names)
	}
	compareTrees(t, src, unpack(t, a.Image.Path))

	// The same tree in another store gives the same bytes.
	r2 := mustBuild(t, newBuilder(t, t.TempDir()), tc.build())
	if r2.Nodes["n00000"].Image.Digest != a.Image.Digest {
		t.Errorf("not reproducible: %s vs %s", r2.Nodes["n00000"].Image.Digest, a.Image.Digest)
	}
	// Unchanged input: reused, not rebuilt.
	r3 := mustBuild(t, b, tc.build())
	if r3.Images["img"].Rebuilt || r3.Built != 0 || r3.Manifest != r.Manifest {
		t.Errorf("second build rebuilt: %+v built=%d manifest %s vs %s", r3.Images["img"], r3.Built, r3.Manifest, r.Manifest)
	}
	// The source may be a symlink to the tree.
	link := filepath.Join(t.TempDir(), "current")
	if err := os.Symlink(src, link); err != nil {
		t.Fatal(err)
	}
	tl := &testCluster{images: []*hclspec.Image{{Name: "img", Source: link, Exclude: []string{}}}, nodes: mkNodes(1, "img", nil, nil)}
	if rl := mustBuild(t, newBuilder(t, t.TempDir()), tl.build()); rl.Nodes["n00000"].Image.Digest != a.Image.Digest {
		t.Error("a symlinked source gives a different image")
	}
	// A changed file is noticed.
	write(t, filepath.Join(src, "etc/motd"), "changed", 0o644)
	r4 := mustBuild(t, b, tc.build())
	if !r4.Images["img"].Rebuilt || r4.Nodes["n00000"].Image.Digest == a.Image.Digest {
		t.Error("a changed image was not rebuilt")
	}
}

func TestImageFromTarAndTarGz(t *testing.T) {
	src := t.TempDir()
	makeImageTree(t, src)
	dir := t.TempDir()
	tarPath, tgzPath := filepath.Join(dir, "root.tar"), filepath.Join(dir, "root.tar.gz")
	run(t, src, "tar", "--numeric-owner", "-cf", tarPath, ".")
	run(t, src, "tar", "--numeric-owner", "-czf", tgzPath, ".")
	tzstPath := filepath.Join(dir, "root.tar.zst")
	run(t, src, "tar", "--numeric-owner", "--zstd", "-cf", tzstPath, ".")
	for _, p := range []string{tarPath, tgzPath, tzstPath} {
		t.Run(filepath.Base(p), func(t *testing.T) {
			tc := &testCluster{images: []*hclspec.Image{{Name: "img", Source: p, Exclude: []string{}}}, nodes: mkNodes(1, "img", nil, nil)}
			r := mustBuild(t, newBuilder(t, t.TempDir()), tc.build())
			info := r.Images["img"]
			if want := fileSHA(t, p); info.Digest != want || info.Kind != "tar" {
				t.Errorf("digest %s kind %s, want %s tar", info.Digest, info.Kind, want)
			}
			a := r.Nodes["n00000"]
			checkArchive(t, a.Image.Path)
			compareTrees(t, src, unpack(t, a.Image.Path))

			// Pinned: the right digest builds, a wrong one is an error naming the image.
			tc.images[0].Digest = info.Digest
			mustBuild(t, newBuilder(t, t.TempDir()), tc.build())
			tc.images[0].Digest = "sha256:" + strings.Repeat("0", 64)
			_, err := newBuilder(t, t.TempDir()).Build(context.Background(), tc.build(), "")
			if err == nil || !strings.Contains(err.Error(), "image img") || !strings.Contains(err.Error(), "digest mismatch") {
				t.Errorf("wrong pin: %v", err)
			}
		})
	}
}

func TestImageDirectoryPin(t *testing.T) {
	src := t.TempDir()
	makeImageTree(t, src)
	tc := &testCluster{images: []*hclspec.Image{{Name: "img", Source: src}}, nodes: mkNodes(1, "img", nil, nil)}
	r := mustBuild(t, newBuilder(t, t.TempDir()), tc.build())
	// A directory's digest is that of its uncompressed cpio archive.
	raw := shell(t, "", "gzip -dc "+r.Nodes["n00000"].Image.Path+" | sha256sum")
	if got := "sha256:" + strings.Fields(raw)[0]; got != r.Images["img"].Digest {
		t.Errorf("directory digest %s, sha256 of the cpio is %s", r.Images["img"].Digest, got)
	}
	tc.images[0].Digest = r.Images["img"].Digest
	mustBuild(t, newBuilder(t, t.TempDir()), tc.build())
	tc.images[0].Digest = "sha256:" + strings.Repeat("1", 64)
	state := t.TempDir()
	_, err := newBuilder(t, state).Build(context.Background(), tc.build(), "")
	if err == nil || !strings.Contains(err.Error(), "digest mismatch") {
		t.Fatalf("wrong pin on a directory: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(state, "artifacts", "sha256"))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), extImage) || strings.HasPrefix(e.Name(), tmpPrefix) {
			t.Errorf("a mismatching image left %s in the store", e.Name())
		}
	}
}

func TestKernelSelection(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"6.1.0-9-amd64", "6.1.0-13-amd64"},
		{"5.10.0", "6.1.0"},
		{"6.1", "6.1.0"},
		{"4.18.0-513.el8", "4.18.0-553.el8"},
		{"6.1.0-rc1", "6.1.0-rc2"},
		{"009", "10"},
	} {
		if !versionLess(c.a, c.b) || versionLess(c.b, c.a) {
			t.Errorf("version order: want %s < %s", c.a, c.b)
		}
	}
	src := t.TempDir()
	makeImageTree(t, src)
	write(t, filepath.Join(src, "opt/kernels/custom-kernel"), "custom", 0o644)
	tc := &testCluster{images: []*hclspec.Image{{Name: "img", Source: src, Kernel: "/opt/kernels/custom-*"}}, nodes: mkNodes(1, "img", nil, nil)}
	r := mustBuild(t, newBuilder(t, t.TempDir()), tc.build())
	if k := r.Nodes["n00000"].Kernel; k.Name != "custom-kernel" || !sameBytes(t, k.Path, filepath.Join(src, "opt/kernels/custom-kernel")) {
		t.Errorf("kernel glob picked %q", k.Name)
	}
	// The glob may name a symlink; it is followed inside the image.
	tc.images[0].Kernel = "boot/vmlinuz"
	r = mustBuild(t, newBuilder(t, t.TempDir()), tc.build())
	if k := r.Nodes["n00000"].Kernel; k.Name != "vmlinuz-6.1.0-13-amd64" {
		t.Errorf("kernel through symlink: %q", k.Name)
	}
	// Container-built images keep the kernel in lib/modules/<version>/
	// (usr/lib/modules behind a /lib symlink here); the newest version wins.
	rocky := t.TempDir()
	write(t, filepath.Join(rocky, "usr/lib/modules/5.14.0-427.el9.x86_64/vmlinuz"), "el9 old", 0o755)
	write(t, filepath.Join(rocky, "usr/lib/modules/5.14.0-503.el9.x86_64/vmlinuz"), "el9 new", 0o755)
	if err := os.Symlink("usr/lib", filepath.Join(rocky, "lib")); err != nil {
		t.Fatal(err)
	}
	tr := &testCluster{images: []*hclspec.Image{{Name: "rocky", Source: rocky}}, nodes: mkNodes(1, "rocky", nil, nil)}
	r = mustBuild(t, newBuilder(t, t.TempDir()), tr.build())
	if k, info := r.Nodes["n00000"].Kernel, r.Images["rocky"]; k.Name != "vmlinuz-5.14.0-503.el9.x86_64" || info.KernelVersion != "5.14.0-503.el9.x86_64" || !info.Modules || readFile(t, k.Path) != "el9 new" {
		t.Errorf("kernel from lib/modules: %q %+v", k.Name, info)
	}
	tc.images[0].Kernel = "boot/nothing-*"
	if _, err := newBuilder(t, t.TempDir()).Build(context.Background(), tc.build(), ""); err == nil || !strings.Contains(err.Error(), "image img: no kernel") {
		t.Errorf("no matching kernel: %v", err)
	}
}

// The same image source spelled differently (a doubled slash, a trailing
// slash, "..") is the same input: no rebuild, no plan change.
func TestImageInputCleanPath(t *testing.T) {
	src := t.TempDir()
	makeImageTree(t, src)
	key := func(source string) string {
		tc := &testCluster{images: []*hclspec.Image{{Name: "img", Source: source}}, nodes: mkNodes(1, "img", nil, nil)}
		in, err := ComputeInputs(tc.build(), nil, true)
		if err != nil || in.Images["img"].Err != nil {
			t.Fatalf("%s: %v %v", source, err, in.Images["img"].Err)
		}
		return in.Images["img"].Input
	}
	want := key(src)
	dir, base := filepath.Split(src)
	for _, s := range []string{dir + "/" + base, src + "/", src + "/../" + base} {
		if got := key(s); got != want {
			t.Errorf("source %q: input %s, want %s (as %q)", s, got, want, src)
		}
	}
}
