package agesecret

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// encrypt encrypts plain to recipient r, armored when asked.
func encrypt(t testing.TB, r string, plain []byte, armored bool) []byte {
	t.Helper()
	rcp, err := age.ParseX25519Recipient(r)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var dst io.Writer = &buf
	var aw io.WriteCloser
	if armored {
		aw = armor.NewWriter(&buf)
		dst = aw
	}
	w, err := age.Encrypt(dst, rcp)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if aw != nil {
		aw.Close()
	}
	return buf.Bytes()
}

func TestOpenCreatesIdentityOnce(t *testing.T) {
	state := t.TempDir()
	none, err := Open(state, nil, false)
	if err != nil || none != nil {
		t.Fatalf("Open without create on an empty state = %v, %v; want nil, nil", none, err)
	}
	k, err := Open(state, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(state, DefaultFile)
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("identity file mode %v, want 0600", st.Mode().Perm())
	}
	if !strings.HasPrefix(k.Recipient(), "age1") {
		t.Errorf("recipient %q", k.Recipient())
	}
	again, err := Open(state, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if again.Recipient() != k.Recipient() {
		t.Errorf("second Open made a new identity: %s then %s", k.Recipient(), again.Recipient())
	}
}

func TestDecryptRoundTrip(t *testing.T) {
	k, err := Open(t.TempDir(), nil, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, armored := range []bool{false, true} {
		plain := []byte("munge key\x00\x01 binary")
		ct := encrypt(t, k.Recipient(), plain, armored)
		if err := WellFormed(ct); err != nil {
			t.Errorf("armored=%v: WellFormed: %v", armored, err)
		}
		got, err := k.Decrypt("overlays/m/key.age", ct)
		if err != nil {
			t.Fatalf("armored=%v: %v", armored, err)
		}
		if !bytes.Equal(got, plain) {
			t.Errorf("armored=%v: got %q", armored, got)
		}
	}
}

func TestDecryptOtherRecipientNamesFile(t *testing.T) {
	k, err := Open(t.TempDir(), nil, true)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := age.GenerateX25519Identity()
	ct := encrypt(t, other.Recipient().String(), []byte("x"), false)
	_, err = k.Decrypt("overlays/m/etc/munge/munge.key.age", ct)
	if err == nil || !strings.Contains(err.Error(), "overlays/m/etc/munge/munge.key.age") || !strings.Contains(err.Error(), k.Recipient()) {
		t.Fatalf("err = %v; want the file and the recipient named", err)
	}
}

func TestSeveralIdentityFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := Generate(a); err != nil {
		t.Fatal(err)
	}
	if err := Generate(b); err != nil {
		t.Fatal(err)
	}
	if err := Generate(a); err == nil {
		t.Error("Generate overwrote an identity file")
	}
	kb, _ := Load(b)
	k, err := Open(dir, []string{a, b}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, DefaultFile)); err == nil {
		t.Error("a default identity was created although files were given")
	}
	// Encrypted to the second file's identity: the keyring decrypts it.
	got, err := k.Decrypt("s.age", encrypt(t, kb.Recipient(), []byte("second"), false))
	if err != nil || string(got) != "second" {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("not a key\n"), 0o600)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad file: %v", err)
	}
}

func TestWellFormedRejects(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":     nil,
		"plain":     []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"),
		"version":   []byte("age-encryption.org/v2\n"),
		"truncated": []byte("age-encryption.org/v1\n-> X25519 abc\n"),
		"armorjunk": []byte(armor.Header + "\n!!!!\n-----END AGE ENCRYPTED FILE-----\n"),
	} {
		if err := WellFormed(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzWellFormed(f *testing.F) {
	id, _ := age.GenerateX25519Identity()
	f.Add(encrypt(f, id.Recipient().String(), []byte("seed"), false))
	f.Add(encrypt(f, id.Recipient().String(), []byte("seed"), true))
	f.Add([]byte("age-encryption.org/v1\n"))
	f.Add([]byte(armor.Header + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The check the hook runs without a key must never accept less
		// than decryption does: whatever the server decrypts is well
		// formed (and neither panics on any input).
		wfErr := WellFormed(data)
		k := &Keyring{ids: []age.Identity{id}, recipient: id.Recipient().String()}
		if _, err := k.Decrypt("f.age", data); err == nil && wfErr != nil {
			t.Fatalf("decrypted, yet not well formed: %v", wfErr)
		}
	})
}
