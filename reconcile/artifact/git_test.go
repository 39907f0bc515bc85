package artifact

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// TestBuildFromGitRepository loads the lab example from a real git
// repository (made with the git command) through hclspec.Load and the git
// tree fs.FS, builds it, and checks the overlays against the repository.
func TestBuildFromGitRepository(t *testing.T) {
	repo, git := labGitRepo(t)
	img := t.TempDir()
	makeImageTree(t, img)

	load := func() *hclspec.Cluster {
		src, err := gitsrc.Open(repo)
		if err != nil {
			t.Fatal(err)
		}
		c, err := src.Resolve("main")
		if err != nil {
			t.Fatal(err)
		}
		cl, diags := hclspec.Load(c.FS, hclspec.Options{Vars: map[string]string{"image_source": img}})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		return cl
	}
	cl := load()
	b := newBuilder(t, t.TempDir())
	r, err := b.Build(context.Background(), cl, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Nodes) != len(cl.Nodes) || len(r.Nodes) == 0 {
		t.Fatalf("built %d nodes of %d", len(r.Nodes), len(cl.Nodes))
	}
	checked := 0
	for _, n := range cl.Nodes {
		checked += checkNodeFromGit(t, cl, repo, n, r.Nodes[n.Name])
	}

	if checked < 4 {
		t.Fatalf("compared only %d overlay files", checked)
	}

	// The same repository read from the directory gives the same bytes,
	// and a comment-only commit rebuilds nothing.
	cl2, diags := hclspec.Load(os.DirFS(repo), hclspec.Options{Vars: map[string]string{"image_source": img}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	r2 := mustBuild(t, newBuilder(t, t.TempDir()), cl2)
	for name, a := range r.Nodes {
		if r2.Nodes[name].System.Digest != a.System.Digest || r2.Nodes[name].Runtime.Digest != a.Runtime.Digest {
			t.Errorf("node %s: git tree and directory give different overlays", name)
		}
	}
	f, err := os.OpenFile(filepath.Join(repo, "cluster.hcl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n# a comment\n")
	f.Close()
	git("commit", "-q", "-am", "comment")
	r3 := mustBuild(t, b, load())
	if r3.Built != 0 || r3.Images[cl.Nodes[0].Image].Rebuilt {
		t.Errorf("comment-only commit rebuilt %d overlays", r3.Built)
	}
}

// labGitRepo makes a git repository of examples/lab, with an executable
// file and a symlink added to overlay init, committed on main. git runs a
// git command in it.
func labGitRepo(t *testing.T) (repo string, git func(args ...string)) {
	_, file, _, _ := runtime.Caller(0)
	lab := filepath.Join(filepath.Dir(file), "..", "..", "examples", "lab")
	if _, err := os.Stat(filepath.Join(lab, "cluster.hcl")); err != nil {
		t.Fatalf("examples/lab: %v", err)
	}
	repo = t.TempDir()
	run(t, "", "cp", "-r", lab+"/.", repo)
	write(t, filepath.Join(repo, "overlays/init/usr/local/sbin/gitboot-hello"), "#!/bin/sh\necho hello\n", 0o755)
	if err := os.Symlink("../usr/share/zoneinfo/UTC", filepath.Join(repo, "overlays/init/etc/localtime")); err != nil {
		t.Fatal(err)
	}
	git = func(args ...string) {
		run(t, repo, "git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	}
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-q", "-m", "lab")
	return repo, git
}

// checkNodeFromGit unpacks node n's built overlays a and checks every
// file of its overlays' sources in repo (checkOverlayFiles) and the
// symlink committed to git; it returns how many files it checked.
func checkNodeFromGit(t *testing.T, cl *hclspec.Cluster, repo string, n *hclspec.Node, a bootsvc.Artifacts) int {
	checked := 0
	checkArchive(t, a.System.Path)
	checkArchive(t, a.Runtime.Path)
	sys := unpack(t, a.System.Path)
	both := sys
	if len(n.RuntimeOverlays) > 0 {
		rt := unpack(t, a.Runtime.Path)
		run(t, "", "cp", "-a", rt+"/.", sys)
		both = sys
	}
	// Every file of the node's overlays is there, with the repository's
	// content (templates rendered) and mode.
	for _, ovName := range append(append([]string{}, n.SystemOverlays...), n.RuntimeOverlays...) {
		ov, _ := cl.Overlay(ovName)
		if ov.Source == "" {
			continue
		}
		checked += checkOverlayFiles(t, n.Name, filepath.Join(repo, ov.Source), both)
	}
	if l, err := os.Readlink(filepath.Join(sys, "etc/localtime")); err != nil || l != "../usr/share/zoneinfo/UTC" {
		t.Errorf("symlink from git: %q %v", l, err)
	}
	return checked
}

// checkOverlayFiles checks that every file of the overlay source tree root
// is in node's unpacked overlays (both) with the repository's mode and
// content, templates rendered; it returns how many files it checked.
func checkOverlayFiles(t *testing.T, node, root, both string) int {
	checked := 0
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		checked++
		out := filepath.Join(both, strings.TrimSuffix(rel, ".tmpl"))
		info, err := os.Lstat(out)
		if err != nil {
			t.Errorf("node %s: %s missing: %v", node, rel, err)
			return nil
		}
		src, _ := os.Lstat(p)
		if info.Mode().Type() != src.Mode().Type() || (src.Mode().IsRegular() && info.Mode().Perm() != src.Mode().Perm()) {
			t.Errorf("node %s: %s mode %v, repository has %v", node, rel, info.Mode(), src.Mode())
		}
		if strings.HasSuffix(rel, ".tmpl") {
			if body := readFile(t, out); strings.Contains(body, "{{") || !strings.Contains(body, node) && strings.Contains(readFile(t, p), ".Node.Name") {
				t.Errorf("node %s: %s not rendered: %q", node, rel, body)
			}
		} else if src.Mode().IsRegular() && readFile(t, out) != readFile(t, p) {
			t.Errorf("node %s: %s differs from the repository", node, rel)
		}
		return nil
	})
	return checked
}
