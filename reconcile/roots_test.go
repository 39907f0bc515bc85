package reconcile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/hclspec"
)

// TestRootsRejectCommit: a commit naming a server path outside the roots
// (an image source or ipxe_dir) is rejected with the diagnostic at the
// attribute, before any image source is read, and the last good state
// stays served; a reconciler without the roots would have applied it.
func TestRootsRejectCommit(t *testing.T) {
	e := newRecEnv(t)
	imageRoot := filepath.Dir(e.image)
	ipxeRoot := t.TempDir()
	if err := os.Symlink("/etc", filepath.Join(imageRoot, "escape")); err != nil {
		t.Fatal(err)
	}
	roots := hclspec.Roots{Images: []string{imageRoot}, IPXE: []string{ipxeRoot}}
	e.rec.cfg.Roots = roots
	good := edit(t, baseFiles(), "main.hcl", `address = "10.99.0.1"`, "address  = \"10.99.0.1\"\n  ipxe_dir = \""+ipxeRoot+"\"")
	c1 := e.repo.commit(good, "good")
	e.mustApply(c1)
	served := e.rec.Snapshot()

	for _, tc := range []struct {
		name          string
		old, new      string
		line, col     int
		summary, text string
	}{
		{"ipxe_dir /etc", `ipxe_dir = "` + ipxeRoot + `"`, `ipxe_dir = "/etc"`, 8, 14, "ipxe_dir outside", "/etc is not inside"},
		{"image /etc", "source = var.image", `source = "/etc"`, 20, 12, "Image source outside", "/etc is not inside"},
		{"image /root", "source = var.image", `source = "/root"`, 20, 12, "Image source outside", "/root is not inside"},
		{"symlink out of the root", "source = var.image", `source = "` + imageRoot + `/escape"`, 20, 12, "Image source outside", "resolves to /etc"},
		{"dot-dot", "source = var.image", `source = "` + imageRoot + strings.Repeat("/..", 20) + `/etc/ssh"`, 20, 12, "Image source outside", "resolves to /etc/ssh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := edit(t, good, "main.hcl", tc.old, tc.new)
			c := e.repo.commit(files, tc.name)
			published := len(e.published)
			ev, err := e.once(Options{})
			var ce *ConfigError
			if !errors.As(err, &ce) || ev.Result != ResultRejected || ce.Commit != c {
				t.Fatalf("result %q, err %v: want the commit rejected", ev.Result, err)
			}
			if len(ce.Diags) != 1 {
				t.Fatalf("want one diagnostic, got %s", ce.Diags.Error())
			}
			d := ce.Diags[0]
			if d.Subject == nil || d.Subject.Filename != "main.hcl" || d.Subject.Start.Line != tc.line || d.Subject.Start.Column != tc.col {
				t.Errorf("diagnostic at %v, want main.hcl:%d:%d", d.Subject, tc.line, tc.col)
			}
			if !strings.HasPrefix(d.Summary, tc.summary) || !strings.Contains(d.Detail, tc.text) {
				t.Errorf("diagnostic %q: %q", d.Summary, d.Detail)
			}
			if ce.Files["main.hcl"] == nil {
				t.Error("the rejection carries no source to show the snippet from")
			}
			if len(e.published) != published || e.rec.Snapshot() != served {
				t.Error("a rejected commit changed the served snapshot")
			}
			if inv, _ := e.rec.Running(); inv.Commit != c1 {
				t.Errorf("running commit %s, want the last good %s", inv.Commit, c1)
			}
		})
	}

	// Without the roots (what every server did before), the same commit
	// is applied: the check is what refuses it.
	e.rec = e.newReconciler()
	if _, err := e.rec.Restore(); err != nil {
		t.Fatal(err)
	}
	c := e.repo.commit(edit(t, good, "main.hcl", `ipxe_dir = "`+ipxeRoot+`"`, `ipxe_dir = "/etc"`), "unchecked")
	e.mustApply(c)
}

// TestRootsRestore: a recorded state that names a path outside the roots
// (applied before they were set) is not served at start.
func TestRootsRestore(t *testing.T) {
	e := newRecEnv(t)
	c1 := e.repo.commit(baseFiles(), "first")
	e.mustApply(c1)

	r := e.newReconciler()
	r.cfg.Roots = hclspec.Roots{Images: []string{filepath.Dir(e.image)}, IPXE: []string{t.TempDir()}}
	if snap, err := r.Restore(); err == nil || snap != nil || !strings.Contains(err.Error(), "ipxe_dir /usr/lib/ipxe is not inside") {
		t.Fatalf("Restore: %v, %v; want the state refused for its ipxe_dir", snap, err)
	}
	r.cfg.Roots = hclspec.Roots{Images: []string{t.TempDir()}, IPXE: []string{hclspec.DefaultIPXEDir}}
	if snap, err := r.Restore(); err == nil || snap != nil || !strings.Contains(err.Error(), "image rocky: source "+e.image+" is not inside") {
		t.Fatalf("Restore: %v, %v; want the state refused for its image source", snap, err)
	}
	r.cfg.Roots = hclspec.Roots{Images: []string{filepath.Dir(e.image)}, IPXE: []string{hclspec.DefaultIPXEDir}}
	if snap, err := r.Restore(); err != nil || snap == nil {
		t.Fatalf("Restore inside the roots: %v, %v", snap, err)
	}
}
