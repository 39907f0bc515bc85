// Package signtest makes throw-away signing keys with the real gpg and
// ssh-keygen, and the git options that sign commits with them. It is for
// tests only: reconcile/gitsrc and cmd/gitboot import it from _test files.
package signtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Need fails the test when a program is missing under CI=true (naming the
// Debian package to install, which .ci/run installs) and skips it
// elsewhere.
func Need(t testing.TB, program, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(program); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found: apt-get install -y %s (add it to PKGS in .ci/run)", program, pkg)
	}
	t.Skipf("%s not found (apt-get install -y %s)", program, pkg)
}

// Key is a signing key and how to sign commits with it.
type Key struct {
	ID      string   // OpenPGP fingerprint, or the SSH private key file
	Public  string   // what goes into a trusted keys file: an armored key block, or an allowed_signers line
	Env     []string // environment for git (GNUPGHOME)
	GitArgs []string // `git` options before `commit -S`
}

// GPGKey makes an ed25519 OpenPGP signing key for uid (e.g. "Alice
// <alice@example.org>") in its own GNUPGHOME, without a passphrase. The
// agent it starts is stopped at the end of the test.
func GPGKey(t testing.TB, uid string) Key {
	t.Helper()
	Need(t, "gpg", "gnupg")
	// A short path: gpg-agent's socket lives in GNUPGHOME, and socket
	// paths are limited to 108 bytes.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"GNUPGHOME=" + home}
	t.Cleanup(func() {
		c := exec.Command("gpgconf", "--kill", "all")
		c.Env = append(os.Environ(), env...)
		_ = c.Run()
		os.RemoveAll(home)
	})
	run(t, env, "gpg", "--batch", "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
	var fpr string
	for line := range strings.SplitSeq(run(t, env, "gpg", "--batch", "--with-colons", "--list-keys", uid), "\n") {
		if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" {
			fpr = f[9]
			break
		}
	}
	if fpr == "" {
		t.Fatalf("no fingerprint for the new key %s", uid)
	}
	return Key{
		ID:      fpr,
		Public:  run(t, env, "gpg", "--batch", "--armor", "--export", fpr),
		Env:     env,
		GitArgs: []string{"-c", "gpg.format=openpgp", "-c", "gpg.program=gpg", "-c", "user.signingkey=" + fpr},
	}
}

// SSHKey makes an ed25519 SSH key without a passphrase in dir; Public is
// its allowed_signers line for principal, with options (e.g.
// `namespaces="git"`) when not "".
func SSHKey(t testing.TB, dir, principal, options string) Key {
	t.Helper()
	Need(t, "ssh-keygen", "openssh-client")
	file := filepath.Join(dir, strings.NewReplacer("@", "_", "/", "_").Replace(principal))
	run(t, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", principal, "-f", file)
	pub, err := os.ReadFile(file + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	line := principal + " "
	if options != "" {
		line += options + " "
	}
	return Key{
		ID:      file,
		Public:  line + strings.TrimSpace(string(pub)),
		GitArgs: []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + file + ".pub"},
	}
}

func run(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	c := exec.Command(name, args...)
	c.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// Tamper returns the raw commit signed with the gpgsig header of signed,
// a raw commit (as `git cat-file commit` prints it) over other content:
// a signature copied onto a commit it was not made for.
func Tamper(t testing.TB, signed, unsigned []byte) []byte {
	t.Helper()
	header, body, ok := bytes.Cut(unsigned, []byte("\n\n"))
	if !ok {
		t.Fatalf("no message in the commit:\n%s", unsigned)
	}
	var sig []byte
	lines := bytes.SplitAfter(signed, []byte("\n"))
	for i, l := range lines {
		if bytes.HasPrefix(l, []byte("gpgsig ")) {
			sig = append(sig, l...)
			for _, c := range lines[i+1:] {
				if !bytes.HasPrefix(c, []byte(" ")) {
					break
				}
				sig = append(sig, c...)
			}
			break
		}
	}
	if sig == nil {
		t.Fatalf("no gpgsig header in the commit:\n%s", signed)
	}
	out := append(append([]byte{}, header...), '\n')
	out = append(out, sig...)
	out = append(out, '\n')
	return append(out, body...)
}
