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
	bin := buildGitboot(t)
	var pokes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/reconcile" {
			pokes.Add(1)
			w.WriteHeader(http.StatusAccepted)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()

	bare := newBareRepo(t)
	// A --var with a quote in it exercises the hook's sh quoting; the
	// repository below declares "site" without a default, so validation
	// fails unless the value reaches it.
	runGitboot(t, bin, "hooks", "install", "--repo", bare, "--server", srv.URL, "--var", "site=Bob's lab")

	work := filepath.Join(t.TempDir(), "work")
	if err := os.CopyFS(work, os.DirFS("../../examples/lab")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(work, "site.hcl"), "variable \"site\" {\n  type = string\n}\n")
	mustGit(t, work, "init", "-q", "-b", "main")
	mustGit(t, work, "add", "-A")
	mustGit(t, work, "commit", "-q", "-m", "lab")
	good := mustGit(t, work, "rev-parse", "HEAD")

	// Hooks make their temporary directories under TMPDIR: it must stay empty.
	tmp := t.TempDir()
	push := func(args ...string) (string, error) {
		_, stderr, err := hookGit(t, work, []string{"TMPDIR=" + tmp}, append([]string{"push", bare}, args...)...)
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Errorf("the hooks left %d entries in TMPDIR (%s...)", len(left), left[0].Name())
		}
		return stderr, err
	}
	tip := func(ref string) string {
		out, _, _ := hookGit(t, bare, nil, "rev-parse", "--verify", "-q", ref)
		return out
	}

	t.Run("valid push is accepted and pokes the server once", func(t *testing.T) {
		stderr, err := push("main")
		if err != nil {
			t.Fatalf("push refused: %v\n%s", err, stderr)
		}
		if got := tip("main"); got != good {
			t.Errorf("main is %q after the push, want %s", got, good)
		}
		if n := pokes.Load(); n != 1 {
			t.Errorf("server got %d POST /reconcile, want 1\n%s", n, stderr)
		}
		if !strings.Contains(stderr, "is valid; accepting the push to refs/heads/main") {
			t.Errorf("push output does not say the commit is valid:\n%s", stderr)
		}
	})

	mustGit(t, work, "checkout", "-q", "-b", "bad")
	nodes := filepath.Join(work, "nodes.hcl")
	data, err := os.ReadFile(nodes)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, nodes, strings.Replace(string(data), `"10.99.0.11"`, `"10.98.0.11"`, 1))
	mustGit(t, work, "commit", "-q", "-a", "-m", "n1 outside its network")

	t.Run("invalid push is refused with the diagnostics", func(t *testing.T) {
		stderr, err := push("bad:main")
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
		if got := tip("main"); got != good {
			t.Errorf("main moved to %q; want it to stay at %s", got, good)
		}
		if n := pokes.Load(); n != 1 {
			t.Errorf("server got %d POST /reconcile, want still 1", n)
		}
	})

	t.Run("other branches are not validated", func(t *testing.T) {
		stderr, err := push("bad:refs/heads/wip")
		if err != nil {
			t.Fatalf("push to another branch refused: %v\n%s", err, stderr)
		}
		if tip("wip") == "" {
			t.Error("wip was not created")
		}
		if strings.Contains(stderr, "gitboot:") {
			t.Errorf("gitboot said something about another branch:\n%s", stderr)
		}
		if n := pokes.Load(); n != 1 {
			t.Errorf("server got %d POST /reconcile, want still 1", n)
		}
	})

	t.Run("deleting the branch is refused", func(t *testing.T) {
		stderr, err := push(":main")
		if err == nil || !strings.Contains(stderr, "refusing to delete refs/heads/main") {
			t.Errorf("deleting main: err %v, output:\n%s", err, stderr)
		}
		if got := tip("main"); got != good {
			t.Errorf("main is %q, want %s", got, good)
		}
	})

	t.Run("server down does not fail the push", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		down := "http://" + l.Addr().String()
		l.Close()
		// Reinstalling over gitboot's own hooks needs no --force.
		runGitboot(t, bin, "hooks", "install", "--repo", bare, "--server", down, "--var", "site=Bob's lab")
		mustGit(t, work, "checkout", "-q", "main")
		writeFile(t, filepath.Join(work, "README"), "the lab\n")
		mustGit(t, work, "add", "README")
		mustGit(t, work, "commit", "-q", "-m", "readme")
		stderr, err := push("main")
		if err != nil {
			t.Fatalf("push failed: %v\n%s", err, stderr)
		}
		line := "gitboot: could not reach the server at " + down + " (it will notice the push within its poll interval)"
		if n := strings.Count(stderr, line); n != 1 {
			t.Errorf("push output has %q %d times, want once:\n%s", line, n, stderr)
		}
		if got, want := tip("main"), mustGit(t, work, "rev-parse", "HEAD"); got != want {
			t.Errorf("main is %q, want %s", got, want)
		}
	})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHooksInstall(t *testing.T) {
	install := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := runWith(append([]string{"hooks", "install"}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	checkHook := func(t *testing.T, file string) {
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

	t.Run("foreign hook needs --force", func(t *testing.T) {
		bare := newBareRepo(t)
		foreign := filepath.Join(bare, "hooks", "post-receive")
		writeFile(t, foreign, "#!/bin/sh\necho mine\n")
		code, _, stderr := install("--repo", bare)
		if code != 1 || !strings.Contains(stderr, foreign) || !strings.Contains(stderr, "--force") {
			t.Errorf("exit %d, stderr %q; want 1 naming %s and --force", code, stderr, foreign)
		}
		if data, _ := os.ReadFile(foreign); string(data) != "#!/bin/sh\necho mine\n" {
			t.Errorf("foreign hook changed:\n%s", data)
		}
		if _, err := os.Stat(filepath.Join(bare, "hooks", "pre-receive")); err == nil {
			t.Error("pre-receive was installed although the install was refused")
		}
		if code, _, stderr := install("--repo", bare, "--force"); code != 0 {
			t.Fatalf("--force: exit %d: %s", code, stderr)
		}
		checkHook(t, foreign)
		checkHook(t, filepath.Join(bare, "hooks", "pre-receive"))
		if code, _, stderr := install("--repo", bare, "--ref", "prod"); code != 0 {
			t.Errorf("reinstall over gitboot's hooks: exit %d: %s", code, stderr)
		}
		if data, _ := os.ReadFile(foreign); !bytes.Contains(data, []byte("ref='refs/heads/prod'")) {
			t.Errorf("reinstall did not take --ref prod:\n%s", data)
		}
	})

	t.Run("core.hooksPath", func(t *testing.T) {
		bare := newBareRepo(t)
		mustGit(t, bare, "config", "core.hooksPath", "custom-hooks")
		if code, _, stderr := install("--repo", bare); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		checkHook(t, filepath.Join(bare, "custom-hooks", "pre-receive"))
		checkHook(t, filepath.Join(bare, "custom-hooks", "post-receive"))
	})

	t.Run("work tree", func(t *testing.T) {
		work := t.TempDir()
		mustGit(t, work, "init", "-q")
		code, stdout, stderr := install("--repo", work)
		if code != 0 || !strings.Contains(stdout, "not a bare repository") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		checkHook(t, filepath.Join(work, ".git", "hooks", "pre-receive"))

		sub := filepath.Join(work, "sub")
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := install("--repo", sub); code != 1 || !strings.Contains(stderr, "not a bare git repository") {
			t.Errorf("a directory inside a work tree: exit %d, %q", code, stderr)
		}
	})

	t.Run("bad arguments", func(t *testing.T) {
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
			if code, _, stderr := install(tc.args...); code != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("%s: exit %d, stderr %q; want 1 and %q", tc.name, code, stderr, tc.want)
			}
		}
	})
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
