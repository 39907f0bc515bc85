package build

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// checkTree writes a tree read from hostile input as cpio: it must not
// fail or panic, and every name must stay inside the tree.
func checkTree(t *testing.T, tr *tree) {
	err := tr.walk(func(p string, ino *inode) error {
		if p == "" || p[0] == '/' || p == ".." || len(p) > maxPathLen {
			t.Fatalf("bad name %q in tree", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := writeCPIO(io.Discard, tr, nil); err != nil {
		t.Fatalf("writing a tree the reader accepted: %v", err)
	}
}

func FuzzReadTar(f *testing.F) {
	f.Add(makeTar(f, false, tarMember{name: "boot/vmlinuz-1", body: "k"}, tarMember{name: "a", typ: tar.TypeLink, link: "boot/vmlinuz-1"}))
	f.Add(makeTar(f, true, tarMember{name: "d/", typ: tar.TypeDir}, tarMember{name: "d/l", typ: tar.TypeSymlink, link: "/x"}, tarMember{name: "d/.wh.x"}))
	f.Add(makeTar(f, false, tarMember{name: "../x", body: "k"}))
	f.Add(makeTar(f, false, tarMember{name: "e", typ: tar.TypeSymlink, link: "/etc"}, tarMember{name: "e/passwd", body: "x"}))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	sp, err := os.CreateTemp(f.TempDir(), "spool")
	if err != nil {
		f.Fatal(err)
	}
	defer sp.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := sp.Truncate(0); err != nil {
			t.Fatal(err)
		}
		if _, err := sp.Seek(0, 0); err != nil {
			t.Fatal(err)
		}
		entries, err := readTar(bytes.NewReader(data), &spool{f: sp})
		if err != nil {
			return
		}
		for _, apply := range []func(*tree, []tarEntry) error{applyEntries, applyLayer} {
			tr := newTree()
			if err := apply(tr, entries); err != nil {
				continue
			}
			checkTree(t, tr)
			_, _ = findKernel(tr, "")
		}
	})
}

// FuzzOCI fuzzes the layout reader: index.json, the manifest, and a layer.
func FuzzOCI(f *testing.F) {
	layer := makeTar(f, true, tarMember{name: "boot/vmlinuz-1", body: "k"}, tarMember{name: ".wh..wh..opq"})
	f.Add([]byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"MANIFEST","size":0}]}`), []byte(`{"layers":[{"mediaType":"x","digest":"LAYER","size":0}]}`), layer)
	f.Add([]byte(`{"manifests":[{"digest":"sha256:../../../etc/passwd"}]}`), []byte(`{}`), []byte{})
	f.Add([]byte(`{"manifests":[]}`), []byte(`{"layers":null}`), layer)
	f.Fuzz(func(t *testing.T, index, manifest, layerData []byte) {
		dir := t.TempDir()
		ld := writeBlob(t, dir, "application/vnd.oci.image.layer.v1.tar+gzip", layerData)
		manifest = bytes.ReplaceAll(manifest, []byte("LAYER"), []byte(ld.Digest))
		md := writeBlob(t, dir, mediaOCIManifest, manifest)
		index = bytes.ReplaceAll(index, []byte("MANIFEST"), []byte(md.Digest))
		if err := os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{}`), 0o644); err != nil {
			t.Fatal(err)
		}
		sp, err := os.CreateTemp(t.TempDir(), "spool")
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		tr, digest, err := readOCI(dir, &spool{f: sp}, nil)
		if err != nil {
			return
		}
		var d ociDescriptor
		if json.Unmarshal([]byte(`{"digest":"`+digest+`"}`), &d) != nil {
			t.Fatalf("bad digest %q", digest)
		}
		if _, err := ociBlobPath(dir, digest); err != nil {
			t.Fatalf("accepted layout with digest %q: %v", digest, err)
		}
		checkTree(t, tr)
	})
}
