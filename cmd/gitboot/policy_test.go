package main

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/netnstest"
	"github.com/gitboot/gitboot/internal/signtest"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/gitboot/gitboot/reconcile/notes"
	"github.com/gitboot/gitboot/serve"
)

// signedCommit commits files to e.repo signed with key.
func (e *cliEnv) signedCommit(key *signtest.Key, files map[string]string, msg string) string {
	e.t.Helper()
	for p, data := range files {
		writeTestFile(e.t, filepath.Join(e.repo, p), data)
	}
	mustGit(e.t, e.repo, "add", "-A")
	args := append(append([]string{}, key.GitArgs...), "commit", "-q", "-S", "-m", msg)
	if _, stderr, err := hookGit(e.t, e.repo, key.Env, args...); err != nil {
		e.t.Fatalf("git commit -S: %v\n%s", err, stderr)
	}
	return mustGit(e.t, e.repo, "rev-parse", "HEAD")
}

// cli runs gitboot with the image variables of e.
func (e *cliEnv) cli(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	if args[0] == "apply" || args[0] == "plan" || args[0] == "serve" {
		args = append(args, "--repo", e.repo, "--state", e.state, "--var", "image="+e.image, "--image-root", filepath.Dir(e.image))
	}
	code := runWith(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestPolicyBoundToState: --require-signed given once to apply is
// recorded in the state with a copy of the keys; apply, plan --out and
// apply FILE then enforce it without the flags, also after the keys file
// is gone; only policy set loosens it, recording who in the state and in
// the notes of the applied commit. Real ssh-signed and gpg-signed commits.
func TestPolicyBoundToState(t *testing.T) {
	e := newCLIEnv(t)
	dir := t.TempDir()
	bob := signtest.SSHKey(t, dir, "bob@example.org", "")
	alice := signtest.GPGKey(t, "Alice <alice@example.org>")
	keys := filepath.Join(dir, "trusted")
	writeTestFile(t, keys, bob.Public+"\n"+alice.Public+"\n")
	unsigned := e.git("rev-parse", "HEAD")

	saved := filepath.Join(dir, "plan.json")
	checkPolicyBinds(t, e, dir, keys, bob, unsigned, saved)
	gpgSigned, unsigned2 := checkSignedApply(t, e, &bob, &alice, saved)
	checkPolicyLoosened(t, e, gpgSigned, unsigned2)
}

// checkPolicyBinds: apply --require-signed with keys records the policy
// (refusing the unsigned HEAD); then apply and plan --out without flags
// refuse it too, also after the keys file is gone, and other keys on the
// command line are refused.
func checkPolicyBinds(t *testing.T, e *cliEnv, dir, keys string, bob signtest.Key, unsigned, saved string) {
	code, _, stderr := e.cli("apply", "--auto-approve", "--require-signed", "--trusted-keys", keys)
	if code != 1 || !strings.Contains(stderr, unsigned[:12]+" is not signed") {
		t.Fatalf("apply --require-signed of an unsigned commit: exit %d, %s", code, stderr)
	}
	rec, err := reconcile.ReadPolicy(e.state)
	if err != nil || rec == nil || !rec.RequireSigned || !strings.Contains(rec.TrustedKeys, bob.Public) || rec.SetWith != "gitboot apply" {
		t.Fatalf("the policy recorded in the state: %+v, %v", rec, err)
	}
	// The keys file goes: the recorded copy still binds.
	if err := os.Remove(keys); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = e.cli("apply", "--auto-approve")
	if code != 1 || !strings.Contains(stderr, unsigned[:12]+" is not signed") {
		t.Errorf("apply without flags of an unsigned commit: exit %d, %s; want it refused", code, stderr)
	}
	code, _, stderr = e.cli("plan", "--out", saved)
	if code != 1 || !strings.Contains(stderr, "refusing to plan") {
		t.Errorf("plan --out without flags of an unsigned commit: exit %d, %s; want it refused", code, stderr)
	}
	if inv, _, _ := reconcile.ReadInventory(e.state); inv != nil {
		t.Fatalf("an unsigned commit was applied: %s", inv.Commit)
	}
	// Other keys on the command line are refused, not taken.
	writeTestFile(t, filepath.Join(dir, "other"), bob.Public+"\n")
	if code, _, stderr = e.cli("plan", "--require-signed", "--trusted-keys", filepath.Join(dir, "other")); code != 1 || !strings.Contains(stderr, "differs from the trusted keys recorded") {
		t.Errorf("plan with other trusted keys: exit %d, %s", code, stderr)
	}
}

// checkSignedApply: commits signed by bob (ssh) and alice (gpg) apply
// without flags, the second as a saved plan; an unsigned commit on top is
// refused even with --require-signed=false. It returns the gpg-signed
// commit and the unsigned one.
func checkSignedApply(t *testing.T, e *cliEnv, bob, alice *signtest.Key, saved string) (gpgSigned, unsigned2 string) {
	// Signed commits (ssh, then gpg) apply without flags, as a saved plan too.
	sshSigned := e.signedCommit(bob, map[string]string{"overlays/generic/etc/motd": "two\n"}, "ssh-signed")
	if code, out, stderr := e.cli("apply", "--auto-approve"); code != 0 || !strings.Contains(out, "Apply complete: commit "+sshSigned[:12]) {
		t.Fatalf("apply of an ssh-signed commit: exit %d\n%s%s", code, out, stderr)
	}
	gpgSigned = e.signedCommit(alice, map[string]string{"overlays/generic/etc/motd": "three\n"}, "gpg-signed")
	if code, _, stderr := e.cli("plan", "--out", saved); code != 0 {
		t.Fatalf("plan --out of a gpg-signed commit: exit %d, %s", code, stderr)
	}
	if code, out, stderr := e.cli("apply", saved); code != 0 || !strings.Contains(out, "Apply complete: commit "+gpgSigned[:12]) {
		t.Fatalf("apply FILE of a gpg-signed commit: exit %d\n%s%s", code, out, stderr)
	}
	// An unsigned commit on top: a saved plan of it is refused at apply.
	unsigned2 = e.commit(map[string]string{"overlays/generic/etc/motd": "four\n"}, "unsigned again")
	code, _, stderr := e.cli("apply", "--auto-approve", "--require-signed=false")
	if code != 1 || !strings.Contains(stderr, unsigned2[:12]+" is not signed") {
		t.Errorf("apply --require-signed=false of an unsigned commit: exit %d, %s; want it refused", code, stderr)
	}
	return gpgSigned, unsigned2
}

// checkPolicyLoosened: only policy set loosens the policy (and wants
// --repo while a commit is applied), recording who in the state and in the
// notes of the applied commit gpgSigned; then the unsigned commit
// unsigned2 applies.
func checkPolicyLoosened(t *testing.T, e *cliEnv, gpgSigned, unsigned2 string) {
	// policy set loosens it, with who and when in the state and the notes.
	if code, out, stderr := e.cli("policy", "set", "--require-signed=false", "--state", e.state); code != 1 || !strings.Contains(stderr, "give --repo") {
		t.Errorf("policy set without --repo while a commit is applied: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr := e.cli("policy", "set", "--require-signed=false", "--state", e.state, "--repo", e.repo)
	if code != 0 || !strings.Contains(out, "require_signed=false (was require_signed=true)") {
		t.Fatalf("policy set --require-signed=false: exit %d\n%s%s", code, out, stderr)
	}
	rec, err := reconcile.ReadPolicy(e.state)
	if err != nil || rec.RequireSigned || rec.SetBy != reconcile.Actor() || len(rec.History) != 1 || !rec.History[0].RequireSigned {
		t.Errorf("the loosened policy: %+v, %v", rec, err)
	}
	n, err := notes.Open(e.repo)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := n.Read(gpgSigned)
	if err != nil || len(recs) != 1 || recs[0].Type != notes.TypePolicy || recs[0].Get("require_signed") != "false" || recs[0].Get("by") != reconcile.Actor() {
		t.Errorf("the note on the applied commit %s: %v, %v", gpgSigned[:12], recs, err)
	}
	code, out, _ = e.cli("policy", "show", "--state", e.state)
	if code != 0 || !strings.Contains(out, "Signatures are not required") || !strings.Contains(out, "before: require_signed=true") {
		t.Errorf("policy show:\n%s", out)
	}
	if code, out, stderr := e.cli("apply", "--auto-approve"); code != 0 || !strings.Contains(out, "Apply complete: commit "+unsigned2[:12]) {
		t.Errorf("apply of an unsigned commit after policy set --require-signed=false: exit %d\n%s%s", code, out, stderr)
	}
}

// TestPolicyRestoreVerified: a commit applied before the policy was given
// is verified again by Restore and RebuildApplied and not served.
func TestPolicyRestoreVerified(t *testing.T) {
	e := newCLIEnv(t)
	dir := t.TempDir()
	bob := signtest.SSHKey(t, dir, "bob@example.org", "")
	keys := filepath.Join(dir, "trusted")
	writeTestFile(t, keys, bob.Public+"\n")
	unsigned := e.git("rev-parse", "HEAD")
	if code, out, stderr := e.cli("apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply without a policy: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, stderr := e.cli("policy", "set", "--require-signed=true", "--trusted-keys", keys, "--state", e.state, "--repo", e.repo); code != 0 {
		t.Fatalf("policy set --require-signed=true: exit %d\n%s%s", code, out, stderr)
	}

	// The reconciler serve builds: Restore refuses the unsigned state.
	policy, _, err := reconcile.EnforcedPolicy(e.state, reconcile.PolicyFlags{}, false)
	if err != nil || policy == nil {
		t.Fatalf("the recorded policy: %v, %v", policy, err)
	}
	src, err := gitsrc.Open(e.repo)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	rec := reconcile.New(reconcile.Config{Source: src, StateDir: e.state, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Vars: map[string]string{"image": e.image}, Verify: serve.CommitVerifier(src, policy)})
	snap, err := rec.Restore()
	var ue *reconcile.UntrustedStateError
	if snap != nil || !asUntrusted(err, &ue) || ue.Commit != unsigned {
		t.Fatalf("Restore of an unsigned applied commit under the policy: %v, %v; want an UntrustedStateError", snap, err)
	}
	if snap, err := rec.RebuildApplied(t.Context()); snap != nil || !asUntrusted(err, &ue) {
		t.Errorf("RebuildApplied of an unsigned applied commit: %v, %v", snap, err)
	}

}

// TestPolicyServeWaitsForTrusted: serve (no flags) on a state whose
// applied commit and branch tip fail the recorded policy serves nothing,
// says why, stays up, and applies the first signed commit pushed; it never
// calls a served commit rejected. The server runs in a network namespace.
func TestPolicyServeWaitsForTrusted(t *testing.T) {
	netnstest.Require(t)
	e := newCLIEnv(t)
	dir := t.TempDir()
	bob := signtest.SSHKey(t, dir, "bob@example.org", "")
	keys := filepath.Join(dir, "trusted")
	writeTestFile(t, keys, bob.Public+"\n")
	if code, out, stderr := e.cli("apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply without a policy: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, stderr := e.cli("policy", "set", "--require-signed=true", "--trusted-keys", keys, "--state", e.state, "--repo", e.repo); code != 0 {
		t.Fatalf("policy set --require-signed=true: exit %d\n%s%s", code, out, stderr)
	}
	bin := buildGitboot(t)
	if out, err := exec.Command("go", "build", "-o", filepath.Dir(bin), "../gitboot-agent").CombinedOutput(); err != nil {
		t.Fatalf("building gitboot-agent: %v\n%s", err, out)
	}
	ns := netnstest.New(t, "pol")
	proc, logs := ns.Start(t, bin, "serve", "--repo", e.repo, "--state", e.state, "--var", "image="+e.image, "--image-root", filepath.Dir(e.image),
		"--listen-http", "127.0.0.1:0", "--listen-tftp", "127.0.0.1:0", "--notes=false", "--poll", "1s")
	waitLog := func(what string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !strings.Contains(logs.String(), what) {
			if time.Now().After(deadline) || proc.ProcessState != nil {
				t.Fatalf("serve did not log %q:\n%s", what, logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitLog("waiting for a trusted commit")
	for _, want := range []string{"the last applied state is not served", "fails the signature policy", "commit rejected; nothing is served yet"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("serve's log lacks %q:\n%s", want, logs.String())
		}
	}
	time.Sleep(time.Second)
	if strings.Contains(logs.String(), "msg=serving") {
		t.Fatalf("serve serves an untrusted commit:\n%s", logs.String())
	}
	signed := e.signedCommit(&bob, map[string]string{"overlays/generic/etc/motd": "signed\n"}, "signed")
	waitLog("a trusted commit is applied")
	waitLog("msg=serving commit=" + signed[:12])
	if strings.Contains(logs.String(), "last good state stays served") || strings.Contains(logs.String(), "serving the last applied state") {
		t.Errorf("serve claimed to serve the untrusted commit:\n%s", logs.String())
	}
}

func asUntrusted(err error, target **reconcile.UntrustedStateError) bool {
	u, ok := err.(*reconcile.UntrustedStateError)
	if ok {
		*target = u
	}
	return ok
}
