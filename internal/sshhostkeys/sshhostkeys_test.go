package sshhostkeys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
)

// readKey decrypts node's private key of type typ with id and parses it.
func readKey(t *testing.T, repo, node, typ string, id age.Identity) (any, ssh.PublicKey) {
	t.Helper()
	enc, err := os.ReadFile(filepath.Join(repo, PrivateFile(node, typ)))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc, []byte("PRIVATE KEY")) {
		t.Fatalf("%s holds a private key in clear", PrivateFile(node, typ))
	}
	r, err := age.Decrypt(bytes.NewReader(enc), id)
	if err != nil {
		t.Fatalf("decrypting %s: %v", PrivateFile(node, typ), err)
	}
	pem, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pem, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n")) {
		t.Errorf("%s decrypts to %.40q, want an OpenSSH private key", PrivateFile(node, typ), pem)
	}
	key, err := ssh.ParseRawPrivateKey(pem)
	if err != nil {
		t.Fatalf("parsing %s: %v", PrivateFile(node, typ), err)
	}
	pubLine, err := os.ReadFile(filepath.Join(repo, PublicFile(node, typ)))
	if err != nil {
		t.Fatal(err)
	}
	pub, comment, _, rest, err := ssh.ParseAuthorizedKey(pubLine)
	if err != nil || len(rest) != 0 || comment != "root@"+node {
		t.Fatalf("%s = %q: %v, comment %q, rest %q", PublicFile(node, typ), pubLine, err, comment, rest)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(signer.PublicKey().Marshal(), pub.Marshal()) {
		t.Errorf("%s is not the public key of %s", PublicFile(node, typ), PrivateFile(node, typ))
	}
	return key, pub
}

func newIdentity(t *testing.T) (*age.X25519Identity, []age.Recipient) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id, []age.Recipient{id.Recipient()}
}

// snapshot returns every file under dir with its content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[strings.TrimPrefix(p, dir)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGenerateWritesDecryptableKeys(t *testing.T) {
	repo := t.TempDir()
	id, rs := newIdentity(t)
	res, err := Generate(repo, []string{"n1", "n2"}, rs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || len(res[0].Written) != 6 || len(res[1].Written) != 6 || res[0].Kept != nil {
		t.Fatalf("results %+v, want 6 files written for each of n1 and n2", res)
	}
	wantTypes := map[string]string{"ed25519": "ssh-ed25519", "ecdsa": "ecdsa-sha2-nistp256", "rsa": "ssh-rsa"}
	pubs := map[string]bool{}
	for _, node := range []string{"n1", "n2"} {
		for _, typ := range Types {
			key, pub := readKey(t, repo, node, typ, id)
			if pub.Type() != wantTypes[typ] {
				t.Errorf("%s %s key is %s, want %s", node, typ, pub.Type(), wantTypes[typ])
			}
			switch k := key.(type) {
			case *rsa.PrivateKey:
				if k.N.BitLen() != RSABits {
					t.Errorf("rsa key of %d bits, want %d", k.N.BitLen(), RSABits)
				}
			case *ecdsa.PrivateKey:
				if k.Curve.Params().Name != "P-256" {
					t.Errorf("ecdsa key on %s, want P-256", k.Curve.Params().Name)
				}
			case *ed25519.PrivateKey:
			default:
				t.Errorf("%s key parsed as %T", typ, key)
			}
			pubs[string(pub.Marshal())] = true
		}
	}
	if len(pubs) != 6 {
		t.Errorf("%d distinct public keys for 2 nodes of 3 types, want 6", len(pubs))
	}
	// Another identity cannot read them.
	other, _ := newIdentity(t)
	enc, _ := os.ReadFile(filepath.Join(repo, PrivateFile("n1", "ed25519")))
	if _, err := age.Decrypt(bytes.NewReader(enc), other); err == nil {
		t.Error("a key decrypts with an identity that is not a recipient")
	}
}

func TestGenerateNeverReplaces(t *testing.T) {
	repo := t.TempDir()
	_, rs := newIdentity(t)
	if _, err := Generate(repo, []string{"n1"}, rs, nil); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, repo)
	res, err := Generate(repo, []string{"n1"}, rs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res[0].Written) != 0 || !reflect.DeepEqual(res[0].Kept, Types) {
		t.Errorf("rerun: %+v, want nothing written and every type kept", res[0])
	}
	if after := snapshot(t, repo); !reflect.DeepEqual(before, after) {
		t.Error("rerun changed the repository's files")
	}

	// A lost rsa key (both files) is generated again, the others kept.
	for _, f := range []string{PrivateFile("n1", "rsa"), PublicFile("n1", "rsa")} {
		if err := os.Remove(filepath.Join(repo, f)); err != nil {
			t.Fatal(err)
		}
	}
	res, err = Generate(repo, []string{"n1"}, rs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{PrivateFile("n1", "rsa"), PublicFile("n1", "rsa")}; !reflect.DeepEqual(res[0].Written, want) || !reflect.DeepEqual(res[0].Kept, []string{"ed25519", "ecdsa"}) {
		t.Errorf("after removing the rsa key: %+v, want %v written", res[0], want)
	}
	if after := snapshot(t, repo); after["/"+PrivateFile("n1", "ed25519")] != before["/"+PrivateFile("n1", "ed25519")] {
		t.Error("the ed25519 key was replaced")
	}
}

// A private key without its .pub (or the reverse) stops everything, for
// every node, with a message naming the file.
func TestGenerateHalfKeyIsAnError(t *testing.T) {
	repo := t.TempDir()
	_, rs := newIdentity(t)
	if _, err := Generate(repo, []string{"n1"}, rs, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(repo, PublicFile("n1", "ecdsa"))); err != nil {
		t.Fatal(err)
	}
	_, err := Generate(repo, []string{"n0", "n1"}, rs, nil)
	if err == nil || !strings.Contains(err.Error(), PrivateFile("n1", "ecdsa")) {
		t.Fatalf("half key: error %v, want one naming %s", err, PrivateFile("n1", "ecdsa"))
	}
	if _, err := os.Stat(filepath.Join(repo, Dir("n0"))); err == nil {
		t.Error("n0's keys were written although n1's were broken")
	}
}

func TestGenerateRefusesBadInput(t *testing.T) {
	_, rs := newIdentity(t)
	if _, err := Generate(t.TempDir(), []string{"../x"}, rs, nil); err == nil {
		t.Error("node name ../x accepted")
	}
	if _, err := Generate(t.TempDir(), []string{"n1"}, nil, nil); err == nil {
		t.Error("no recipients accepted")
	}
}

func TestRecipients(t *testing.T) {
	repo := t.TempDir()
	a, _ := newIdentity(t)
	b, _ := newIdentity(t)
	if _, _, err := Recipients(repo, nil); err == nil || !strings.Contains(err.Error(), RecipientsFile) {
		t.Errorf("no flag and no file: %v, want an error naming %s", err, RecipientsFile)
	}
	rs, from, err := Recipients(repo, []string{a.Recipient().String(), b.Recipient().String()})
	if err != nil || len(rs) != 2 || from != "--recipient" {
		t.Errorf("two flags: %d recipients from %q, %v", len(rs), from, err)
	}
	if _, _, err := Recipients(repo, []string{"age1nonsense"}); err == nil || !strings.Contains(err.Error(), "age1nonsense") {
		t.Errorf("bad flag: %v", err)
	}
	p := filepath.Join(repo, RecipientsFile)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte("# the head server\n"+a.Recipient().String()+"\n\n"+b.Recipient().String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rs, from, err = Recipients(repo, nil)
	if err != nil || len(rs) != 2 || from != RecipientsFile {
		t.Errorf("file: %d recipients from %q, %v", len(rs), from, err)
	}
}
