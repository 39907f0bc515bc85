package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/gitboot/gitboot/internal/agesecret"
	"github.com/gitboot/gitboot/reconcile/artifact"
)

const secretKeyPath = "overlays/generic/etc/munge/munge.key.age"

// secretFiles is the base cluster served in secure mode, with a munge key
// (ciphertext given) in its runtime overlay "generic", 0400.
func secretFiles(t *testing.T, ciphertext []byte) map[string]string {
	files := edit(t, baseFiles(), "main.hcl", "  address = \"10.99.0.1\"\n", "  address = \"10.99.0.1\"\n  secure_runtime = true\n")
	files = edit(t, files, "main.hcl", "  source = \"overlays/generic\"\n", "  source = \"overlays/generic\"\n  file \"etc/munge/munge.key\" { mode = \"0400\" }\n")
	return with(files, secretKeyPath, string(ciphertext))
}

func encryptFor(t *testing.T, recipient, plain string) []byte {
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
	io.WriteString(w, plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withSecrets gives e's reconciler a builder with the state directory's
// age identity, as gitboot serve has.
func withSecrets(t *testing.T, e *recEnv) *agesecret.Keyring {
	keys, err := agesecret.Open(e.state, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := artifact.New(artifact.Config{StateDir: e.state, Secrets: keys})
	if err != nil {
		t.Fatal(err)
	}
	e.rec = New(Config{Source: e.repo.source(), Vars: e.vars, Builder: b, StateDir: e.state,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OnEvaluated: func(ev Evaluation) { e.evals = append(e.evals, ev) }})
	return keys
}

// TestReconcileSecrets: a munge key in git is applied; the inventory
// (/inventory), plan text and plan JSON show (sensitive), never the key or
// a digest of it; the same key encrypted again is a change shown only as
// (sensitive); a key encrypted to another recipient is a rejected commit
// (apply and plan) naming the file.
func TestReconcileSecrets(t *testing.T) {
	e := newRecEnv(t)
	keys := withSecrets(t, e)
	const plain = "MUNGE-SECRET-KEY-42"
	sum := sha256.Sum256([]byte(plain))
	leaks := []string{plain, hex.EncodeToString(sum[:])[:16]}
	noLeak := func(what, s string) {
		t.Helper()
		for _, l := range leaks {
			if strings.Contains(s, l) {
				t.Errorf("%s shows %q:\n%s", what, l, s)
			}
		}
	}
	e.mustApply(e.repo.commit(secretFiles(t, encryptFor(t, keys.Recipient(), plain)), "munge key"))
	data, inv := e.inventory()
	noLeak("the inventory", string(data))
	if v := inv.Overlays["generic"]["etc/munge/munge.key"]; !strings.HasPrefix(v, "(sensitive)") {
		t.Errorf("inventory value %q", v)
	}

	// The same content, encrypted again: a plan shows a (sensitive)
	// change of the file, nothing of its value.
	e.repo.commit(secretFiles(t, encryptFor(t, keys.Recipient(), plain)), "munge key again")
	p, err := PlanCommitSecrets(e.state, nil, e.repo.source(), "main", e.vars, "", nil, inv, data)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := p.WriteText(&text, false); err != nil {
		t.Fatal(err)
	}
	cp := *p
	cp.Desired = nil
	js, _ := json.Marshal(&cp)
	for what, s := range map[string]string{"plan text": text.String(), "plan JSON": string(js)} {
		noLeak(what, s)
		if strings.Contains(s, "age:") {
			t.Errorf("%s shows the ciphertext digest:\n%s", what, s)
		}
	}
	for _, want := range []string{"~ file etc/munge/munge.key", "(sensitive) -> (sensitive) changed", "generic: ~etc/munge/munge.key"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("plan text lacks %q:\n%s", want, text.String())
		}
	}
	if p.Summary.Change == 0 {
		t.Errorf("re-encrypting the secret changes nothing: %+v", p.Summary)
	}

	// Encrypted to another recipient: rejected, naming the file (plan
	// made on the state, and the server's pass).
	other, _ := age.GenerateX25519Identity()
	bad := e.repo.commit(secretFiles(t, encryptFor(t, other.Recipient().String(), plain)), "wrong key")
	if _, err := PlanCommitSecrets(e.state, nil, e.repo.source(), "main", e.vars, "", nil, inv, data); !IsConfigError(err) || !strings.Contains(err.Error(), secretKeyPath) {
		t.Errorf("plan of a key to another recipient: %v", err)
	}
	ev, err := e.once(Options{})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Commit != bad || ev.Result != ResultRejected {
		t.Fatalf("pass: %q %v; want %s rejected", ev.Result, err, bad)
	}
	d := ce.Diags[0]
	if d.Subject == nil || d.Subject.Filename != secretKeyPath || !strings.Contains(d.Detail, secretKeyPath) {
		t.Errorf("diagnostic %q at %v, want it at %s", d.Detail, d.Subject, secretKeyPath)
	}
	noLeak("the rejection", err.Error())
}

// TestPlanSecretsWithoutIdentity: a plan with no identity at hand (CI
// against --server) does not decrypt; one given --age-identity files does.
func TestPlanSecretsWithoutIdentity(t *testing.T) {
	e := newRecEnv(t)
	other, _ := age.GenerateX25519Identity()
	e.repo.commit(secretFiles(t, encryptFor(t, other.Recipient().String(), "k")), "key to someone else")
	if _, err := PlanCommitSecrets("", nil, e.repo.source(), "main", e.vars, "", nil, nil, nil); err != nil {
		t.Errorf("plan without any identity: %v", err)
	}
	idFile := t.TempDir() + "/id"
	if err := agesecret.Generate(idFile); err != nil {
		t.Fatal(err)
	}
	if _, err := PlanCommitSecrets("", []string{idFile}, e.repo.source(), "main", e.vars, "", nil, nil, nil); !IsConfigError(err) || !strings.Contains(err.Error(), secretKeyPath) {
		t.Errorf("plan with --age-identity: %v", err)
	}
}
