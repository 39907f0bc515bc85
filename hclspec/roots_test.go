package hclspec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rootsHCL declares one server and one image used by one node; the ipxe_dir
// line (3) and the source line (12) carry the values under test.
const rootsHCL = `server "head" {
  address  = "10.99.0.1"
  %s
}

network "cluster" {
  subnet = "10.99.0.0/24"
}

image "img" {
  kernel = "boot/vmlinuz"
  source = %q
}

node "c001" {
  mac     = "52:54:00:00:00:01"
  ip      = "10.99.0.11"
  image   = image.img
  network = network.cluster
}
`

// serverFS is a server's file system for the roots tests: an image root
// with a real image directory, a symlink pointing out of it (to /etc) and
// one staying inside, and an iPXE root with a symlink to /etc.
func serverFS(t *testing.T) (images, ipxe string) {
	t.Helper()
	dir := t.TempDir()
	images, ipxe = filepath.Join(dir, "images"), filepath.Join(dir, "ipxe")
	for _, d := range []string{filepath.Join(images, "ok", "boot"), ipxe} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		filepath.Join(images, "escape"): "/etc",
		filepath.Join(images, "inside"): filepath.Join(images, "ok"),
		filepath.Join(ipxe, "etc"):      "/etc",
		filepath.Join(images, "up"):     "..",
	} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	return images, ipxe
}

// TestCheckRoots: an image source or ipxe_dir outside the server's roots,
// after symlinks and ".." are resolved, is an error at its attribute
// (file:line:col); paths inside pass, whether they exist yet or not.
func TestCheckRoots(t *testing.T) {
	images, ipxe := serverFS(t)
	roots := Roots{Images: []string{images}, IPXE: []string{ipxe}}
	ipxeLine := fmt.Sprintf("ipxe_dir = %q", ipxe)
	for _, tc := range []struct {
		name, ipxe, source string
		wantLine, wantCol  int    // 0: no error
		wantText           string // in the detail
	}{
		{"inside", ipxeLine, images + "/ok", 0, 0, ""},
		{"a symlink staying inside", ipxeLine, images + "/inside", 0, 0, ""},
		{"not there yet, inside", ipxeLine, images + "/new/rocky9.tar.gz", 0, 0, ""},
		{"dot-dot staying inside", ipxeLine, images + "/ok/../new", 0, 0, ""},
		{"the root itself", ipxeLine, images, 0, 0, ""},
		{"/etc", ipxeLine, "/etc", 12, 12, "/etc is not inside a directory the server allows (--image-root " + images + ")"},
		{"/root", ipxeLine, "/root", 12, 12, "/root is not inside"},
		{"symlink out of the root", ipxeLine, images + "/escape", 12, 12, "resolves to /etc, which is not inside"},
		{"dot-dot escape", ipxeLine, images + strings.Repeat("/..", 20) + "/etc", 12, 12, "resolves to /etc, which"},
		{"dot-dot after a symlink", ipxeLine, images + "/escape/..", 12, 12, "resolves to /, which"},
		{"symlink to the root's parent", ipxeLine, images + "/up", 12, 12, "resolves to " + filepath.Dir(images) + ", which"},
		{"dot-dot through a missing directory", ipxeLine, images + "/missing/../../x", 12, 12, `cannot be resolved: ".." after ` + images + "/missing"},
		{"relative path", ipxeLine, "etc", 12, 12, "is not inside"},
		{"ipxe_dir /etc", `ipxe_dir = "/etc"`, images + "/ok", 3, 14, "ipxe_dir /etc is not inside a directory the server allows (--ipxe-dir " + ipxe + ")"},
		{"ipxe_dir through a symlink", fmt.Sprintf("ipxe_dir = %q", ipxe+"/etc"), images + "/ok", 3, 14, "resolves to /etc"},
		{"ipxe_dir dot-dot", fmt.Sprintf("ipxe_dir = %q", ipxe+strings.Repeat("/..", 20)), images + "/ok", 3, 14, "resolves to /, which"},
		{"ipxe_dir left to its default", "", images + "/ok", 1, 1, "sets no ipxe_dir, and its default /usr/lib/ipxe is not inside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := fmt.Sprintf(rootsHCL, tc.ipxe, tc.source)
			c := mustLoad(t, mapFS(map[string]string{"main.hcl": src}), Options{})
			srv, err := c.PickServer("")
			if err != nil {
				t.Fatal(err)
			}
			diags := CheckRoots(c, srv, roots)
			if tc.wantLine == 0 {
				if len(diags) != 0 {
					t.Fatalf("want no diagnostics, got %s", diags.Error())
				}
				return
			}
			if len(diags) != 1 {
				t.Fatalf("want 1 diagnostic, got %d: %s", len(diags), diags.Error())
			}
			d := diags[0]
			if d.Subject == nil || d.Subject.Filename != "main.hcl" || d.Subject.Start.Line != tc.wantLine || d.Subject.Start.Column != tc.wantCol {
				t.Errorf("diagnostic at %v, want main.hcl:%d:%d", d.Subject, tc.wantLine, tc.wantCol)
			}
			if !strings.Contains(d.Detail, tc.wantText) {
				t.Errorf("detail %q does not say %q", d.Detail, tc.wantText)
			}
		})
	}
}

// TestCheckRootsServedImagesOnly: with a server block picked, only images
// its nodes boot are checked (another server's images live under that
// server's roots); with none (the pre-receive hook), every image is.
func TestCheckRootsServedImagesOnly(t *testing.T) {
	images, ipxe := serverFS(t)
	src := fmt.Sprintf(rootsHCL, fmt.Sprintf("ipxe_dir = %q", ipxe), images+"/ok") + `
image "unused" {
  source = "/etc"
}
`
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": src}), Options{})
	srv, _ := c.PickServer("")
	roots := Roots{Images: []string{images}, IPXE: []string{ipxe}}
	if d := CheckRoots(c, srv, roots); len(d) != 0 {
		t.Errorf("server head: an image no node boots was checked: %s", d.Error())
	}
	if d := CheckRoots(c, nil, roots); len(d) != 1 || d[0].Subject.Start.Line != 23 {
		t.Errorf("every server: want the unused image's source (line 23) refused, got %s", d.Error())
	}
}
