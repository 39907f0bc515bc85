package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/gitboot/gitboot/internal/agesecret"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// secretInit wraps the image's /sbin/init: it prints the munge key as the
// node has it (mode, owner, content) before the test image's own init.
const secretInit = `#!/bin/sh
export PATH=/bin:/sbin
exec </dev/console >/dev/console 2>&1
k=/etc/munge/munge.key
if [ -f $k ]; then
	echo "GITBOOT-E2E-SECRET mode=$(stat -c %a $k) owner=$(stat -c %u:%g $k) names=$(stat -c %U:%G $k) content=$(cat $k) age=$(ls $k.age 2>/dev/null)"
else
	echo "GITBOOT-E2E-SECRET missing"
fi
exec /sbin/init.e2e
`

// TestQEMUSecretMungeKey boots n1 (BIOS) with secure_runtime = true and a
// munge key committed only encrypted (overlays/generic/etc/munge/munge.key.age,
// to the identity given by --age-identity): the node has it decrypted at
// /etc/munge/munge.key before the image's init runs, 0400 with the file
// block's owner: the munge user and its group declared in HCL (the
// busybox image has no accounts of its own: /etc/passwd and /etc/group
// are made from the declared ones), and no .age file; another node's
// secure fetch of n1's runtime overlay is refused.
func TestQEMUSecretMungeKey(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireCommands(t, "qemu-system-x86_64", "git", "curl", "cpio", "gzip")
	kernel := testKernel(t)
	id := filepath.Join(t.TempDir(), "age-identity.txt")
	if err := agesecret.Generate(id); err != nil {
		t.Fatal(err)
	}
	keys, err := agesecret.Load(id)
	if err != nil {
		t.Fatal(err)
	}
	const plain = "e2e-munge-key-5f3c"
	r, _ := age.ParseX25519Recipient(keys.Recipient())
	var ct bytes.Buffer
	w, _ := age.Encrypt(&ct, r)
	w.Write([]byte(plain))
	w.Close()

	repo := labRepo(t)
	p := filepath.Join(repo, "cluster.hcl")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(data), `address  = "10.99.0.1"`, "address  = \"10.99.0.1\"\n  secure_runtime = true", 1)
	s = strings.Replace(s, "  source = \"overlays/generic\"\n", "  source = \"overlays/generic\"\n  file \"etc/munge/munge.key\" {\n    mode  = \"0400\"\n    owner = \"munge\"\n    group = \"munge\"\n  }\n", 1)
	if s == string(data) || !strings.Contains(s, "secure_runtime") || !strings.Contains(s, "owner = \"munge\"") {
		t.Fatal("the lab's cluster.hcl changed: this test's edits no longer apply")
	}
	s += "\nuser \"munge\" {\n  uid   = 101\n  gid   = 102\n  home  = \"/nonexistent\"\n  shell = \"/sbin/nologin\"\n}\n"
	os.WriteFile(p, []byte(s), 0o644)
	os.MkdirAll(filepath.Join(repo, "overlays/generic/etc/munge"), 0o755)
	os.WriteFile(filepath.Join(repo, "overlays/generic/etc/munge/munge.key.age"), ct.Bytes(), 0o644)
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-q", "-m", "munge key, encrypted")
	if out := git(t, repo, "log", "-p"); strings.Contains(out, plain) {
		t.Fatal("the plaintext key is in git")
	}

	l := startQEMULabImage(t, kernel, repo, func(dir string) {
		if err := os.Rename(filepath.Join(dir, "sbin/init"), filepath.Join(dir, "sbin/init.e2e")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "sbin/init"), []byte(secretInit), 0o755); err != nil {
			t.Fatal(err)
		}
	}, "--age-identity", id)
	if !l.systemHasAgent(t) {
		skipOrFail(t, "the system overlay has no gitboot-agent: secure runtime overlays cannot reach the node")
	}
	vm, _ := l.boot(t, "n1", biosArgs(n1MAC)...)
	re := regexp.MustCompile(`GITBOOT-E2E-SECRET [^\r\n]*`)
	line := re.FindString(vm.console())
	if want := "GITBOOT-E2E-SECRET mode=400 owner=101:102 names=munge:munge content=" + plain + " age="; strings.TrimSpace(line) != want {
		t.Errorf("node's munge key: %q, want %q%s", line, want, l.report())
	}
	// A neighbour asking for n1's runtime overlay is refused (not n1's
	// address, not a privileged port).
	if out, err := l.srv.Output(context.Background(), "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", baseURL+"/runtime/"+n1MAC); err == nil && strings.TrimSpace(string(out)) == "200" {
		t.Errorf("the server's own fetch of n1's runtime overlay was served (%s)", out)
	}
	if strings.Contains(l.log.String(), plain) {
		t.Error("gitboot's log shows the key")
	}
	l.waitPowerOff(t, vm)
}
