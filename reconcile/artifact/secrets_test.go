package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"filippo.io/age"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/agesecret"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// The munge key's owner: the test image (makeMergedUsrImage) names a
// munge user and group (105:107) in its own /etc/passwd and /etc/group.
const secretsHCL = `
server "head" {
  address        = "10.99.0.1"
  secure_runtime = %SECURE%
}
network "cluster" {
  subnet  = "10.99.0.0/24"
  gateway = "10.99.0.1"
}
variable "image_source" { type = string }
image "img" { source = var.image_source }
overlay "munge" {
  source = "overlays/munge"
  file "etc/munge/munge.key" {
    mode  = "0400"
    owner = "munge"
    group = "munge"
  }
}
overlay "sys" { source = "overlays/sys" }
node "n1" {
  mac              = "52:54:00:00:00:01"
  ip               = "10.99.0.11"
  image            = image.img
  network          = network.cluster
  system_overlays  = [overlay.sys]
  runtime_overlays = [overlay.munge]
}
`

// secretEnv is a git repository with secrets encrypted to keys.
type secretEnv struct {
	t     *testing.T
	repo  string
	img   string
	state string
	keys  *agesecret.Keyring
}

func newSecretEnv(t *testing.T) *secretEnv {
	t.Helper()
	e := &secretEnv{t: t, repo: t.TempDir(), img: makeMergedUsrImage(t), state: t.TempDir()}
	var err error
	if e.keys, err = agesecret.Open(e.state, nil, true); err != nil {
		t.Fatal(err)
	}
	e.git("init", "-q", "-b", "main")
	return e
}

func (e *secretEnv) git(args ...string) {
	e.t.Helper()
	run(e.t, e.repo, "git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
}

// encryptTo encrypts plain to recipient (a fresh encryption every call).
func encryptTo(t testing.TB, recipient string, plain string) []byte {
	t.Helper()
	r, err := age.ParseX25519Recipient(recipient)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(plain))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// commit writes files (path -> content; "" removes), with the cluster
// file made secure or not, commits and loads the commit.
func (e *secretEnv) commit(secure bool, files map[string][]byte) *hclspec.Cluster {
	e.t.Helper()
	hcl := strings.ReplaceAll(secretsHCL, "%SECURE%", map[bool]string{true: "true", false: "false"}[secure])
	write(e.t, filepath.Join(e.repo, "cluster.hcl"), hcl, 0o644)
	write(e.t, filepath.Join(e.repo, "overlays/sys/etc/issue"), "welcome\n", 0o644)
	write(e.t, filepath.Join(e.repo, "overlays/munge/etc/motd"), "hello\n", 0o644)
	for p, data := range files {
		if data == nil {
			os.Remove(filepath.Join(e.repo, p))
			continue
		}
		write(e.t, filepath.Join(e.repo, p), string(data), 0o644)
	}
	e.git("add", "-A")
	e.git("commit", "-q", "--allow-empty", "-m", "c")
	src, err := gitsrc.Open(e.repo)
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := src.Resolve("main")
	if err != nil {
		e.t.Fatal(err)
	}
	cl, diags := hclspec.Load(c.FS, hclspec.Options{Vars: map[string]string{"image_source": e.img}})
	if diags.HasErrors() {
		e.t.Fatal(diags.Error())
	}
	return cl
}

func (e *secretEnv) builder(keys *agesecret.Keyring) *Builder {
	e.t.Helper()
	b, err := New(Config{StateDir: e.state, Secrets: keys})
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

const mungeKey = "overlays/munge/etc/munge/munge.key.age"

// TestSecretDeliveredDecrypted: an .age file of a secure runtime overlay
// arrives decrypted without its suffix, with its file block's mode and
// owner (0400 munge:munge); a `secret` call renders the decrypted file;
// nothing the plan or inventory shows is the content or a digest of it.
func TestSecretDeliveredDecrypted(t *testing.T) {
	e := newSecretEnv(t)
	const plain, dbPass = "MUNGE-KEY-0123456789", "hunter2-db"
	c := e.commit(true, map[string][]byte{
		mungeKey:                             encryptTo(t, e.keys.Recipient(), plain),
		"secrets/db.age":                     encryptTo(t, e.keys.Recipient(), dbPass),
		"overlays/munge/etc/db.conf.tmpl":    []byte("host={{.Node.Name}}\npassword={{secret \"secrets/db.age\"}}\n"),
		"overlays/munge/etc/munge/README.md": []byte("the key is encrypted\n"),
	})
	r, err := e.builder(e.keys).Build(context.Background(), c, "")
	if err != nil {
		t.Fatal(err)
	}
	a := r.Nodes["n1"]
	hdrs, names := cpioHeaders(t, a.Runtime.Path)
	h := hdrs["etc/munge/munge.key"]
	if h == nil {
		t.Fatalf("runtime overlay lacks etc/munge/munge.key: %v", names)
	}
	if h.Mode&0o7777 != 0o400 || h.Uid != 105 || h.Guid != 107 {
		t.Errorf("munge.key is %o %d:%d, want 0400 105:107 (munge:munge)", h.Mode&0o7777, h.Uid, h.Guid)
	}
	if hdrs["etc/munge/munge.key.age"] != nil {
		t.Error("the ciphertext is in the overlay too")
	}
	dir := unpack(t, a.Runtime.Path)
	if got := readFile(t, filepath.Join(dir, "etc/munge/munge.key")); got != plain {
		t.Errorf("munge.key = %q, want %q", got, plain)
	}
	if got, want := readFile(t, filepath.Join(dir, "etc/db.conf")), "host=n1\npassword="+dbPass+"\n"; got != want {
		t.Errorf("db.conf = %q, want %q", got, want)
	}
	if sysData, _ := os.ReadFile(a.System.Path); bytes.Contains(sysData, []byte(plain)) {
		t.Error("the system overlay holds the secret")
	}

	in, err := ComputeInputs(c, c.Servers[0], false)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(plain))
	for f, v := range in.Overlays["munge"] {
		if strings.Contains(v, hex.EncodeToString(sum[:])[:16]) || strings.Contains(v, plain) {
			t.Errorf("%s: inventory value %q shows the secret or its digest", f, v)
		}
	}
	if v := in.Overlays["munge"]["etc/munge/munge.key"]; !strings.HasPrefix(v, SensitiveValue) || !strings.HasSuffix(v, "mode 0400 owner munge group munge") {
		t.Errorf("munge.key inventory value %q, want %s ... mode 0400 owner munge group munge", v, SensitiveValue)
	}

	// overlay render never decrypts: the secret and the template's
	// output with it show as (sensitive).
	nr, err := Render(e.state, c, "", "n1", "")
	if err != nil {
		t.Fatal(err)
	}
	data, rf, ok := nr.Content("etc/munge/munge.key")
	if !ok || !rf.Sensitive || string(data) != SensitiveValue || rf.Size != 0 {
		t.Errorf("render of munge.key: %q %+v %v", data, rf, ok)
	}
	if data, _, _ := nr.Content("etc/db.conf"); strings.Contains(string(data), dbPass) || !strings.Contains(string(data), SensitiveValue) {
		t.Errorf("render of db.conf: %q", data)
	}
}

// TestSecretOtherRecipientRejected: a key encrypted to another recipient
// is a repository error naming the file and placed at it, from the build
// and from CheckDecrypt (what plan runs).
func TestSecretOtherRecipientRejected(t *testing.T) {
	e := newSecretEnv(t)
	other, _ := age.GenerateX25519Identity()
	c := e.commit(true, map[string][]byte{mungeKey: encryptTo(t, other.Recipient().String(), "k")})
	_, err := e.builder(e.keys).Build(context.Background(), c, "")
	var re *RepoError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), mungeKey) {
		t.Fatalf("build error %v (%T), want a *RepoError naming %s", err, err, mungeKey)
	}
	if s := ErrorSubject(c, err); s == nil || !strings.HasSuffix(s.Filename, mungeKey) {
		t.Errorf("error placed at %v, want %s", s, mungeKey)
	}
	err = CheckDecrypt(c, c.Servers[0], e.keys)
	if !errors.As(err, &re) || !strings.Contains(err.Error(), mungeKey) || !strings.Contains(err.Error(), e.keys.Recipient()) {
		t.Errorf("CheckDecrypt: %v", err)
	}
	// Without any identity the build fails too, naming the file.
	if _, err := e.builder(nil).Build(context.Background(), c, ""); err == nil || !strings.Contains(err.Error(), mungeKey) {
		t.Errorf("build without identity: %v", err)
	}
	// validate has no key: a well-formed file to another recipient passes.
	if diags := Check(c, ""); diags.HasErrors() {
		t.Errorf("Check: %v", diags)
	}
	if diags := CheckSecretFiles(c); diags.HasErrors() {
		t.Errorf("CheckSecretFiles: %v", diags)
	}
}

// TestSecretPlacement: a secret where a neighbour could read it (a system
// overlay; a runtime overlay without secure_runtime) is a diagnostic at
// the file (and the template line of a secret call), and fails plan's
// ComputeInputs and the build.
func TestSecretPlacement(t *testing.T) {
	for name, tc := range map[string]struct {
		secure bool
		files  map[string]string
		file   string
		line   int
		want   string
	}{
		"age file in system overlay":  {true, map[string]string{"overlays/sys/etc/k.age": "enc"}, "overlays/sys/etc/k.age", 1, "system overlay"},
		"secret call in system tmpl":  {true, map[string]string{"overlays/sys/etc/x.tmpl": "a\nb\n{{secret \"secrets/s.age\"}}\n", "secrets/s.age": "enc"}, "overlays/sys/etc/x.tmpl", 3, "system overlay"},
		"runtime without secure mode": {false, map[string]string{mungeKey: "enc"}, mungeKey, 1, "secure_runtime"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newSecretEnv(t)
			files := map[string][]byte{mungeKey: encryptTo(t, e.keys.Recipient(), "k")} // the file block's
			for p, v := range tc.files {
				if v == "enc" {
					files[p] = encryptTo(t, e.keys.Recipient(), "s3cr3t")
				} else {
					files[p] = []byte(v)
				}
			}
			c := e.commit(tc.secure, files)
			diags := Check(c, "")
			if len(diags) != 1 || diags[0].Subject == nil {
				t.Fatalf("diagnostics %v, want one placed at %s", diags, tc.file)
			}
			d := diags[0]
			if !strings.HasSuffix(d.Subject.Filename, tc.file) || d.Subject.Start.Line != tc.line || !strings.Contains(d.Detail, tc.want) {
				t.Errorf("diagnostic %s at %s:%d, want %s:%d saying %q", d.Detail, d.Subject.Filename, d.Subject.Start.Line, tc.file, tc.line, tc.want)
			}
			if _, err := ComputeInputs(c, c.Servers[0], false); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ComputeInputs: %v", err)
			}
			if _, err := e.builder(e.keys).Build(context.Background(), c, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Build: %v", err)
			}
		})
	}
}

// TestSecretChangeRebuilds: a secret with new content changes the node's
// runtime input key (its overlay is rebuilt); so does the same content
// encrypted again (age encryption is randomised: the repository changed,
// and input keys hash the ciphertext, never the plaintext). The system
// overlay stays as it was, and the file's inventory value stays (sensitive).
func TestSecretChangeRebuilds(t *testing.T) {
	e := newSecretEnv(t)
	inputs := func(c *hclspec.Cluster) (NodeInputs, string) {
		in, err := ComputeInputs(c, c.Servers[0], false)
		if err != nil {
			t.Fatal(err)
		}
		return in.Nodes["n1"], in.Overlays["munge"]["etc/munge/munge.key"]
	}
	tmpl := []byte("{{secret \"secrets/db.age\"}}")
	first, v1 := inputs(e.commit(true, map[string][]byte{mungeKey: encryptTo(t, e.keys.Recipient(), "one")}))
	same, _ := inputs(e.commit(true, nil))
	changed, v2 := inputs(e.commit(true, map[string][]byte{mungeKey: encryptTo(t, e.keys.Recipient(), "two")}))
	reenc, v3 := inputs(e.commit(true, map[string][]byte{mungeKey: encryptTo(t, e.keys.Recipient(), "two")}))
	if same != first {
		t.Errorf("an unchanged commit changed the input keys")
	}
	if changed.Runtime == first.Runtime || reenc.Runtime == changed.Runtime {
		t.Errorf("runtime input keys %s, %s, %s: want a change for new content and for a new encryption", first.Runtime[:8], changed.Runtime[:8], reenc.Runtime[:8])
	}
	if changed.System != first.System || reenc.System != first.System {
		t.Error("the system overlay's input changed with a runtime secret")
	}
	for _, v := range []string{v1, v2, v3} {
		if !strings.HasPrefix(v, SensitiveValue+" ") {
			t.Errorf("inventory value %q", v)
		}
	}
	if v1 == v2 || v2 == v3 {
		t.Errorf("inventory values %q %q %q: a plan could not name the changed secret", v1, v2, v3)
	}
	// A secret read by a template counts in its overlay's key too.
	c1 := e.commit(true, map[string][]byte{"overlays/munge/etc/db.tmpl": tmpl, "secrets/db.age": encryptTo(t, e.keys.Recipient(), "a")})
	k1, _ := inputs(c1)
	k2, _ := inputs(e.commit(true, map[string][]byte{"secrets/db.age": encryptTo(t, e.keys.Recipient(), "b")}))
	if k1.Runtime == k2.Runtime {
		t.Error("a changed secret read by secret \"PATH\" left the runtime input key alone")
	}
	// And the build delivers the new content.
	b := e.builder(e.keys)
	c3 := e.commit(true, map[string][]byte{"secrets/db.age": encryptTo(t, e.keys.Recipient(), "c")})
	r, err := b.Build(context.Background(), c3, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(unpack(t, r.Nodes["n1"].Runtime.Path), "etc/db")); got != "c" {
		t.Errorf("etc/db = %q, want c", got)
	}
}

// TestCheckSecretFilesMalformed: validate and the pre-receive hook refuse
// an .age file that is not an age file, anywhere in the repository,
// naming it, without any key.
func TestCheckSecretFilesMalformed(t *testing.T) {
	e := newSecretEnv(t)
	c := e.commit(true, map[string][]byte{
		"secrets/plain.age": []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nnot encrypted\n"),
		"secrets/good.age":  encryptTo(t, e.keys.Recipient(), "fine"),
	})
	diags := CheckSecretFiles(c)
	if len(diags) != 1 || !strings.Contains(diags[0].Detail, "secrets/plain.age") || !strings.HasSuffix(diags[0].Subject.Filename, "secrets/plain.age") {
		t.Fatalf("diagnostics %v, want one naming secrets/plain.age", diags)
	}
	// In an overlay, loading it fails too (Check, the build).
	c = e.commit(true, map[string][]byte{mungeKey: []byte("plain text key")})
	diags = Check(c, "")
	if len(diags) == 0 || !strings.Contains(diags[0].Detail, mungeKey) || !strings.Contains(diags[0].Detail, "well-formed") {
		t.Errorf("Check: %v", diags)
	}
}

// TestSecretComputedPath: a `secret` call whose path is computed (per
// node) renders that node's secret, and every .age file counts in its
// overlay's input key (which file it reads is known only when rendering).
func TestSecretComputedPath(t *testing.T) {
	e := newSecretEnv(t)
	tmpl := []byte(`{{ secret (printf "secrets/ssh/%s/key.age" .Node.Name) }}`)
	c1 := e.commit(true, map[string][]byte{
		mungeKey:                      encryptTo(t, e.keys.Recipient(), "k"),
		"overlays/munge/etc/key.tmpl": tmpl,
		"secrets/ssh/n1/key.age":      encryptTo(t, e.keys.Recipient(), "n1-host-key"),
	})
	u := templateSecrets(mustParse(t, string(tmpl)))
	if u == nil || !u.dynamic || len(u.paths) != 0 {
		t.Fatalf("templateSecrets = %+v, want a computed path", u)
	}
	r, err := e.builder(e.keys).Build(context.Background(), c1, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(unpack(t, r.Nodes["n1"].Runtime.Path), "etc/key")); got != "n1-host-key" {
		t.Errorf("etc/key = %q", got)
	}
	in1, _ := ComputeInputs(c1, c1.Servers[0], false)
	c2 := e.commit(true, map[string][]byte{"secrets/ssh/n1/key.age": encryptTo(t, e.keys.Recipient(), "new-key")})
	in2, _ := ComputeInputs(c2, c2.Servers[0], false)
	if in1.Nodes["n1"].Runtime == in2.Nodes["n1"].Runtime {
		t.Error("a changed secret read through a computed path left the runtime input key alone")
	}
}

func mustParse(t *testing.T, text string) *template.Template {
	t.Helper()
	tm, _, err := parseTemplate("t.tmpl", text)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}
