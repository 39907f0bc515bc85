package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gitboot/gitboot/reconcile/githook"
)

// hookGit runs git in dir with a fixed identity and no user or system
// configuration, and returns stdout and stderr.
func hookGit(t *testing.T, dir string, env []string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.org",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.org",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return strings.TrimSpace(stdout.String()), stderr.String(), err
}

// mustGit is hookGit that fails the test on an error.
func mustGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, errOut, err := hookGit(t, dir, nil, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func newBareRepo(t *testing.T) string {
	t.Helper()
	bare := filepath.Join(t.TempDir(), "site.git")
	mustGit(t, ".", "init", "-q", "--bare", "-b", "main", bare)
	return bare
}

// buildGitboot builds the gitboot binary: the hooks call it by path.
func buildGitboot(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gitboot")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("building gitboot: %v\n%s", err, out)
	}
	return bin
}

func runGitboot(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("gitboot %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestHooksPush pushes to a bare repository with the hooks installed, with
// real git and the built gitboot binary.
func TestHooksPush(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	h := newHooksFixture(t)
	t.Run("valid push is accepted and pokes the server once", h.testPushValid)

	mustGit(t, h.work, "checkout", "-q", "-b", "bad")
	nodes := filepath.Join(h.work, "nodes.hcl")
	data, err := os.ReadFile(nodes)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, nodes, strings.Replace(string(data), `"10.99.0.11"`, `"10.98.0.11"`, 1))
	mustGit(t, h.work, "commit", "-q", "-a", "-m", "n1 outside its network")

	t.Run("invalid push is refused with the diagnostics", h.testPushInvalid)
	t.Run("other branches are not validated", h.testPushOtherBranch)
	t.Run("deleting the branch is refused", h.testPushDelete)
	t.Run("server down does not fail the push", h.testPushServerDown)
}

// hooksFixture is a bare repository with gitboot's hooks installed (they
// poke a test server, which counts the pokes) and a work tree of
// examples/lab, committed (good), to push from.
type hooksFixture struct {
	bin, bare, work string
	good            string // the work tree's first commit
	tmp             string // TMPDIR of the hooks
	pokes           *atomic.Int32
}

// newHooksFixture builds gitboot and makes the fixture.
func newHooksFixture(t *testing.T) *hooksFixture {
	h := &hooksFixture{bin: buildGitboot(t), pokes: new(atomic.Int32)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/reconcile" {
			h.pokes.Add(1)
			w.WriteHeader(http.StatusAccepted)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)

	h.bare = newBareRepo(t)
	// A --var with a quote in it exercises the hook's sh quoting; the
	// repository below declares "site" without a default, so validation
	// fails unless the value reaches it.
	runGitboot(t, h.bin, "hooks", "install", "--repo", h.bare, "--server", srv.URL, "--var", "site=Bob's lab")

	h.work = filepath.Join(t.TempDir(), "work")
	if err := os.CopyFS(h.work, os.DirFS("../../examples/lab")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(h.work, "site.hcl"), "variable \"site\" {\n  type = string\n}\n")
	mustGit(t, h.work, "init", "-q", "-b", "main")
	mustGit(t, h.work, "add", "-A")
	mustGit(t, h.work, "commit", "-q", "-m", "lab")
	h.good = mustGit(t, h.work, "rev-parse", "HEAD")

	// Hooks make their temporary directories under TMPDIR: it must stay empty.
	h.tmp = t.TempDir()
	return h
}

// push runs git push to the bare repository with args and returns its
// stderr; the hooks must leave TMPDIR empty.
func (h *hooksFixture) push(t *testing.T, args ...string) (string, error) {
	_, stderr, err := hookGit(t, h.work, []string{"TMPDIR=" + h.tmp}, append([]string{"push", h.bare}, args...)...)
	if left, _ := os.ReadDir(h.tmp); len(left) != 0 {
		t.Errorf("the hooks left %d entries in TMPDIR (%s...)", len(left), left[0].Name())
	}
	return stderr, err
}

// tip returns the commit ref names in the bare repository ("" when none).
func (h *hooksFixture) tip(t *testing.T, ref string) string {
	out, _, _ := hookGit(t, h.bare, nil, "rev-parse", "--verify", "-q", ref)
	return out
}

// testPushValid: a valid push is accepted and pokes the server once.
func (h *hooksFixture) testPushValid(t *testing.T) {
	stderr, err := h.push(t, "main")
	if err != nil {
		t.Fatalf("push refused: %v\n%s", err, stderr)
	}
	if got := h.tip(t, "main"); got != h.good {
		t.Errorf("main is %q after the push, want %s", got, h.good)
	}
	if n := h.pokes.Load(); n != 1 {
		t.Errorf("server got %d POST /reconcile, want 1\n%s", n, stderr)
	}
	if !strings.Contains(stderr, "is valid; accepting the push to refs/heads/main") {
		t.Errorf("push output does not say the commit is valid:\n%s", stderr)
	}
}

// testPushInvalid: an invalid push to the hooks' branch is refused with the
// diagnostics, and main stays.
func (h *hooksFixture) testPushInvalid(t *testing.T) {
	stderr, err := h.push(t, "bad:main")
	if err == nil {
		t.Fatalf("push of an invalid commit succeeded:\n%s", stderr)
	}
	for _, want := range []string{
		"Error: IP outside its network",
		"on nodes.hcl line 11, in node \"n1\":",
		`11:   ip       = "10.98.0.11"`,
		"refusing the push to refs/heads/main",
		"pre-receive hook declined",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("push output lacks %q:\n%s", want, stderr)
		}
	}
	if got := h.tip(t, "main"); got != h.good {
		t.Errorf("main moved to %q; want it to stay at %s", got, h.good)
	}
	if n := h.pokes.Load(); n != 1 {
		t.Errorf("server got %d POST /reconcile, want still 1", n)
	}
}

// testPushOtherBranch: pushes to other branches are neither validated nor
// announced.
func (h *hooksFixture) testPushOtherBranch(t *testing.T) {
	stderr, err := h.push(t, "bad:refs/heads/wip")
	if err != nil {
		t.Fatalf("push to another branch refused: %v\n%s", err, stderr)
	}
	if h.tip(t, "wip") == "" {
		t.Error("wip was not created")
	}
	if strings.Contains(stderr, "gitboot:") {
		t.Errorf("gitboot said something about another branch:\n%s", stderr)
	}
	if n := h.pokes.Load(); n != 1 {
		t.Errorf("server got %d POST /reconcile, want still 1", n)
	}
}

// testPushDelete: deleting the hooks' branch is refused.
func (h *hooksFixture) testPushDelete(t *testing.T) {
	stderr, err := h.push(t, ":main")
	if err == nil || !strings.Contains(stderr, "refusing to delete refs/heads/main") {
		t.Errorf("deleting main: err %v, output:\n%s", err, stderr)
	}
	if got := h.tip(t, "main"); got != h.good {
		t.Errorf("main is %q, want %s", got, h.good)
	}
}

// testPushServerDown: a server that cannot be reached does not fail the push:
// the hook says so once.
func (h *hooksFixture) testPushServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close()
	// Reinstalling over gitboot's own hooks needs no --force.
	runGitboot(t, h.bin, "hooks", "install", "--repo", h.bare, "--server", down, "--var", "site=Bob's lab")
	mustGit(t, h.work, "checkout", "-q", "main")
	writeFile(t, filepath.Join(h.work, "README"), "the lab\n")
	mustGit(t, h.work, "add", "README")
	mustGit(t, h.work, "commit", "-q", "-m", "readme")
	stderr, err := h.push(t, "main")
	if err != nil {
		t.Fatalf("push failed: %v\n%s", err, stderr)
	}
	line := "gitboot: could not reach the server at " + down + " (it will notice the push within its poll interval)"
	if n := strings.Count(stderr, line); n != 1 {
		t.Errorf("push output has %q %d times, want once:\n%s", line, n, stderr)
	}
	if got, want := h.tip(t, "main"), mustGit(t, h.work, "rev-parse", "HEAD"); got != want {
		t.Errorf("main is %q, want %s", got, want)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHooksInstall(t *testing.T) {
	t.Run("foreign hook needs --force", testInstallForeignHook)
	t.Run("core.hooksPath", testInstallHooksPath)
	t.Run("work tree", testInstallWorkTree)
	t.Run("bad arguments", testInstallBadArguments)
}

// hooksInstall runs gitboot hooks install with args and returns its exit
// code, stdout and stderr.
func hooksInstall(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := runWith(append([]string{"hooks", "install"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// checkHookFile checks that file is one of gitboot's hooks: executable,
// with the marker, and valid sh.
func checkHookFile(t *testing.T, file string) {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("%s has mode %v, want 0755", file, fi.Mode().Perm())
	}
	data, _ := os.ReadFile(file)
	if !bytes.HasPrefix(data, []byte("#!/bin/sh\n"+githook.Marker+"\n")) {
		t.Errorf("%s does not start with #!/bin/sh and the marker:\n%s", file, data)
	}
	if out, err := exec.Command("sh", "-n", file).CombinedOutput(); err != nil {
		t.Errorf("sh -n %s: %v\n%s", file, err, out)
	}
}

// testInstallForeignHook: a foreign hook is kept unless --force, and gitboot
// reinstalls over its own hooks without it.
func testInstallForeignHook(t *testing.T) {
	bare := newBareRepo(t)
	foreign := filepath.Join(bare, "hooks", "post-receive")
	writeFile(t, foreign, "#!/bin/sh\necho mine\n")
	code, _, stderr := hooksInstall("--repo", bare)
	if code != 1 || !strings.Contains(stderr, foreign) || !strings.Contains(stderr, "--force") {
		t.Errorf("exit %d, stderr %q; want 1 naming %s and --force", code, stderr, foreign)
	}
	if data, _ := os.ReadFile(foreign); string(data) != "#!/bin/sh\necho mine\n" {
		t.Errorf("foreign hook changed:\n%s", data)
	}
	if _, err := os.Stat(filepath.Join(bare, "hooks", "pre-receive")); err == nil {
		t.Error("pre-receive was installed although the install was refused")
	}
	if code, _, stderr := hooksInstall("--repo", bare, "--force"); code != 0 {
		t.Fatalf("--force: exit %d: %s", code, stderr)
	}
	checkHookFile(t, foreign)
	checkHookFile(t, filepath.Join(bare, "hooks", "pre-receive"))
	if code, _, stderr := hooksInstall("--repo", bare, "--ref", "prod"); code != 0 {
		t.Errorf("reinstall over gitboot's hooks: exit %d: %s", code, stderr)
	}
	if data, _ := os.ReadFile(foreign); !bytes.Contains(data, []byte("ref='refs/heads/prod'")) {
		t.Errorf("reinstall did not take --ref prod:\n%s", data)
	}
}

// testInstallHooksPath: the hooks go where core.hooksPath says.
func testInstallHooksPath(t *testing.T) {
	bare := newBareRepo(t)
	mustGit(t, bare, "config", "core.hooksPath", "custom-hooks")
	if code, _, stderr := hooksInstall("--repo", bare); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	checkHookFile(t, filepath.Join(bare, "custom-hooks", "pre-receive"))
	checkHookFile(t, filepath.Join(bare, "custom-hooks", "post-receive"))
}

// testInstallWorkTree: a work tree gets the hooks in .git/hooks (with a
// note); a directory inside one is refused.
func testInstallWorkTree(t *testing.T) {
	work := t.TempDir()
	mustGit(t, work, "init", "-q")
	code, stdout, stderr := hooksInstall("--repo", work)
	if code != 0 || !strings.Contains(stdout, "not a bare repository") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	checkHookFile(t, filepath.Join(work, ".git", "hooks", "pre-receive"))

	sub := filepath.Join(work, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := hooksInstall("--repo", sub); code != 1 || !strings.Contains(stderr, "not a bare git repository") {
		t.Errorf("a directory inside a work tree: exit %d, %q", code, stderr)
	}
}

// testInstallBadArguments: bad arguments exit 1 and name the problem.
func testInstallBadArguments(t *testing.T) {
	bare := newBareRepo(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"not a repository", []string{"--repo", t.TempDir()}, "not a bare git repository"},
		{"no repo", nil, `"repo" not set`},
		{"bad server", []string{"--repo", bare, "--server", "127.0.0.1:9873"}, "--server"},
		{"bad var", []string{"--repo", bare, "--var", "novalue"}, "expected name=value"},
		{"bad ref", []string{"--repo", bare, "--ref", "a..b"}, "not a valid branch name"},
	} {
		if code, _, stderr := hooksInstall(tc.args...); code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 1 and %q", tc.name, code, stderr, tc.want)
		}
	}
}

// TestHooksPokeCmd: gitboot hooks poke says when the server refused.
func TestHooksPokeCmd(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	if code := runWith([]string{"hooks", "poke", "--server", srv.URL}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "403 Forbidden") {
		t.Errorf("poke answered 403: exit %d, %q", code, stderr.String())
	}
}
