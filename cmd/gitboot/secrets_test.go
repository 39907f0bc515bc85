package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/gitboot/gitboot/internal/agesecret"
)

// TestSecretsRecipientRoundTrip: `gitboot secrets recipient --state DIR`
// makes the server's identity once (0600) and prints its recipient; a
// secret encrypted to what it printed decrypts with the identity the
// server opens from that state directory.
func TestSecretsRecipientRoundTrip(t *testing.T) {
	state := t.TempDir()
	code, out, errOut := gitbootExec("secrets", "recipient", "--state", state)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	recipient := strings.TrimSpace(out)
	if !strings.HasPrefix(recipient, "age1") || strings.Count(out, "\n") != 1 {
		t.Fatalf("printed %q, want one age1... line", out)
	}
	st, err := os.Stat(filepath.Join(state, agesecret.DefaultFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v %v, want mode 0600", st, err)
	}
	if _, again, _ := gitbootExec("secrets", "recipient", "--state", state); strings.TrimSpace(again) != recipient {
		t.Errorf("second call printed %q, want %q", again, recipient)
	}

	r, err := age.ParseX25519Recipient(recipient)
	if err != nil {
		t.Fatalf("printed recipient does not parse: %v", err)
	}
	var buf bytes.Buffer
	w, _ := age.Encrypt(&buf, r)
	w.Write([]byte("round trip"))
	w.Close()
	keys, err := agesecret.Open(state, nil, false) // as gitboot serve --state opens it
	if err != nil {
		t.Fatal(err)
	}
	if got, err := keys.Decrypt("x.age", buf.Bytes()); err != nil || string(got) != "round trip" {
		t.Errorf("server decrypted %q, %v", got, err)
	}
}

// TestSecretsAgeCLI: what the age command line tool makes (age-keygen
// identity files, age -r encryption, armored too) works with gitboot.
func TestSecretsAgeCLI(t *testing.T) {
	if _, err := exec.LookPath("age"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the age command is not installed (Debian package age)")
		}
		t.Skip("the age command is not installed (apt-get install age)")
	}
	dir := t.TempDir()
	id := filepath.Join(dir, "id.txt")
	if out, err := exec.Command("age-keygen", "-o", id).CombinedOutput(); err != nil {
		t.Fatalf("age-keygen: %v %s", err, out)
	}
	pub, err := exec.Command("age-keygen", "-y", id).Output()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := gitbootExec("secrets", "recipient", "--state", t.TempDir(), "--age-identity", id)
	if code != 0 || strings.TrimSpace(out) != strings.TrimSpace(string(pub)) {
		t.Fatalf("recipient with --age-identity: exit %d %q %s, want %q", code, out, errOut, pub)
	}
	plain := filepath.Join(dir, "munge.key")
	os.WriteFile(plain, []byte("from the age CLI\n"), 0o600)
	keys, err := agesecret.Load(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, armor := range []bool{false, true} {
		enc := filepath.Join(dir, "munge.key.age")
		args := []string{"-r", strings.TrimSpace(out), "-o", enc}
		if armor {
			args = append(args, "-a")
		}
		if out, err := exec.Command("age", append(args, plain)...).CombinedOutput(); err != nil {
			t.Fatalf("age: %v %s", err, out)
		}
		data, _ := os.ReadFile(enc)
		if err := agesecret.WellFormed(data); err != nil {
			t.Errorf("armor=%v: %v", armor, err)
		}
		if got, err := keys.Decrypt(enc, data); err != nil || string(got) != "from the age CLI\n" {
			t.Errorf("armor=%v: decrypted %q, %v", armor, got, err)
		}
	}
}

// TestValidateMalformedSecret: validate refuses an .age file that is not
// an age file, naming it, without any key.
func TestValidateMalformedSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab")
	if out, err := exec.Command("cp", "-r", "../../examples/lab", dir).CombinedOutput(); err != nil {
		t.Fatalf("copying the lab: %v %s", err, out)
	}
	if code, _, errOut := gitbootExec("validate", dir); code != 0 {
		t.Fatalf("the lab does not validate: %s", errOut)
	}
	os.MkdirAll(filepath.Join(dir, "secrets"), 0o755)
	os.WriteFile(filepath.Join(dir, "secrets/keytab.age"), []byte("plain text, not encrypted\n"), 0o644)
	code, _, errOut := gitbootExec("validate", dir)
	if code != 1 || !strings.Contains(errOut, "secrets/keytab.age") || !strings.Contains(errOut, "well-formed age file") {
		t.Errorf("validate: exit %d, %s", code, errOut)
	}
}

// TestHooksRefuseMalformedSecret: the pre-receive hook (real git, the
// built binary, no key) refuses a push whose .age file is not an age
// file, naming it, and accepts one encrypted to any recipient.
func TestHooksRefuseMalformedSecret(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	bin := buildGitboot(t)
	bare := newBareRepo(t)
	runGitboot(t, bin, "hooks", "install", "--repo", bare, "--server", "http://127.0.0.1:1")
	work := filepath.Join(t.TempDir(), "work")
	if err := os.CopyFS(work, os.DirFS("../../examples/lab")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(work, "secrets"), 0o755)
	writeFile(t, filepath.Join(work, "secrets/keytab.age"), "plain text keytab\n")
	mustGit(t, work, "init", "-q", "-b", "main")
	mustGit(t, work, "add", "-A")
	mustGit(t, work, "commit", "-q", "-m", "keytab, not encrypted")
	_, stderr, err := hookGit(t, work, nil, "push", bare, "main")
	if err == nil || !strings.Contains(stderr, "secrets/keytab.age") || !strings.Contains(stderr, "well-formed age file") {
		t.Fatalf("push of a malformed secret: %v\n%s", err, stderr)
	}
	id, _ := age.GenerateX25519Identity()
	var buf bytes.Buffer
	w, _ := age.Encrypt(&buf, id.Recipient())
	w.Write([]byte("keytab"))
	w.Close()
	writeFile(t, filepath.Join(work, "secrets/keytab.age"), buf.String())
	mustGit(t, work, "commit", "-q", "-am", "keytab, encrypted")
	if _, stderr, err := hookGit(t, work, nil, "push", bare, "main"); err != nil {
		t.Fatalf("push of an encrypted secret refused: %v\n%s", err, stderr)
	}
}
