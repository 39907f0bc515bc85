package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/serve"
)

// serverPaths is a server's file system for the roots tests: an image root
// holding the lab's image directory and a symlink out of it (to /etc), and
// an iPXE directory.
type serverPaths struct {
	images, ipxe, image string
}

func newServerPaths(t *testing.T) serverPaths {
	t.Helper()
	dir := t.TempDir()
	p := serverPaths{images: filepath.Join(dir, "images"), ipxe: filepath.Join(dir, "ipxe")}
	p.image = filepath.Join(p.images, "demo")
	writeTestFile(t, filepath.Join(p.image, "boot/vmlinuz-1"), "not a kernel\n")
	writeTestFile(t, filepath.Join(p.image, "sbin/init"), "#!/bin/sh\n")
	if err := os.MkdirAll(p.ipxe, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(p.images, "escape")); err != nil {
		t.Fatal(err)
	}
	return p
}

// badServerPath is one commit naming a server path outside the roots:
// old -> new in examples/lab's cluster.hcl (for ipxe_dir: "/etc"), and the
// line the diagnostic must point at with the text it must say.
type badServerPath struct {
	name, old, new string
	line           string // "on cluster.hcl line N"
	text           string
}

func badServerPaths(p serverPaths) []badServerPath {
	return []badServerPath{
		{"ipxe_dir /etc", "", "", "on cluster.hcl line 16", "ipxe_dir /etc is not inside a directory the server allows (--ipxe-dir " + p.ipxe + ")"},
		{"image /etc", "source = var.image_source", `source = "/etc"`, "on cluster.hcl line 42", "source /etc is not inside a directory the server allows (--image-root " + p.images + ")"},
		{"image /root", "source = var.image_source", `source = "/root"`, "on cluster.hcl line 42", "source /root is not inside"},
		{"symlink out of the root", "source = var.image_source", `source = "` + p.images + `/escape"`, "on cluster.hcl line 42", "/escape"},
		{"dot-dot", "source = var.image_source", `source = "` + p.images + strings.Repeat("/..", 20) + `/root"`, "on cluster.hcl line 42", "is not inside"},
	}
}

// labWork is a work tree of examples/lab whose image is p.image and whose
// server block names p.ipxe, committed on main.
func labWork(t *testing.T, p serverPaths) (work, cluster string) {
	t.Helper()
	work = filepath.Join(t.TempDir(), "work")
	if err := os.CopyFS(work, os.DirFS("../../examples/lab")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(work, "cluster.hcl")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cluster = strings.Replace(string(data), `"/var/lib/gitboot/images/demo"`, `"`+p.image+`"`, 1)
	cluster = strings.Replace(cluster, "networks = [network.cluster] # the networks whose nodes it boots",
		"networks = [network.cluster] # the networks whose nodes it boots\n  ipxe_dir = \""+p.ipxe+"\"", 1)
	writeFile(t, path, cluster)
	mustGit(t, work, "init", "-q", "-b", "main")
	mustGit(t, work, "add", "-A")
	mustGit(t, work, "commit", "-q", "-m", "lab")
	return work, cluster
}

// editServerPath applies bad to cluster (whose server block already names
// an ipxe_dir: that line is replaced for the ipxe_dir case).
func editServerPath(t *testing.T, cluster string, bad badServerPath) string {
	t.Helper()
	if strings.HasPrefix(bad.name, "ipxe_dir") {
		i := strings.Index(cluster, "  ipxe_dir = ")
		j := strings.Index(cluster[i:], "\n")
		return cluster[:i] + `  ipxe_dir = "/etc"` + cluster[i+j:]
	}
	if strings.Count(cluster, bad.old) != 1 {
		t.Fatalf("%q is not in cluster.hcl once", bad.old)
	}
	return strings.Replace(cluster, bad.old, bad.new, 1)
}

// TestHooksPushRefusesServerPaths: the pre-receive hook, installed with the
// server's --image-root and --ipxe-dir, refuses a push naming a server
// path outside them, with the diagnostic at the attribute; the same lab
// inside them is accepted.
func TestHooksPushRefusesServerPaths(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	bin := buildGitboot(t)
	p := newServerPaths(t)
	bare := newBareRepo(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String() // no server: the post-receive poke just fails
	l.Close()
	runGitboot(t, bin, "hooks", "install", "--repo", bare, "--server", down, "--image-root", p.images, "--ipxe-dir", p.ipxe)
	work, cluster := labWork(t, p)
	if _, stderr, err := hookGit(t, work, nil, "push", bare, "main"); err != nil || !strings.Contains(stderr, "is valid; accepting the push") {
		t.Fatalf("push of the lab inside the roots: %v\n%s", err, stderr)
	}
	good := mustGit(t, work, "rev-parse", "main")
	for _, bad := range badServerPaths(p) {
		t.Run(bad.name, func(t *testing.T) {
			mustGit(t, work, "checkout", "-q", "-B", "bad", "main")
			writeFile(t, filepath.Join(work, "cluster.hcl"), editServerPath(t, cluster, bad))
			mustGit(t, work, "commit", "-q", "-a", "-m", bad.name)
			_, stderr, err := hookGit(t, work, nil, "push", bare, "bad:main")
			if err == nil {
				t.Fatalf("push accepted:\n%s", stderr)
			}
			for _, want := range []string{bad.line, bad.text, "refusing the push to refs/heads/main", "pre-receive hook declined"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("push output lacks %q:\n%s", want, stderr)
				}
			}
			if tip, _, _ := hookGit(t, bare, nil, "rev-parse", "main"); tip != good {
				t.Errorf("main moved to %s", tip)
			}
		})
	}
}

// TestValidateRoots: validate checks server paths only when given roots.
func TestValidateRoots(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	p := newServerPaths(t)
	work, cluster := labWork(t, p)
	writeFile(t, filepath.Join(work, "cluster.hcl"), editServerPath(t, cluster, badServerPaths(p)[1]))
	var out, errb bytes.Buffer
	if code := runWith([]string{"validate", work}, &out, &errb); code != 0 {
		t.Fatalf("validate without roots: exit %d\n%s", code, errb.String())
	}
	out.Reset()
	errb.Reset()
	code := runWith([]string{"validate", "--json", "--image-root", p.images, "--ipxe-dir", p.ipxe, work}, &out, &errb)
	if code != 1 || !strings.Contains(out.String(), `"summary": "Image source outside the server's image roots"`) ||
		!strings.Contains(out.String(), `"line": 42`) || !strings.Contains(out.String(), `"column": 12`) {
		t.Fatalf("validate --image-root: exit %d\n%s%s", code, out.String(), errb.String())
	}
}

// TestPlanServerRefusesServerPaths: plan --server asks the running server
// (GET /check-path, over real HTTP) whether each path is allowed, so a
// commit naming one outside its roots is refused with the diagnostic at
// the attribute, and one inside plans.
func TestPlanServerRefusesServerPaths(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	p := newServerPaths(t)
	roots := hclspec.Roots{Images: []string{p.images}, IPXE: []string{p.ipxe}}
	h := httpboot.New(httpboot.Config{Status: status.NewMemory(), CheckPath: serve.CheckPathHandler(roots)})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h.Admin("")}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	url := "http://" + l.Addr().String()
	work, cluster := labWork(t, p)

	var out, errb bytes.Buffer
	// The client's own flags do not matter with --server: these would refuse everything.
	args := []string{"plan", "--repo", work, "--server", url, "--image-root", "/nonexistent", "--ipxe-dir", "/nonexistent"}
	if code := runWith(append(args, "--ref", "main"), &out, &errb); code != 0 || !strings.Contains(out.String(), "+ image.demo") {
		t.Fatalf("plan --server inside the roots: exit %d\n%s%s", code, out.String(), errb.String())
	}
	for _, bad := range badServerPaths(p) {
		t.Run(bad.name, func(t *testing.T) {
			mustGit(t, work, "checkout", "-q", "-B", "bad", "main")
			writeFile(t, filepath.Join(work, "cluster.hcl"), editServerPath(t, cluster, bad))
			mustGit(t, work, "commit", "-q", "-a", "-m", bad.name)
			out.Reset()
			errb.Reset()
			code := runWith(append(args, "--ref", "bad"), &out, &errb)
			if code != 1 {
				t.Fatalf("plan --server: exit %d, want 1\n%s%s", code, out.String(), errb.String())
			}
			for _, want := range []string{"it would be rejected", bad.line} {
				if !strings.Contains(errb.String(), want) {
					t.Errorf("plan output lacks %q:\n%s", want, errb.String())
				}
			}
			// The server says only whether a path is allowed, not where it leads.
			if !strings.Contains(errb.String(), "is not inside a directory the server allows") {
				t.Errorf("plan output does not say why:\n%s", errb.String())
			}
		})
	}
}
