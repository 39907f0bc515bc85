package artifact

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/hclspec"
	v1 "github.com/google/go-containerregistry/pkg/v1"
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
		for _, apply := range []func(*tree, []tarEntry) error{applyEntries} {
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
		tr, digest, err := readOCI(dir, "", &spool{f: sp}, nil)
		if err != nil {
			return
		}
		if h, err := v1.NewHash(digest); err != nil || h.Algorithm != "sha256" {
			t.Fatalf("accepted layout with digest %q: %v", digest, err)
		}
		checkTree(t, tr)
	})
}

// FuzzTemplate: any overlay template either is refused at parse time or
// renders (or fails) without panicking, and its dependency analysis never
// misses a part of the data it reads: rendering with that part changed
// while the others stay must give the same output when the part is not in
// its deps.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"{{.Node.Name}}", "{{range .Cluster.Nodes}}{{.IP}} {{.Name}}\n{{end}}", "{{with .Network}}{{.Gateway}}{{end}}",
		"{{$x := .}}{{$x.Server.URL}}", "{{range $i, $n := .Node.KernelArgs}}{{$i}}={{$n}}{{end}}", "{{if .Node.Tags.role}}{{.Node.Tags.role}}{{end}}",
		"{{define \"a\"}}x{{end}}", "{{range 3}}{{.}}{{end}}", "{{index .Node.Tags \"rack\"}}", "{{join .Node.KernelArgs \",\"}}",
		"{{.Node.Resources.k}}", "{{range .Cluster.Nodes}}{{.Resources.k}}{{.Image}}{{end}}", "{{with .Node}}{{.BMC.Address}}{{toJson .Resources}}{{end}}",
		"{{range .Networks}}{{.Name}}{{end}}", "{{dig \"k\" \"-\" .Node.Resources}}", "{{$r := .Node.Resources}}{{$r.k}}",
	} {
		f.Add(s)
	}
	base := func() *TemplateData {
		n := TemplateNode{Name: "n1", MAC: "52:54:00:00:00:01", IP: "10.0.0.1", Network: "net", Tags: map[string]string{"role": "c"}, KernelArgs: []string{"quiet"},
			Image: "img", Resources: hclspec.ResourceMap{"k": "v", "j": int64(1)}}
		net := TemplateNetwork{Name: "net", Gateway: "10.0.0.254", Prefix: 24}
		return &TemplateData{Node: n, Network: net, Networks: []TemplateNetwork{net},
			Cluster: TemplateCluster{Nodes: []TemplateNode{n}}, Server: TemplateServer{Name: "head", URL: "http://10.0.0.254:9873"}}
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 2000 {
			return
		}
		tmpl, d, sel, err := parseTemplateSel("t", text)
		if err != nil {
			return
		}
		want, err := render(tmpl, base())
		if err != nil {
			return
		}
		changes := map[deps]func(*TemplateData){
			depNode:         func(x *TemplateData) { x.Node.Name, x.Node.IP = "other", "10.9.9.9" },
			depNetwork:      func(x *TemplateData) { x.Network.Gateway = "10.9.9.254" },
			depCluster:      func(x *TemplateData) { x.Cluster.Nodes = append(x.Cluster.Nodes, TemplateNode{Name: "zz"}) },
			depServer:       func(x *TemplateData) { x.Server.URL = "http://elsewhere" },
			depNodeExtra:    func(x *TemplateData) { x.Node.Image = "other" },
			depNodeRes:      func(x *TemplateData) { x.Node.Resources = hclspec.ResourceMap{"k": "v2", "j": int64(1)} },
			depClusterExtra: func(x *TemplateData) { x.Cluster.Nodes[0].Image = "other" },
			depClusterRes: func(x *TemplateData) {
				x.Cluster.Nodes[0].Resources = hclspec.ResourceMap{"k": "v2", "j": int64(2)}
			},
			depNetworks: func(x *TemplateData) { x.Networks = append(x.Networks, TemplateNetwork{Name: "ib"}) },
		}
		if sel != resAll {
			// A resource key the template does not read.
			unread := func(r hclspec.ResourceMap) hclspec.ResourceMap {
				out := hclspec.ResourceMap{"zz": "new"}
				for k, v := range r {
					out[k] = v
				}
				for _, k := range []string{"k", "j"} {
					if !strings.Contains("\x00"+string(sel)+"\x00", "\x00"+k+"\x00") {
						out[k] = "changed"
					}
				}
				return out
			}
			changes[0] = func(x *TemplateData) {
				x.Node.Resources = unread(x.Node.Resources)
				x.Cluster.Nodes[0].Resources = unread(x.Cluster.Nodes[0].Resources)
			}
		}
		for part, change := range changes {
			if d&part != 0 {
				continue
			}
			data := base()
			change(data)
			got, err := render(tmpl, data)
			if err == nil && !bytes.Equal(got, want) {
				t.Fatalf("%q: deps %b miss part %b: %q vs %q", text, d, part, got, want)
			}
		}
	})
}
