package artifact

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// TestTrustInSystemOverlay: with Config.Trust every system overlay has the
// CA and the overlay key next to the agent (0644); a new CA rebuilds every
// system overlay, changes AgentDigest (a change of desired state) and
// leaves the runtime overlays alone.
func TestTrustInSystemOverlay(t *testing.T) {
	agent := filepath.Join(t.TempDir(), "gitboot-agent")
	write(t, agent, "agent", 0o755)
	tc := overlayCluster(t, []string{"generic"}, []string{"secrets"}, 2)
	state := t.TempDir()
	trust := &Trust{CA: []byte("-----BEGIN CERTIFICATE-----\nCA1\n"), OverlayKey: []byte("-----BEGIN PUBLIC KEY-----\nK1\n")}
	b, err := New(Config{StateDir: state, Agent: agent, Trust: trust})
	if err != nil {
		t.Fatal(err)
	}
	r1 := mustBuild(t, b, tc.build())
	d1, err := b.AgentDigest()
	if err != nil {
		t.Fatal(err)
	}
	sys := unpack(t, r1.Nodes["n00001"].System.Path)
	for path, want := range map[string]string{CAPath: string(trust.CA), OverlayKeyPath: string(trust.OverlayKey), AgentPath: "agent"} {
		fi, err := os.Lstat(filepath.Join(sys, path))
		if err != nil {
			t.Fatalf("no /%s in the system overlay: %v", path, err)
		}
		if got := readFile(t, filepath.Join(sys, path)); got != want {
			t.Errorf("/%s holds %q, want %q", path, got, want)
		}
		if path != AgentPath && fi.Mode() != 0o644 {
			t.Errorf("/%s has mode %v, want 0644", path, fi.Mode())
		}
	}

	b2, err := New(Config{StateDir: state, Agent: agent, Trust: &Trust{CA: []byte("-----BEGIN CERTIFICATE-----\nCA2\n"), OverlayKey: trust.OverlayKey}})
	if err != nil {
		t.Fatal(err)
	}
	r2 := mustBuild(t, b2, tc.build())
	d2, _ := b2.AgentDigest()
	if d1 == d2 || d1 == "" {
		t.Errorf("a new CA kept the agent digest %q", d1)
	}
	if r2.Nodes["n00001"].System.Digest == r1.Nodes["n00001"].System.Digest {
		t.Error("a new CA kept the system overlay")
	}
	if r2.Nodes["n00001"].Runtime.Digest != r1.Nodes["n00001"].Runtime.Digest {
		t.Error("a new CA changed the runtime overlay")
	}
	if got := readFile(t, filepath.Join(unpack(t, r2.Nodes["n00001"].System.Path), CAPath)); got != "-----BEGIN CERTIFICATE-----\nCA2\n" {
		t.Errorf("the rebuilt overlay's CA: %q", got)
	}
	// Without Trust the digest is the agent's sha256, as before.
	b3, _ := New(Config{StateDir: t.TempDir(), Agent: agent})
	sum := sha256.Sum256([]byte("agent"))
	if d3, _ := b3.AgentDigest(); d3 != hex.EncodeToString(sum[:]) {
		t.Errorf("without Trust, AgentDigest %s is not the agent's sha256", d3)
	}
}
