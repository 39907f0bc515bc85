package reconcile

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// baseHCL is a small cluster: one server, one network, one image (its
// source is var.image), a system overlay, a repository runtime overlay
// with a per-node template, the builtin hosts overlay (which lists every
// node: a template reading other nodes' data), and two nodes.
const baseHCL = `# a small test cluster
variable "image" {
  type = string
}

server "head" {
  address = "10.99.0.1"
}

network "cluster" {
  subnet     = "10.99.0.0/24"
  gateway    = "10.99.0.1"
  dns        = ["10.99.0.1"]
  domain     = "cluster.local"
  lease_time = "1h"
}

image "rocky" {
  source = var.image
}

overlay "init" {
  source = "overlays/init"
}

overlay "generic" {
  source = "overlays/generic"
}

overlay "hosts" {
  builtin = "hosts"
}

profile "compute" {
  image            = image.rocky
  network          = network.cluster
  kernel_args      = ["quiet", "console=ttyS0"]
  system_overlays  = [overlay.init]
  runtime_overlays = [overlay.generic, overlay.hosts]
  tags             = { role = "compute" }
}

node "c001" {
  mac      = "52:54:00:00:00:01"
  ip       = "10.99.0.11"
  profiles = [profile.compute]
}

node "c002" {
  mac      = "52:54:00:00:00:02"
  ip       = "10.99.0.12"
  profiles = [profile.compute]
}
`

// baseFiles is the test cluster's repository: path -> content.
func baseFiles() map[string]string {
	return map[string]string{
		"main.hcl":                       baseHCL,
		"overlays/init/etc/init.conf":    "mode=diskless\n",
		"overlays/generic/etc/motd":      "welcome\n",
		"overlays/generic/etc/node.tmpl": "name={{.Node.Name}}\n",
		"overlays/generic/etc/issue":     "gitboot test\n",
	}
}

// edit returns a copy of files with old replaced by new in file path
// (exactly once: a test whose edit does not apply fails).
func edit(t testing.TB, files map[string]string, path, old, new string) map[string]string {
	t.Helper()
	if strings.Count(files[path], old) != 1 {
		t.Fatalf("edit %s: %q occurs %d times", path, old, strings.Count(files[path], old))
	}
	out := maps.Clone(files)
	out[path] = strings.Replace(files[path], old, new, 1)
	return out
}

// with returns a copy of files with path set to content.
func with(files map[string]string, path, content string) map[string]string {
	out := maps.Clone(files)
	out[path] = content
	return out
}

// without returns a copy of files without path.
func without(files map[string]string, path string) map[string]string {
	out := maps.Clone(files)
	delete(out, path)
	return out
}

func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for k, v := range files {
		m[k] = &fstest.MapFile{Data: []byte(v), Mode: 0o644}
	}
	return m
}

// loadFiles loads a repository given as files; it fails the test on any
// diagnostic.
func loadFiles(t testing.TB, files map[string]string, vars map[string]string) (*hclspec.Cluster, *hclspec.Server) {
	t.Helper()
	c, diags := hclspec.Load(mapFS(files), hclspec.Options{Vars: vars})
	if diags.HasErrors() {
		t.Fatalf("loading the test cluster: %s", diags.Error())
	}
	srv, err := c.PickServer("")
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

// makeImage writes a tiny directory image: a kernel at boot/vmlinuz-1
// and an /sbin/init.
func makeImage(t testing.TB, dir string) string {
	t.Helper()
	writeFile(t, filepath.Join(dir, "boot/vmlinuz-1"), "not a kernel\n")
	writeFile(t, filepath.Join(dir, "sbin/init"), "#!/bin/sh\n")
	return dir
}

func writeFile(t testing.TB, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// testRepo is a real git repository made with the git command.
type testRepo struct {
	t   testing.TB
	dir string
}

func newTestRepo(t testing.TB) *testRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	r := &testRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *testRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com",
		"-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit makes the work tree exactly files and commits it; it returns the
// commit's hash.
func (r *testRepo) commit(files map[string]string, msg string) string {
	r.t.Helper()
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != ".git" {
			if err := os.RemoveAll(filepath.Join(r.dir, e.Name())); err != nil {
				r.t.Fatal(err)
			}
		}
	}
	for p, data := range files {
		writeFile(r.t, filepath.Join(r.dir, p), data)
	}
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

func (r *testRepo) source() *gitsrc.Source {
	r.t.Helper()
	src, err := gitsrc.Open(r.dir)
	if err != nil {
		r.t.Fatal(err)
	}
	return src
}

// fakeCommit is a commit for Desire in tests that need no repository.
func fakeCommit(hash, subject string) *gitsrc.Commit {
	return &gitsrc.Commit{Hash: hash, Subject: subject, Author: "t <t@example.com>",
		When: time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)}
}
