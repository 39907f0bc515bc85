package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// gitopsLab is `gitboot serve` on a bare repository that a work tree
// pushes to, inside its own network namespace (DHCP never runs on the
// host's interfaces). Everything talks to the server over loopback in that
// namespace; git push runs there too, so the post-receive hook reaches it.
type gitopsLab struct {
	bin, bare, work, state, image string
	ns                            *netnstest.NS
	proc                          *exec.Cmd
	log                           *netnstest.SyncBuffer
	args                          []string
}

func startGitOpsLab(t *testing.T, serveArgs ...string) *gitopsLab {
	t.Helper()
	netnstest.Require(t)
	netnstest.RequireCommands(t, "git", "curl", "cpio", "gzip")
	dir := t.TempDir()
	l := &gitopsLab{bin: gitbootBinary(t), bare: filepath.Join(dir, "cluster.git"), state: filepath.Join(dir, "state"), args: serveArgs}
	l.image, _ = tinyImage(t)
	l.work = labRepo(t)
	git(t, dir, "init", "-q", "--bare", "-b", "main", l.bare)
	git(t, l.work, "remote", "add", "origin", l.bare)
	git(t, l.work, "push", "-q", "origin", "main")
	l.ns = netnstest.New(t, "gbops")
	return l
}

// serve starts gitboot serve (polling off unless the test asks for it)
// and waits until it answers.
func (l *gitopsLab) serve(t *testing.T) {
	t.Helper()
	args := append([]string{"serve", "--repo", l.bare, "--state", l.state, "--var", "image_source=" + l.image, "--image-root", filepath.Dir(l.image), "--poll", "0"}, l.args...)
	l.proc, l.log = l.ns.Start(t, l.bin, args...)
	l.waitFor(t, 60*time.Second, "gitboot serve answering", func() bool {
		_, err := l.ns.Output(context.Background(), "curl", "-sf", "http://127.0.0.1:9873/healthz")
		return err == nil
	})
}

func (l *gitopsLab) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	l.proc.Process.Signal(sig)
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(l.proc.Process.Pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("gitboot serve did not stop within 30 s of %v\n%s", sig, l.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (l *gitopsLab) waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s did not happen within %v\nlog:\n%s", what, limit, l.log.String())
		}
		if l.proc != nil && syscall.Kill(l.proc.Process.Pid, 0) != nil {
			t.Fatalf("gitboot serve exited while waiting for %s\nlog:\n%s", what, l.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// get fetches a URL path from the server (an operator route from the
// admin listener, adminURL); "" on error.
func (l *gitopsLab) get(path string) string {
	base := "http://127.0.0.1:9873"
	if operatorRoute(path) {
		base = adminURL
	}
	out, err := l.ns.Output(context.Background(), "curl", "-sf", base+path)
	if err != nil {
		return ""
	}
	return string(out)
}

// commit edits the work tree with edit and commits it.
func (l *gitopsLab) commit(t *testing.T, msg string, edit func(work string)) string {
	t.Helper()
	edit(l.work)
	git(t, l.work, "add", "-A")
	git(t, l.work, "commit", "-q", "-m", msg)
	return git(t, l.work, "rev-parse", "HEAD")
}

// push pushes the work tree's main to the bare repository from inside the
// namespace and returns git's output; it fails the test when want is not
// what git push returned (success or refusal).
func (l *gitopsLab) push(t *testing.T, wantOK bool, args ...string) string {
	t.Helper()
	cmd := l.ns.Command(context.Background(), "git", append([]string{"-C", l.work, "push", "origin"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if (err == nil) != wantOK {
		t.Fatalf("git push %v: err=%v, want success=%v\n%s\nlog:\n%s", args, err, wantOK, out, l.log.String())
	}
	return string(out)
}

func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(data), old, new, 1)
	if s == string(data) {
		t.Fatalf("%s: %q not found", path, old)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runtimeFile returns one file of node n1's runtime overlay as served.
func (l *gitopsLab) runtimeFile(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	arch := filepath.Join(dir, "rt.img.gz")
	// From n1's own address, as n1's agent would (only that counts).
	if out, err := l.ns.Output(context.Background(), "curl", "-sf", "-o", arch, l.asN1(t)+"/runtime/"+n1MAC); err != nil {
		t.Fatalf("fetching the runtime overlay: %v %s", err, out)
	}
	cmd := exec.Command("sh", "-c", "gzip -dc rt.img.gz | cpio -idm --quiet --no-absolute-filenames")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unpacking the runtime overlay: %v %s", err, out)
	}
	data, _ := os.ReadFile(filepath.Join(dir, name))
	return string(data)
}

// digestURL matches the script's digest URLs; in non-secure mode the
// runtime overlay's is /runtime-initrd/ (the artifact as a file in a cpio).
var digestURL = regexp.MustCompile(`/(kernel|image|system|runtime(?:-initrd)?)/[0-9a-f:]+/([0-9a-f]{64})`)

// checkWhole fetches every digest URL of n1's script, from n1's address,
// and checks that each is served with exactly the bytes its digest names:
// what a booting node gets is one commit's artifacts, never a mix or a
// half-built file.
func (l *gitopsLab) checkWhole(t *testing.T) string {
	t.Helper()
	base := l.asN1(t)
	script := l.get("/ipxe/" + n1MAC)
	m := digestURL.FindAllStringSubmatch(script, -1)
	if len(m) < 3 {
		t.Fatalf("the script names %d digest URLs, want the kernel, image and system overlay at least:\n%s", len(m), script)
	}
	for _, u := range m {
		out, err := l.ns.Output(context.Background(), "curl", "-sf", base+u[0])
		if err != nil {
			t.Fatalf("%s is not served: %v\nscript:\n%s\nlog:\n%s", u[0], err, script, l.log.String())
		}
		if u[1] == "runtime-initrd" {
			// The artifact named by the digest, wrapped: one gzip member
			// holding a cpio whose one file is the artifact's bytes.
			out = unwrapRuntimeInitrd(t, u[0], out)
		}
		sum := sha256.Sum256(out)
		if hex.EncodeToString(sum[:]) != u[2] {
			t.Fatalf("%s: served bytes have digest %x", u[0], sum)
		}
	}
	return script
}

func count(s, sub string) int { return strings.Count(s, sub) }

// TestGitOpsPushes walks the loop the way an operator uses it, with
// polling off so that only the watch on the bare repository's refs can
// notice pushes: a push of a good commit is applied; an overlay-only
// commit is applied; a comment-only commit applies nothing and builds
// nothing; a force-push back to an older commit applies it; a push of 300
// new files (a pack) is applied; a bad commit is rejected once and the last
// good state stays served; a restart with the bad tip serves the last
// good state.
func TestGitOpsPushes(t *testing.T) {
	l := startGitOpsLab(t)
	l.serve(t)
	first := l.checkWhole(t)
	nodes := filepath.Join(l.work, "nodes.hcl")

	// A good commit: n1 gets a kernel argument.
	good := l.commit(t, "debug n1", func(w string) {
		editFile(t, nodes, `tags     = { slot = "1" }`, "tags     = { slot = \"1\" }\n  kernel_args = [\"console=ttyS0\", \"gitboot.debug\"]")
	})
	l.push(t, true, "main")
	took := l.waitFor(t, 30*time.Second, "the pushed commit served", func() bool { return strings.Contains(l.get("/ipxe/"+n1MAC), "gitboot.debug") })
	t.Logf("push -> new script served: %v", took)
	l.checkWhole(t)

	// An overlay-only commit: the motd template changes, nothing in HCL.
	motd := filepath.Join(l.work, "overlays", "generic", "etc", "motd.tmpl")
	l.commit(t, "motd", func(w string) {
		data, _ := os.ReadFile(motd)
		os.WriteFile(motd, append(data, []byte("overlay-only change\n")...), 0o644)
	})
	l.push(t, true, "main")
	l.waitFor(t, 30*time.Second, "the overlay-only commit served", func() bool {
		return strings.Contains(l.runtimeFile(t, "etc/motd"), "overlay-only change")
	})

	checkCommentOnlyPush(t, l, nodes)

	// A force-push back to the first commit applies it.
	git(t, l.work, "reset", "-q", "--hard", "HEAD~3")
	l.push(t, true, "--force", "main")
	l.waitFor(t, 30*time.Second, "the force-pushed older commit served", func() bool {
		s := l.get("/ipxe/" + n1MAC)
		return s != "" && !strings.Contains(s, "gitboot.debug")
	})
	if got := l.checkWhole(t); got != first {
		t.Errorf("after the force-push the script differs from the first commit's:\n%s\nwant\n%s", got, first)
	}

	// 300 new files arrive as a pack.
	l.commit(t, "300 files", func(w string) {
		dir := filepath.Join(w, "overlays", "generic", "usr", "share", "many")
		os.MkdirAll(dir, 0o755)
		for i := range 300 {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", i)), []byte(fmt.Sprintf("file %d\n", i)), 0o644)
		}
	})
	l.push(t, true, "main")
	l.waitFor(t, 60*time.Second, "the 300-file commit served", func() bool {
		return l.runtimeFile(t, "usr/share/many/f299") == "file 299\n"
	})
	git(t, l.bare, "gc", "-q", "--prune=now")

	checkBadCommitKept(t, l, nodes)
	_ = good
}

// checkCommentOnlyPush: a pushed commit that only adds a comment to nodes
// is planned, and nothing is built or swapped.
func checkCommentOnlyPush(t *testing.T, l *gitopsLab, nodes string) {
	// A comment-only commit: planned, nothing built or swapped.
	builds := count(l.log.String(), "build done")
	l.commit(t, "comment", func(w string) {
		f, _ := os.OpenFile(nodes, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString("# a comment changes nothing served\n")
		f.Close()
	})
	l.push(t, true, "main")
	l.waitFor(t, 30*time.Second, "the comment-only commit evaluated", func() bool {
		return strings.Contains(l.log.String(), `msg="commit changes nothing served"`)
	})
	if n := count(l.log.String(), "build done"); n != builds {
		t.Errorf("a comment-only commit built artifacts (%d builds before, %d after)\n%s", builds, n, l.log.String())
	}
}

// checkBadCommitKept: a pushed commit that breaks nodes is rejected once
// (also when reconciled again) naming the bad reference, and the last good
// state stays served, also after a restart with the bad tip.
func checkBadCommitKept(t *testing.T, l *gitopsLab, nodes string) {
	// A bad commit: rejected once, the last good state stays.
	before := l.checkWhole(t)
	bad := l.commit(t, "broken", func(w string) { editFile(t, nodes, "profile.compute", "profile.computer") })
	l.push(t, true, "main")
	l.waitFor(t, 30*time.Second, "the bad commit rejected", func() bool { return strings.Contains(l.log.String(), "commit rejected") })
	l.proc.Process.Signal(syscall.SIGHUP) // one more pass: must not report it again
	if out, err := l.ns.Output(context.Background(), "curl", "-sf", "-X", "POST", adminURL+"/reconcile"); err != nil {
		t.Errorf("POST /reconcile from loopback: %v %s", err, out)
	}
	time.Sleep(500 * time.Millisecond)
	if n := count(l.log.String(), "commit rejected"); n != 1 {
		t.Errorf("the bad commit was reported %d times, want once\n%s", n, l.log.String())
	}
	if !strings.Contains(l.log.String(), "computer") {
		t.Errorf("the rejection does not name the bad reference:\n%s", l.log.String())
	}
	if got := l.checkWhole(t); got != before {
		t.Errorf("after a bad commit the served script changed:\n%s", got)
	}

	// A restart with the bad tip serves the last good state.
	l.stop(t, syscall.SIGTERM)
	l.serve(t)
	if got := l.checkWhole(t); got != before {
		t.Errorf("after a restart with a bad tip the script is not the last good one:\n%s\nwant\n%s", got, before)
	}
	l.waitFor(t, 30*time.Second, "the bad tip rejected after the restart", func() bool { return strings.Contains(l.log.String(), "commit rejected") })
	if !strings.Contains(l.log.String(), "serving the last applied state") {
		t.Errorf("the restart did not serve the recorded state first:\n%s", l.log.String())
	}
	_ = bad
}

// TestGitOpsKillDuringApply kills gitboot serve with SIGKILL at several
// moments of applying pushed commits, restarts it each time, and checks
// that what it serves is always one whole applied state: every digest URL
// of the script is served with the bytes its digest names.
func TestGitOpsKillDuringApply(t *testing.T) {
	l := startGitOpsLab(t)
	l.serve(t)
	motd := filepath.Join(l.work, "overlays", "generic", "etc", "motd.tmpl")
	for i, delay := range []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond, 60 * time.Millisecond, 150 * time.Millisecond} {
		l.commit(t, fmt.Sprintf("change %d", i), func(w string) {
			data, _ := os.ReadFile(motd)
			os.WriteFile(motd, append(data, []byte(fmt.Sprintf("change %d\n", i))...), 0o644)
			// A new image file too, so the apply rebuilds the image.
			os.WriteFile(filepath.Join(l.image, "etc", "stamp"), bytes.Repeat([]byte{byte(i)}, 1<<20), 0o644)
		})
		l.push(t, true, "main")
		l.proc.Process.Signal(syscall.SIGHUP)
		time.Sleep(delay)
		l.stop(t, syscall.SIGKILL)
		l.serve(t)
		l.checkWhole(t)
	}
	// The last commit is applied in the end.
	l.waitFor(t, 60*time.Second, "the last commit served", func() bool {
		return strings.Contains(l.runtimeFile(t, "etc/motd"), "change 4")
	})
	l.checkWhole(t)
}

// TestGitOpsHooks: with hooks installed on the bare repository, a bad
// push is refused by git push with the diagnostics, and a good push is
// applied at once by the post-receive hook (the watch is off here).
func TestGitOpsHooks(t *testing.T) {
	l := startGitOpsLab(t, "--watch=false")
	l.serve(t)
	out, err := exec.Command(l.bin, "hooks", "install", "--repo", l.bare, "--var", "image_source="+l.image, "--image-root", filepath.Dir(l.image)).CombinedOutput()
	if err != nil {
		t.Fatalf("hooks install: %v\n%s", err, out)
	}
	nodes := filepath.Join(l.work, "nodes.hcl")
	l.commit(t, "broken", func(w string) { editFile(t, nodes, `ip       = "10.99.0.11"`, `ip       = "10.98.0.11"`) })
	msg := l.push(t, false, "main")
	for _, want := range []string{"nodes.hcl", "outside"} {
		if !strings.Contains(msg, want) {
			t.Errorf("git push output lacks %q:\n%s", want, msg)
		}
	}
	git(t, l.work, "reset", "-q", "--hard", "HEAD~1")
	l.commit(t, "debug n1", func(w string) {
		editFile(t, nodes, `tags     = { slot = "1" }`, "tags     = { slot = \"1\" }\n  kernel_args = [\"console=ttyS0\", \"gitboot.hook\"]")
	})
	l.push(t, true, "main")
	l.waitFor(t, 30*time.Second, "the pushed commit served through the post-receive hook", func() bool {
		return strings.Contains(l.get("/ipxe/"+n1MAC), "gitboot.hook")
	})
}

// unwrapRuntimeInitrd returns the overlay file of a /runtime-initrd/
// answer (a gzip member holding a cpio newc archive), checking the archive
// holds exactly .gitboot-runtime.img.gz.sig (the overlay's signature)
// then .gitboot-runtime.img.gz.
func unwrapRuntimeInitrd(t *testing.T, url string, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: not gzip: %v", url, err)
	}
	r := cpio.NewReader(zr)
	var file []byte
	n := 0
	for {
		hdr, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: cpio: %v", url, err)
		}
		n++
		want := ".gitboot-runtime.img.gz.sig"
		if n == 2 {
			want = ".gitboot-runtime.img.gz"
		}
		if hdr.Name != want {
			t.Fatalf("%s: cpio entry %d is %q, want %s", url, n, hdr.Name, want)
		}
		if file, err = io.ReadAll(r); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
	}
	if n != 2 {
		t.Fatalf("%s: %d cpio entries, want the signature and the overlay", url, n)
	}
	return file
}

// operatorRoute reports whether path is served by the admin listener
// rather than the boot port.
func operatorRoute(path string) bool {
	p, _, _ := strings.Cut(path, "?")
	switch p {
	case "/", "/events", "/status", "/inventory", "/metrics", "/check-path", "/rollout", "/reconcile", "/apply", "/power":
		return true
	}
	return false
}
