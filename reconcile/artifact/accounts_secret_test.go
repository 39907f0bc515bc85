package artifact

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/internal/agesecret"
)

const aliceHashFile = `user "alice" {
  uid                = 1001
  password_hash_file = "secrets/alice.hash.age"
}
`

// TestAccountsPasswordFile: a password_hash_file is decrypted into the
// runtime overlay's /etc/shadow alone (the system overlay's keeps alice
// locked); validate, which has no key, passes it; a file encrypted to
// another recipient, or one that holds no crypt(3) hash, fails the build
// and the plan's CheckDecrypt at the user block, never showing the
// content.
func TestAccountsPasswordFile(t *testing.T) {
	e := newSecretEnv(t)
	hash := "$y$j9T$Ab1salt$Bq2hashvalue"
	c := e.commit(true, map[string][]byte{"users.hcl": []byte(aliceHashFile),
		"secrets/alice.hash.age": encryptTo(t, e.keys.Recipient(), hash+"\n"), mungeKey: encryptTo(t, e.keys.Recipient(), "munge key")})
	if diags := Check(c, ""); diags.HasErrors() {
		t.Fatalf("Check (no key): %v", diags)
	}
	if err := CheckDecrypt(c, c.Servers[0], e.keys); err != nil {
		t.Fatalf("CheckDecrypt: %v", err)
	}
	r, err := e.builder(e.keys).Build(context.Background(), c, "")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := os.ReadFile(filepath.Join(unpack(t, r.Nodes["n1"].Runtime.Path), "etc/shadow"))
	if err != nil || !strings.Contains(string(rt), "alice:"+hash+":::::::\n") {
		t.Errorf("runtime /etc/shadow %q (%v), want alice's decrypted hash", rt, err)
	}
	sys, err := os.ReadFile(filepath.Join(unpack(t, r.Nodes["n1"].System.Path), "etc/shadow"))
	if err != nil || string(sys) != "alice:*:::::::\n" {
		t.Errorf("system /etc/shadow %q (%v), want alice locked", sys, err)
	}

	other, err := agesecret.Open(t.TempDir(), nil, true)
	if err != nil {
		t.Fatal(err)
	}
	for name, cipher := range map[string][]byte{
		"other recipient": encryptTo(t, other.Recipient(), hash),
		"not a hash":      encryptTo(t, e.keys.Recipient(), "hunter2\n"),
	} {
		c := e.commit(true, map[string][]byte{"secrets/alice.hash.age": cipher})
		_, err := e.builder(e.keys).Build(context.Background(), c, "")
		derr := CheckDecrypt(c, c.Servers[0], e.keys)
		for what, err := range map[string]error{"build": err, "CheckDecrypt": derr} {
			if err == nil || !strings.Contains(err.Error(), "secrets/alice.hash.age") || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("%s, %s: %v; want an error naming secrets/alice.hash.age, never its content", name, what, err)
				continue
			}
			if at := ErrorSubject(c, err); at == nil || at.Filename != "users.hcl" || at.Start.Line != 1 {
				t.Errorf("%s, %s: error at %v, want users.hcl:1", name, what, at)
			}
		}
	}
}
