package gitsrc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/internal/signtest"
)

// gitEnv runs git in dir with extra options and environment (a signing
// key's) and returns its exact standard output.
func gitEnv(t *testing.T, dir string, env []string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=t@example.org",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=t@example.org", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// signedCommit commits a change in work, signed with key (unsigned when
// key is nil), and returns its hash.
func signedCommit(t *testing.T, work string, key *signtest.Key, msg string) string {
	t.Helper()
	write(t, filepath.Join(work, "log"), msg+"\n", 0o644)
	gitEnv(t, work, nil, "add", "log")
	args := []string{"commit", "-q", "-m", msg}
	var env []string
	if key != nil {
		args = append(append(key.GitArgs, args...), "-S")
		env = key.Env
	}
	gitEnv(t, work, env, args...)
	return strings.TrimSpace(string(gitEnv(t, work, nil, "rev-parse", "HEAD")))
}

// writeCommit stores a raw commit object in the repository and returns its hash.
func writeCommit(t *testing.T, dir string, raw []byte) string {
	t.Helper()
	cmd := exec.Command("git", "hash-object", "-t", "commit", "-w", "--stdin")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(raw)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git hash-object: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func writePolicy(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "trusted-keys")
	write(t, p, content, 0o644)
	return p
}

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	alice := signtest.GPGKey(t, "Alice <alice@example.org>")
	mallory := signtest.GPGKey(t, "Mallory <mallory@example.org>")
	bob := signtest.SSHKey(t, dir, "bob@example.org", "")
	carol := signtest.SSHKey(t, dir, "carol@example.org", `namespaces="git,file"`)
	eve := signtest.SSHKey(t, dir, "eve@example.org", "")
	dave := signtest.SSHKey(t, dir, "dave@example.org", `namespaces="file"`) // trusted, but not for git
	before := "# who may push\n" + alice.Public + "\n\n" + bob.Public + "\n" + carol.Public + "\n"
	daveLine := strings.Count(before, "\n") + 1
	policy := writePolicy(t, before+dave.Public+"\n")
	p, err := LoadPolicy(policy)
	if err != nil {
		t.Fatal(err)
	}

	work := filepath.Join(dir, "work")
	gitEnv(t, dir, nil, "init", "-q", "-b", "main", work)
	byAlice := signedCommit(t, work, &alice, "by alice")
	byBob := signedCommit(t, work, &bob, "by bob")
	byCarol := signedCommit(t, work, &carol, "by carol")
	unsigned := signedCommit(t, work, nil, "unsigned")
	byMallory := signedCommit(t, work, &mallory, "by mallory")
	byEve := signedCommit(t, work, &eve, "by eve")
	byDave := signedCommit(t, work, &dave, "by dave")

	raw := func(hash string) []byte { return gitEnv(t, work, nil, "cat-file", "commit", hash) }
	// Signatures copied onto a commit they were not made for.
	tamperedPGP := writeCommit(t, work, signtest.Tamper(t, raw(byAlice), raw(unsigned)))
	tamperedSSH := writeCommit(t, work, signtest.Tamper(t, raw(byBob), raw(unsigned)))
	// Bob's key signing the commit in another namespace than git.
	otherNamespace := otherNamespaceCommit(t, dir, work, &bob, raw(unsigned))

	src, err := Open(work)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []verifyCase{
		{name: "OpenPGP, trusted", commit: byAlice, signer: "Alice <alice@example.org> (OpenPGP key ID " + alice.ID[24:] + ")"},
		{name: "SSH, trusted", commit: byBob, signer: "bob@example.org (SHA256:"},
		{name: "SSH, namespaces include git", commit: byCarol, signer: "carol@example.org (SHA256:"},
		{name: "unsigned", commit: unsigned, kind: ErrNotSigned, msg: "commit " + unsigned[:12] + " is not signed"},
		{name: "OpenPGP, untrusted", commit: byMallory, kind: ErrUntrustedKey,
			msg: "commit " + byMallory[:12] + " is signed by an untrusted key (OpenPGP key ID " + mallory.ID[24:] + ")"},
		{name: "SSH, untrusted", commit: byEve, kind: ErrUntrustedKey, msg: " is signed by an untrusted key (SHA256:"},
		{name: "SSH, namespaces exclude git", commit: byDave, kind: ErrUntrustedKey, msg: fmt.Sprintf(`entry on line %d of %s does not allow namespace "git"`, daveLine, policy)},
		{name: "OpenPGP, tampered", commit: tamperedPGP, kind: ErrBadSignature, msg: "commit " + tamperedPGP[:12] + " has a bad signature (OpenPGP key ID"},
		{name: "SSH, tampered", commit: tamperedSSH, kind: ErrBadSignature, msg: "has a bad signature (SHA256:"},
		{name: "SSH, other namespace", commit: otherNamespace, kind: ErrBadSignature, msg: `signed in namespace "file", not "git"`},
	} {
		t.Run(tc.name, func(t *testing.T) { checkVerify(t, src, p, raw(tc.commit), tc) })
	}

	t.Run("an OpenPGP-only policy refuses SSH signatures", func(t *testing.T) {
		p, err := LoadPolicy(writePolicy(t, alice.Public+"\n"+mallory.Public+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.VerifyRaw(raw(byBob)); !errors.Is(err, ErrUntrustedKey) {
			t.Errorf("SSH-signed commit: %v, want untrusted", err)
		}
		// Two armored blocks: a key in the second is trusted too.
		if s, err := p.VerifyRaw(raw(byMallory)); err != nil || !strings.HasPrefix(s, "Mallory") {
			t.Errorf("commit by the second block's key: %q, %v", s, err)
		}
	})

	t.Run("not a commit", func(t *testing.T) {
		if _, err := p.VerifyRaw([]byte("not a commit\n")); err == nil || errors.As(err, new(*SignatureError)) {
			t.Errorf("VerifyRaw(garbage) = %v, want a plain error", err)
		}
	})
}

// otherNamespaceCommit writes in work a copy of the commit unsigned (its
// raw text) carrying bob's signature of it made in namespace "file", not
// "git"; dir holds the payload.
func otherNamespaceCommit(t *testing.T, dir, work string, bob *signtest.Key, unsigned []byte) string {
	t.Helper()
	payload := filepath.Join(dir, "payload")
	write(t, payload, string(unsigned), 0o644)
	if out, err := exec.Command("ssh-keygen", "-Y", "sign", "-n", "file", "-f", bob.ID, payload).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
	}
	fileSig, err := os.ReadFile(payload + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	fake := []byte("tree x\ngpgsig " + strings.ReplaceAll(strings.TrimSpace(string(fileSig)), "\n", "\n ") + "\n\nx\n")
	return writeCommit(t, work, signtest.Tamper(t, fake, unsigned))
}

// verifyCase is one commit for TestVerify: accepted when kind is nil.
type verifyCase struct {
	name, commit string
	signer       string // want accepted, by this signer
	kind         error  // want refused for this reason
	msg          string // in the error
}

// checkVerify verifies tc's commit (raw: its text) against policy p with
// Source.Verify and VerifyRaw, which must agree, and checks the signer or
// the one-line error tc wants.
func checkVerify(t *testing.T, src *Source, p *Policy, raw []byte, tc verifyCase) {
	c, err := src.Resolve(tc.commit)
	if err != nil {
		t.Fatal(err)
	}
	fromSource, errSource := src.Verify(c, p)
	fromRaw, errRaw := p.VerifyRaw(raw)
	t.Logf("%q, %v", fromSource, errSource)
	if fromSource != fromRaw || (errSource == nil) != (errRaw == nil) || (errSource != nil && errSource.Error() != errRaw.Error()) {
		t.Errorf("Source.Verify: %q, %v; VerifyRaw: %q, %v; want the same", fromSource, errSource, fromRaw, errRaw)
	}
	if tc.kind == nil {
		if errSource != nil || !strings.HasPrefix(fromSource, tc.signer) {
			t.Errorf("got %q, %v; want signed by %q", fromSource, errSource, tc.signer)
		}
		return
	}
	var se *SignatureError
	if !errors.As(errSource, &se) || !errors.Is(errSource, tc.kind) || !strings.Contains(errSource.Error(), tc.msg) {
		t.Errorf("got %q, %v; want a %v error saying %q", fromSource, errSource, tc.kind, tc.msg)
	}
	if strings.Contains(errSource.Error(), "\n") {
		t.Errorf("the error is more than one line: %q", errSource)
	}
}

func TestLoadPolicy(t *testing.T) {
	ed := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE/whGTkUuUws6YE8l6mNC3TzNq9Smkjw1Ii2D2LgTv9"
	good := "# trusted\n" +
		"alice@example.org " + ed + " alice's laptop\n" +
		`"bob,carol@example.org" namespaces="git" ` + ed + "\r\n" +
		"*@example.org\t" + ed + "\n"
	p, err := LoadPolicy(writePolicy(t, good))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.ssh) != 3 || p.ssh[1].principals != "bob,carol@example.org" || p.ssh[1].line != 3 || len(p.ssh[1].namespaces) != 1 {
		t.Errorf("parsed %+v", p.ssh)
	}

	for _, tc := range []struct{ name, content, want string }{
		{"empty", "", "no trusted keys"},
		{"comments only", "# nobody\n\n", "no trusted keys"},
		{"no principals", ed + "\n", ":1: no principals before the key type ssh-ed25519"},
		{"no key", "# c\nalice@example.org\n", ":2: expected an allowed_signers line"},
		{"bad key", "alice@example.org ssh-ed25519 AAAAnotbase64!\n", ":1: allowed_signers line for alice@example.org: no valid SSH public key"},
		{"unsupported option", "alice@example.org cert-authority " + ed + "\n", `:1: allowed_signers option "cert-authority" is not supported`},
		{"valid-before", "alice@example.org valid-before=\"20300101\" " + ed + "\n", `option "valid-before=\"20300101\"" is not supported`},
		{"unterminated quote", "\"alice " + ed + "\n", ":1: unterminated quoted principals"},
		{"unterminated PGP block", "\n-----BEGIN PGP PUBLIC KEY BLOCK-----\nabc\n", ":2: OpenPGP key block has no -----END PGP PUBLIC KEY BLOCK----- line"},
		{"bad PGP block", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n-----END PGP PUBLIC KEY BLOCK-----\n", ":1: OpenPGP key block: "},
		{"private key", "-----BEGIN PGP PRIVATE KEY BLOCK-----\n", ":1: an OpenPGP private key"},
		{"other armor", "-----BEGIN SSH SIGNATURE-----\n", ":1: -----BEGIN SSH SIGNATURE-----: expected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writePolicy(t, tc.content)
			_, err := LoadPolicy(path)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadPolicy: %v; want an error naming %s and saying %q", err, path, tc.want)
			}
		})
	}
	if _, err := LoadPolicy(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
}
