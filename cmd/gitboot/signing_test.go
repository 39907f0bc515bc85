package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/internal/signtest"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
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
	if code, _, stderr := run("plan", "--repo", work, "--state", state, "--out", saved); code != 0 {
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
		Vars: map[string]string{"image_source": filepath.Join(dir, "no-image")}, Verify: commitVerifier(src, policy)})
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
