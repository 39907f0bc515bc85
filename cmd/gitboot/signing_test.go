package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/internal/signtest"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/gitboot/gitboot/serve"
)

// labRepo makes a work repository holding examples/lab, committed
// unsigned, and returns it.
func labRepo(t *testing.T) string {
	t.Helper()
	work := filepath.Join(t.TempDir(), "work")
	if err := os.CopyFS(work, os.DirFS("../../examples/lab")); err != nil {
		t.Fatal(err)
	}
	mustGit(t, work, "init", "-q", "-b", "main")
	mustGit(t, work, "add", "-A")
	mustGit(t, work, "commit", "-q", "-m", "lab")
	return work
}

// commitSigned commits a change to README in work, signed with key
// (unsigned when nil).
func commitSigned(t *testing.T, work string, key *signtest.Key, msg string) string {
	t.Helper()
	writeFile(t, filepath.Join(work, "README"), msg+"\n")
	mustGit(t, work, "add", "README")
	args := []string{"commit", "-q", "-m", msg}
	var env []string
	if key != nil {
		args = append(append(append([]string{}, key.GitArgs...), args...), "-S")
		env = key.Env
	}
	if _, stderr, err := hookGit(t, work, env, args...); err != nil {
		t.Fatalf("git commit: %v\n%s", err, stderr)
	}
	return mustGit(t, work, "rev-parse", "HEAD")
}

// TestHooksPushSigned pushes to a bare repository whose hooks require
// signed commits, with real git, gpg, ssh-keygen and the built binary.
func TestHooksPushSigned(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	keysDir := t.TempDir()
	alice := signtest.GPGKey(t, "Alice <alice@example.org>")
	bob := signtest.SSHKey(t, keysDir, "bob@example.org", `namespaces="git"`)
	eve := signtest.SSHKey(t, keysDir, "eve@example.org", "")
	keys := filepath.Join(keysDir, "trusted")
	writeFile(t, keys, alice.Public+"\n"+bob.Public+"\n")
	bin := buildGitboot(t)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String() // nobody answers: post-receive says so and passes
	l.Close()

	bare := newBareRepo(t)
	// A relative --trusted-keys: the hook must hold its absolute path.
	install := exec.Command(bin, "hooks", "install", "--repo", bare, "--server", down, "--require-signed", "--trusted-keys", "trusted")
	install.Dir = keysDir
	if out, err := install.CombinedOutput(); err != nil || !strings.Contains(string(out), "only commits signed by a key in "+keys) {
		t.Fatalf("hooks install: %v\n%s", err, out)
	}
	if hook, _ := os.ReadFile(filepath.Join(bare, "hooks", "pre-receive")); !bytes.Contains(hook, []byte("--require-signed --trusted-keys '"+keys+"'")) {
		t.Fatalf("pre-receive does not pass the keys file's absolute path:\n%s", hook)
	}

	r := &signedRepo{bare: bare, work: labRepo(t)}
	work := r.work
	t.Run("unsigned is refused", func(t *testing.T) {
		head := mustGit(t, work, "rev-parse", "HEAD")
		r.refused(t, "commit "+head[:12]+" is not signed", "sign it with a key in "+keys)
	})
	t.Run("untrusted SSH key is refused", func(t *testing.T) {
		commitSigned(t, work, &eve, "by eve")
		r.refused(t, "is signed by an untrusted key (SHA256:")
	})
	t.Run("OpenPGP-signed is accepted", func(t *testing.T) {
		commitSigned(t, work, &alice, "by alice")
		r.accepted(t, "is signed by Alice <alice@example.org> (OpenPGP key ID "+alice.ID[24:]+")")
	})
	t.Run("SSH-signed is accepted", func(t *testing.T) {
		commitSigned(t, work, &bob, "by bob")
		r.accepted(t, "is signed by bob@example.org (SHA256:")
	})
	t.Run("the keys file is read at each push", func(t *testing.T) {
		writeFile(t, keys, alice.Public+"\n")
		commitSigned(t, work, &bob, "by bob again")
		r.refused(t, "is signed by an untrusted key (SHA256:")
		if err := os.Remove(keys); err != nil {
			t.Fatal(err)
		}
		r.refused(t, "the trusted keys cannot be read")
	})
}

// signedRepo is a bare repository whose hooks require signed commits and
// a work tree that force-pushes its main to it.
type signedRepo struct {
	bare, work string
}

// tip returns the bare repository's main.
func (r *signedRepo) tip(t *testing.T) string {
	out, _, _ := hookGit(t, r.bare, nil, "rev-parse", "--verify", "-q", "main")
	return out
}

// push force-pushes main and returns git's stderr.
func (r *signedRepo) push(t *testing.T) (string, error) {
	_, stderr, err := hookGit(t, r.work, nil, "push", "-f", r.bare, "main")
	return stderr, err
}

// refused checks that a push is refused, saying each of want, and that
// main stays.
func (r *signedRepo) refused(t *testing.T, want ...string) {
	t.Helper()
	before := r.tip(t)
	stderr, err := r.push(t)
	if err == nil {
		t.Fatalf("push accepted:\n%s", stderr)
	}
	for _, w := range append(want, "refusing the push to refs/heads/main", "pre-receive hook declined") {
		if !strings.Contains(stderr, w) {
			t.Errorf("push output lacks %q:\n%s", w, stderr)
		}
	}
	if got := r.tip(t); got != before {
		t.Errorf("main moved to %q", got)
	}
}

// accepted checks that a push is accepted, saying each of want, and moves
// main to the work tree's HEAD.
func (r *signedRepo) accepted(t *testing.T, want ...string) {
	t.Helper()
	stderr, err := r.push(t)
	if err != nil {
		t.Fatalf("push refused: %v\n%s", err, stderr)
	}
	for _, w := range append(want, "is valid; accepting the push") {
		if !strings.Contains(stderr, w) {
			t.Errorf("push output lacks %q:\n%s", w, stderr)
		}
	}
	if got, want := r.tip(t), mustGit(t, r.work, "rev-parse", "HEAD"); got != want {
		t.Errorf("main is %q, want %s", got, want)
	}
}

func TestHooksInstallSigningFlags(t *testing.T) {
	bare := newBareRepo(t)
	empty := filepath.Join(t.TempDir(), "empty")
	writeFile(t, empty, "")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no keys", []string{"--require-signed"}, "--require-signed needs --trusted-keys FILE"},
		{"keys alone", []string{"--trusted-keys", empty}, "--trusted-keys is only used with --require-signed"},
		{"empty keys", []string{"--require-signed", "--trusted-keys", empty}, empty + ": no trusted keys"},
	} {
		var stdout, stderr bytes.Buffer
		code := runWith(append([]string{"hooks", "install", "--repo", bare}, tc.args...), &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%s: exit %d, %q; want 1 and %q", tc.name, code, stderr.String(), tc.want)
		}
		if _, err := os.Stat(filepath.Join(bare, "hooks", "pre-receive")); err == nil {
			t.Fatalf("%s: a hook was installed", tc.name)
		}
	}
}

// TestPlanRequireSigned: plan and apply refuse an untrusted commit.
func TestPlanRequireSigned(t *testing.T) {
	dir := t.TempDir()
	bob := signtest.SSHKey(t, dir, "bob@example.org", "")
	keys := filepath.Join(dir, "trusted")
	writeFile(t, keys, bob.Public+"\n")
	work := labRepo(t)
	unsigned := mustGit(t, work, "rev-parse", "HEAD")
	state := t.TempDir()
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := runWith(args, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	signed := []string{"--repo", work, "--state", state, "--require-signed", "--trusted-keys", keys}

	code, stdout, stderr := run(append([]string{"plan"}, signed...)...)
	if want := "gitboot: refusing to plan main of " + work + ": commit " + unsigned[:12] + " is not signed\n"; code != 1 || stderr != want || stdout != "" {
		t.Errorf("plan of an unsigned commit: exit %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, want)
	}
	code, _, stderr = run("apply", "--auto-approve", "--repo", work, "--state", state, "--require-signed", "--trusted-keys", keys)
	if code != 1 || !strings.Contains(stderr, "is not signed") {
		t.Errorf("apply of an unsigned commit: exit %d, %q", code, stderr)
	}
	saved := filepath.Join(dir, "plan.json")
	// The refused apply recorded the policy in state: plan --out there
	// refuses without the flags too; made on a state without a policy, the
	// plan is refused at apply.
	if code, _, stderr := run("plan", "--repo", work, "--state", state, "--out", saved); code != 1 || !strings.Contains(stderr, "is not signed") {
		t.Fatalf("plan --out without --require-signed on a state with the policy: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run("plan", "--repo", work, "--state", t.TempDir(), "--out", saved); code != 0 {
		t.Fatalf("plan --out without --require-signed: exit %d: %s", code, stderr)
	}
	code, _, stderr = run("apply", saved, "--repo", work, "--state", state, "--require-signed", "--trusted-keys", keys)
	if want := "refusing to apply the plan of commit " + unsigned[:12] + ": commit " + unsigned[:12] + " is not signed"; code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("apply of a saved plan of an unsigned commit: exit %d, %q; want %q", code, stderr, want)
	}
	if _, err := os.Stat(filepath.Join(state, "inventory.json")); err == nil {
		t.Error("something was applied")
	}

	head := commitSigned(t, work, &bob, "signed")
	code, stdout, stderr = run(append([]string{"plan", "--json"}, signed...)...)
	if code != 0 || !strings.Contains(stdout, head) {
		t.Errorf("plan of a signed commit: exit %d, stdout %q, stderr %q; want the plan of %s", code, stdout, stderr, head)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"plan", "--repo", work, "--require-signed"}, "--require-signed needs --trusted-keys FILE"},
		{[]string{"plan", "--repo", work, "--require-signed", "--trusted-keys", filepath.Join(dir, "nope")}, "reading trusted keys"},
		{[]string{"serve", "--repo", work, "--state", t.TempDir(), "--require-signed"}, "--require-signed needs --trusted-keys FILE"},
		{[]string{"serve", "--repo", work, "--state", t.TempDir(), "--trusted-keys", keys}, "--trusted-keys is only used with --require-signed"},
	} {
		if code, _, stderr := run(tc.args...); code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("gitboot %s: exit %d, %q; want 1 and %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
}

// TestServeVerify checks the Verify serve gives the reconciler: an
// unsigned commit is rejected ("Untrusted commit", once); a signed one
// goes on to be loaded.
func TestServeVerify(t *testing.T) {
	dir := t.TempDir()
	bob := signtest.SSHKey(t, dir, "bob@example.org", "")
	keys := filepath.Join(dir, "trusted")
	writeFile(t, keys, bob.Public+"\n")
	policy, err := (signingFlags{require: true, keys: keys}).policy()
	if err != nil {
		t.Fatal(err)
	}
	work := labRepo(t)
	src, err := gitsrc.Open(work)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	rec := reconcile.New(reconcile.Config{Source: src, StateDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Vars: map[string]string{"image_source": filepath.Join(dir, "no-image")}, Verify: serve.CommitVerifier(src, policy)})
	ctx := context.Background()
	for range 2 {
		ev, err := rec.ReconcileOnce(ctx, reconcile.Options{})
		var ce *reconcile.ConfigError
		if ev.Result != reconcile.ResultRejected || !errors.As(err, &ce) || len(ce.Diags) != 1 ||
			ce.Diags[0].Summary != "Untrusted commit" || !strings.HasSuffix(ce.Diags[0].Detail, " is not signed") {
			t.Fatalf("unsigned commit: %s, %v; want rejected as Untrusted commit", ev.Result, err)
		}
	}
	if n := strings.Count(logs.String(), "commit rejected"); n != 1 {
		t.Errorf("the rejection was logged %d times, want once:\n%s", n, logs.String())
	}

	commitSigned(t, work, &bob, "signed")
	_, err = rec.ReconcileOnce(ctx, reconcile.Options{})
	if err == nil || reconcile.IsConfigError(err) {
		// The image source does not exist: a transient error, after Verify passed.
		t.Errorf("signed commit: %v; want it past the signature check (then the missing image source)", err)
	}
}
