package artifact

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/initrdtest"
	"github.com/klauspost/compress/zstd"
)

// tarMember is one member of a test archive.
type tarMember struct {
	name, body, link string
	typ              byte
	mode             int64
}

// OCI media types and a descriptor, as the test layouts write them.
const (
	mediaOCIIndex    = "application/vnd.oci.image.index.v1+json"
	mediaOCIManifest = "application/vnd.oci.image.manifest.v1+json"
)

type ociDescriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	Platform  *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	} `json:"platform,omitempty"`
}

func makeTar(t testing.TB, gz bool, members ...tarMember) []byte {
	t.Helper()
	var buf bytes.Buffer
	var tw *tar.Writer
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		tw = tar.NewWriter(zw)
	} else {
		tw = tar.NewWriter(&buf)
	}
	for _, m := range members {
		typ := m.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := m.mode
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
		}
		hdr := &tar.Header{Name: m.name, Typeflag: typ, Mode: mode, Linkname: m.link, Size: int64(len(m.body)), ModTime: time.Unix(1_700_000_000, 0), Format: tar.FormatPAX}
		if typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(m.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// writeBlob stores data in an OCI layout and returns its descriptor.
func writeBlob(t testing.TB, dir, mediaType string, data []byte) ociDescriptor {
	t.Helper()
	d := ociDescriptor{MediaType: mediaType, Digest: fmt.Sprintf("sha256:%x", sha256.Sum256(data)), Size: int64(len(data))}
	p := filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d.Digest, "sha256:"))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// makeOCI writes an OCI image layout with the given layers (tar.gz bytes),
// behind a nested index as registries produce them. It returns the
// manifest digest.
func makeOCI(t testing.TB, dir string, layers ...[]byte) string {
	t.Helper()
	write(t, filepath.Join(dir, "oci-layout"), `{"imageLayoutVersion":"1.0.0"}`, 0o644)
	cfg := writeBlob(t, dir, "application/vnd.oci.image.config.v1+json", []byte(`{"architecture":"amd64","os":"linux"}`))
	m := map[string]any{"schemaVersion": 2, "mediaType": mediaOCIManifest, "config": cfg}
	var ls []ociDescriptor
	for _, l := range layers {
		mt := "application/vnd.oci.image.layer.v1.tar+gzip"
		if bytes.HasPrefix(l, initrdtest.MagicZstd) {
			mt = "application/vnd.oci.image.layer.v1.tar+zstd"
		} else if l[0] != 0x1f {
			mt = "application/vnd.oci.image.layer.v1.tar"
		}
		ls = append(ls, writeBlob(t, dir, mt, l))
	}
	m["layers"] = ls
	mb, _ := json.Marshal(m)
	md := writeBlob(t, dir, mediaOCIManifest, mb)
	md.Platform = &struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	}{"amd64", "linux"}
	inner, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mediaOCIIndex, "manifests": []ociDescriptor{md}})
	id := writeBlob(t, dir, mediaOCIIndex, inner)
	top, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []ociDescriptor{id}})
	write(t, filepath.Join(dir, "index.json"), string(top), 0o644)
	return md.Digest
}

func TestOCILayoutWithWhiteouts(t *testing.T) {
	base := makeTar(t, true,
		tarMember{name: "boot/", typ: tar.TypeDir},
		tarMember{name: "boot/vmlinuz-6.1.0-13-amd64", body: "kernel"},
		tarMember{name: "etc/", typ: tar.TypeDir},
		tarMember{name: "etc/keep", body: "keep"},
		tarMember{name: "etc/gone", body: "removed by a whiteout"},
		tarMember{name: "opaque/", typ: tar.TypeDir},
		tarMember{name: "opaque/old1", body: "hidden"},
		tarMember{name: "opaque/sub/old2", body: "hidden"},
		tarMember{name: "tree/a/b", body: "whole subtree removed"},
		tarMember{name: "sbin/init", body: "init", mode: 0o755},
		tarMember{name: "usr/bin/init", typ: tar.TypeLink, link: "sbin/init"},
		tarMember{name: "replace", body: "a file that becomes a directory"},
	)
	upper := makeTar(t, false,
		tarMember{name: "etc/.wh.gone", body: ""},
		tarMember{name: "opaque/new", body: "visible"},
		tarMember{name: "opaque/.wh..wh..opq", body: ""},
		tarMember{name: ".wh.tree", body: ""},
		tarMember{name: "etc/keep", body: "keep, changed"},
		tarMember{name: "replace/", typ: tar.TypeDir},
		tarMember{name: "replace/x", body: "x"},
		tarMember{name: "etc/link", typ: tar.TypeSymlink, link: "/outside/the/tree"},
	)
	dir := t.TempDir()
	digest := makeOCI(t, dir, base, upper)
	tc := &testCluster{images: []*hclspec.Image{{Name: "oci", Source: dir, Digest: digest}}, nodes: mkNodes(1, "oci", nil, nil)}
	r := mustBuild(t, newBuilder(t, t.TempDir()), tc.build())
	if info := r.Images["oci"]; info.Digest != digest || info.Kind != "oci" || info.KernelVersion != "6.1.0-13-amd64" {
		t.Errorf("image info %+v, want digest %s", info, digest)
	}
	a := r.Nodes["n00000"]
	checkArchive(t, a.Image.Path)
	got := unpack(t, a.Image.Path)
	want := t.TempDir()
	// boot/vmlinuz-*: left out (exclude's default boot/*); boot stays.
	if err := os.MkdirAll(filepath.Join(want, "boot"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(want, "etc/keep"), "keep, changed", 0o644)
	write(t, filepath.Join(want, "opaque/new"), "visible", 0o644)
	write(t, filepath.Join(want, "sbin/init"), "init", 0o755)
	write(t, filepath.Join(want, "replace/x"), "x", 0o644)
	if err := os.MkdirAll(filepath.Join(want, "usr/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(want, "sbin/init"), filepath.Join(want, "usr/bin/init")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/outside/the/tree", filepath.Join(want, "etc/link")); err != nil {
		t.Fatal(err)
	}
	stamp := time.Unix(1_700_000_000, 0)
	for _, p := range []string{"etc/keep", "opaque/new", "sbin/init", "replace/x"} {
		_ = os.Chtimes(filepath.Join(want, p), stamp, stamp)
	}
	compareTrees(t, want, got)

	// A wrong pin fails before anything is built.
	tc.images[0].Digest = "sha256:" + strings.Repeat("a", 64)
	if _, err := newBuilder(t, t.TempDir()).Build(context.Background(), tc.build(), ""); err == nil || !strings.Contains(err.Error(), "digest mismatch") {
		t.Errorf("wrong pin: %v", err)
	}
	// A corrupted layer blob is caught by its digest.
	tc.images[0].Digest = ""
	lp := filepath.Join(dir, "blobs", "sha256", fmt.Sprintf("%x", sha256.Sum256(upper)))
	corrupt := bytes.Replace(upper, []byte("visible"), []byte("VISIBLE"), 1)
	if err := os.WriteFile(lp, corrupt, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := newBuilder(t, t.TempDir()).Build(context.Background(), tc.build(), ""); err == nil || !strings.Contains(err.Error(), "image oci") || !strings.Contains(err.Error(), "digest") {
		t.Errorf("corrupt layer: %v", err)
	}
}

// TestBadArchives feeds hostile archives: each is an error naming the image
// and the offending member, and the previously built artifacts stay.
func TestBadArchives(t *testing.T) {
	good := makeTar(t, false, tarMember{name: "boot/vmlinuz-1", body: "k"})
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"dotdot", makeTar(t, false, tarMember{name: "../evil", body: "x"}), `"../evil" leaves the tree`},
		{"dotdot-inner", makeTar(t, false, tarMember{name: "a/../../evil", body: "x"}), "leaves the tree"},
		{"absolute", makeTar(t, false, tarMember{name: "/etc/passwd", body: "x"}), "absolute name"},
		{"symlink-then-write", makeTar(t, false,
			tarMember{name: "boot/vmlinuz-1", body: "k"},
			tarMember{name: "etc", typ: tar.TypeSymlink, link: "/etc"},
			tarMember{name: "etc/passwd", body: "root::0:0::/:/bin/sh"}), "etc/passwd: unsafe path: etc is not a directory"},
		{"hardlink-outside", makeTar(t, false, tarMember{name: "x", typ: tar.TypeLink, link: "../etc/shadow"}), "bad hard link target"},
		{"hardlink-missing", makeTar(t, false, tarMember{name: "x", typ: tar.TypeLink, link: "nope"}), "hard link to nope"},
		{"long-name", makeTar(t, false, tarMember{name: strings.Repeat("d/", 2100) + "f", body: "x"}), "name of"},
		{"truncated", good[:512], "reading boot/vmlinuz-1"},
		{"no-kernel", makeTar(t, true, tarMember{name: "etc/motd", body: "hi"}), "no kernel"},
		{"garbage", []byte(strings.Repeat("not a tar ", 100)), "archive"},
	}
	dir := t.TempDir()
	state := t.TempDir()
	b := newBuilder(t, state)
	goodPath := filepath.Join(dir, "good.tar")
	if err := os.WriteFile(goodPath, good, 0o644); err != nil {
		t.Fatal(err)
	}
	tc := &testCluster{images: []*hclspec.Image{{Name: "img", Source: goodPath}}, nodes: mkNodes(1, "img", nil, nil)}
	prev := mustBuild(t, b, tc.build())
	if err := b.Commit(prev); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".tar")
			if err := os.WriteFile(p, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			tc := &testCluster{images: []*hclspec.Image{{Name: "bad-" + c.name, Source: p}}, nodes: mkNodes(1, "bad-"+c.name, nil, nil)}
			_, err := b.Build(context.Background(), tc.build(), "")
			if err == nil || !strings.Contains(err.Error(), "image bad-"+c.name+": ") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming image bad-%s and saying %q", err, c.name, c.want)
			}
			cur, err := b.Current()
			if err != nil || cur.Manifest != prev.Manifest {
				t.Fatalf("current state changed: %v", err)
			}
			if fileSHA(t, prev.Nodes["n00000"].Image.Path) != prev.Nodes["n00000"].Image.Digest {
				t.Fatal("previous image artifact changed")
			}
		})
	}
	// A missing source is a build error naming the image.
	tc = &testCluster{images: []*hclspec.Image{{Name: "ghost", Source: filepath.Join(dir, "does-not-exist")}}, nodes: mkNodes(1, "ghost", nil, nil)}
	if _, err := b.Build(context.Background(), tc.build(), ""); err == nil || !strings.Contains(err.Error(), "image ghost: source") || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing source: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(state, "artifacts", "sha256"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			t.Errorf("failed builds left temp %s", e.Name())
		}
	}
}

// TestOCILayoutZstdLayer: a zstd-compressed layer (as `buildah push
// --compression-format zstd` writes) is read like a gzip one, its digest
// checked.
func TestOCILayoutZstdLayer(t *testing.T) {
	base := makeTar(t, true, tarMember{name: "boot/vmlinuz-1", body: "kernel"}, tarMember{name: "etc/old", body: "old"})
	var upper bytes.Buffer
	zw, err := zstd.NewWriter(&upper)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(makeTar(t, false, tarMember{name: "etc/.wh.old"}, tarMember{name: "etc/new", body: "from a zstd layer"}))
	zw.Close()
	dir := t.TempDir()
	digest := makeOCI(t, dir, base, upper.Bytes())
	tc := &testCluster{images: []*hclspec.Image{{Name: "oci", Source: dir}}, nodes: mkNodes(1, "oci", nil, nil)}
	r := mustBuild(t, newBuilder(t, t.TempDir()), tc.build())
	if r.Images["oci"].Digest != digest {
		t.Errorf("digest %s, want %s", r.Images["oci"].Digest, digest)
	}
	got := unpack(t, r.Nodes["n00000"].Image.Path)
	if b, err := os.ReadFile(filepath.Join(got, "etc/new")); err != nil || string(b) != "from a zstd layer" {
		t.Errorf("etc/new: %q %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(got, "etc/old")); err == nil {
		t.Error("the zstd layer's whiteout did not remove etc/old")
	}
}
