package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/gitboot/gitboot/internal/sshhostkeys"
	"golang.org/x/crypto/ssh"
)

// sshKeysCluster adds node c002, which selects the builtin overlay
// ssh_host_keys, to cliCluster.
const sshKeysCluster = cliCluster + `
overlay "ssh" {
  builtin = "ssh_host_keys"
}

node "c002" {
  mac              = "52:54:00:00:00:02"
  ip               = "10.99.0.12"
  image            = image.rocky
  network          = network.cluster
  runtime_overlays = [overlay.ssh]
}
`

func sshKeysRun(e *cliEnv, args ...string) (int, string, string) {
	e.t.Helper()
	var out, errb bytes.Buffer
	code := runWith(append([]string{"secrets", "ssh-host-keys", "--repo", e.repo, "--var", "image=" + e.image}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// TestSSHHostKeysCommand runs the command on a git repository: the named
// node only, then the others, then nothing; the committed history holds
// no private key in clear and the keys decrypt with the identity.
func TestSSHHostKeysCommand(t *testing.T) {
	e := newCLIEnv(t)
	e.commit(map[string]string{"main.hcl": sshKeysCluster}, "two nodes")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errs := sshKeysRun(e, "c002"); code == 0 || !strings.Contains(errs, sshhostkeys.RecipientsFile) {
		t.Fatalf("no recipient: exit %d, want 1 naming %s\n%s%s", code, sshhostkeys.RecipientsFile, out, errs)
	}
	writeTestFile(t, filepath.Join(e.repo, sshhostkeys.RecipientsFile), id.Recipient().String()+"\n")

	code, out, errs := sshKeysRun(e, "c002")
	if code != 0 || strings.Count(out, "wrote ") != 6 || strings.Contains(out, "c001") {
		t.Fatalf("ssh-host-keys c002: exit %d, want 6 files of c002 only\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(e.repo, sshhostkeys.Dir("c001"))); err == nil {
		t.Error("c001's keys written although only c002 was named")
	}
	code, out, errs = sshKeysRun(e)
	if code != 0 || strings.Count(out, "wrote ") != 6 || !strings.Contains(out, "c002: kept its ed25519, ecdsa, rsa keys") {
		t.Fatalf("ssh-host-keys (all): exit %d, want c001's 6 files and c002 kept\n%s%s", code, out, errs)
	}
	e.git("add", "-A")
	e.git("commit", "-q", "-m", "host keys")
	code, out, errs = sshKeysRun(e)
	if code != 0 || strings.Contains(out, "wrote ") || !strings.Contains(out, "nothing written") {
		t.Fatalf("rerun: exit %d, want nothing written\n%s%s", code, out, errs)
	}
	if st := e.git("status", "--porcelain"); st != "" {
		t.Errorf("rerun changed the work tree:\n%s", st)
	}
	if log := e.git("log", "-p"); strings.Contains(log, "PRIVATE KEY") || !strings.Contains(log, "ssh-ed25519 ") {
		t.Error("git log -p holds a private key in clear, or no public key")
	}
	for _, node := range []string{"c001", "c002"} {
		enc, err := os.ReadFile(filepath.Join(e.repo, sshhostkeys.PrivateFile(node, "ed25519")))
		if err != nil {
			t.Fatal(err)
		}
		r, err := age.Decrypt(bytes.NewReader(enc), id)
		if err != nil {
			t.Fatalf("%s: %v", node, err)
		}
		pem, _ := io.ReadAll(r)
		if _, err := ssh.ParsePrivateKey(pem); err != nil {
			t.Errorf("%s's ed25519 key: %v", node, err)
		}
	}
	if code, out, errs := sshKeysRun(e, "c009"); code == 0 || !strings.Contains(errs, "no node c009") {
		t.Errorf("unknown node: exit %d\n%s%s", code, out, errs)
	}
}
