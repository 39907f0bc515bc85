package artifact

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/agesecret"
	"github.com/gitboot/gitboot/internal/sshhostkeys"
	"golang.org/x/crypto/ssh"
)

// sshKeysEnv is a repository work tree with host keys for some nodes and
// the server's keyring they are encrypted to.
type sshKeysEnv struct {
	repo string
	keys *agesecret.Keyring
	rs   []age.Recipient
}

func newSSHKeysEnv(t *testing.T, nodes ...string) *sshKeysEnv {
	t.Helper()
	idFile := filepath.Join(t.TempDir(), "id")
	if err := agesecret.Generate(idFile); err != nil {
		t.Fatal(err)
	}
	keys, err := agesecret.Load(idFile)
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.ParseX25519Recipient(keys.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	e := &sshKeysEnv{repo: t.TempDir(), keys: keys, rs: []age.Recipient{r}}
	if _, err := sshhostkeys.Generate(e.repo, nodes, e.rs, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// cluster is three nodes; those in rt select the builtin ssh_host_keys as
// a runtime overlay, those in sys as a system overlay.
func (e *sshKeysEnv) cluster(t *testing.T, secure bool, rt, sys []string) *hclspec.Cluster {
	tc := overlayCluster(t, nil, nil, 3)
	tc.fs = os.DirFS(e.repo)
	tc.overlays = append(tc.overlays, &hclspec.Overlay{Name: "ssh", Builtin: "ssh_host_keys"})
	for _, n := range tc.nodes {
		for _, x := range rt {
			if x == n.Name {
				n.RuntimeOverlays = []string{"ssh"}
			}
		}
		for _, x := range sys {
			if x == n.Name {
				n.SystemOverlays = []string{"ssh"}
			}
		}
	}
	c := tc.build()
	c.Servers[0].SecureRuntime = secure
	return c
}

func (e *sshKeysEnv) build(t *testing.T, c *hclspec.Cluster) (*Result, error) {
	b, err := New(Config{StateDir: t.TempDir(), Secrets: e.keys})
	if err != nil {
		t.Fatal(err)
	}
	return b.Build(context.Background(), c, "")
}

func TestBuiltinSSHHostKeys(t *testing.T) {
	e := newSSHKeysEnv(t, "n00000", "n00001")
	r, err := e.build(t, e.cluster(t, true, []string{"n00000", "n00001"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	rt := unpack(t, r.Nodes["n00000"].Runtime.Path)
	for _, typ := range sshhostkeys.Types {
		priv := filepath.Join(rt, "etc/ssh/ssh_host_"+typ+"_key")
		info, err := os.Lstat(priv)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", priv, info.Mode())
		}
		key, err := ssh.ParsePrivateKey([]byte(readFile(t, priv)))
		if err != nil {
			t.Fatalf("the node's %s key: %v", typ, err)
		}
		pubPath := filepath.Join(rt, "etc/ssh/ssh_host_"+typ+"_key.pub")
		pubLine := readFile(t, pubPath)
		if info, err := os.Lstat(pubPath); err != nil || info.Mode() != 0o644 {
			t.Errorf("%s: %v %v, want mode 0644", pubPath, info.Mode(), err)
		}
		if want := readFile(t, filepath.Join(e.repo, sshhostkeys.PublicFile("n00000", typ))); pubLine != want {
			t.Errorf("the node's %s .pub is %q, want the committed %q", typ, pubLine, want)
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pubLine))
		if err != nil || !bytes.Equal(pub.Marshal(), key.PublicKey().Marshal()) {
			t.Errorf("the node's %s .pub is not its private key's (%v)", typ, err)
		}
	}
	kh := readFile(t, filepath.Join(rt, "etc/ssh/ssh_known_hosts"))
	lines := strings.Split(strings.TrimSpace(kh), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[0], "# ") {
		t.Fatalf("ssh_known_hosts: a comment and 6 keys (2 nodes with keys), got\n%s", kh)
	}
	for _, node := range []string{"n00000", "n00001"} {
		ip := map[string]string{"n00000": "10.99.1.1", "n00001": "10.99.1.2"}[node]
		for _, typ := range sshhostkeys.Types {
			pub := strings.TrimSpace(readFile(t, filepath.Join(e.repo, sshhostkeys.PublicFile(node, typ))))
			if want := node + "," + node + ".cluster.local," + ip + " " + pub; !strings.Contains(kh, want+"\n") {
				t.Errorf("ssh_known_hosts lacks %q:\n%s", want, kh)
			}
		}
	}
	if strings.Contains(kh, "n00002") {
		t.Errorf("ssh_known_hosts lists n00002, which has no keys:\n%s", kh)
	}
	if r.Nodes["n00000"].Runtime.Digest == r.Nodes["n00001"].Runtime.Digest {
		t.Error("two nodes got the same host keys overlay")
	}

	// A new node's keys change every node's known hosts.
	if _, err := sshhostkeys.Generate(e.repo, []string{"n00002"}, e.rs, nil); err != nil {
		t.Fatal(err)
	}
	r2, err := e.build(t, e.cluster(t, true, []string{"n00000", "n00001"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if r2.Nodes["n00000"].Runtime.Digest == r.Nodes["n00000"].Runtime.Digest {
		t.Error("n00002's new keys did not change n00000's runtime overlay (ssh_known_hosts)")
	}
	if kh := readFile(t, filepath.Join(unpack(t, r2.Nodes["n00000"].Runtime.Path), "etc/ssh/ssh_known_hosts")); strings.Count(kh, "\nn00002,") != 3 {
		t.Errorf("after n00002's keys, ssh_known_hosts:\n%s", kh)
	}
}

// The builtin overlay is a secret: refused in a system overlay and in a
// runtime overlay without secure mode; a node without keys is an error
// saying how to make them.
func TestBuiltinSSHHostKeysRefused(t *testing.T) {
	e := newSSHKeysEnv(t, "n00000")
	for _, tc := range []struct {
		name    string
		secure  bool
		rt, sys []string
		want    string
	}{
		{"system overlay", true, nil, []string{"n00000"}, "system overlay"},
		{"not secure", false, []string{"n00000"}, nil, "secure_runtime"},
		{"no keys", true, []string{"n00001"}, nil, "gitboot secrets ssh-host-keys"},
	} {
		_, err := e.build(t, e.cluster(t, tc.secure, tc.rt, tc.sys))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: build error %v, want one saying %q", tc.name, err, tc.want)
		}
	}
}

// Validation places the refusal at the overlay block: the builtin's
// template is not a file of the repository.
func TestBuiltinSSHHostKeysCheckSubject(t *testing.T) {
	e := newSSHKeysEnv(t, "n00000")
	diags := Check(e.cluster(t, true, nil, []string{"n00000"}), "")
	if !diags.HasErrors() {
		t.Fatal("ssh_host_keys as a system overlay passed validation")
	}
	for _, d := range diags {
		if d.Subject != nil && strings.Contains(d.Subject.Filename, "builtin/") {
			t.Errorf("diagnostic %q placed in %s, a file that is not in the repository", d.Detail, d.Subject.Filename)
		}
	}
}
