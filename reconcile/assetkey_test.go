package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAssetKeyNeverShown: a node's asset_key reaches the inventory and the
// boot snapshot only as an HMAC keyed with the server's secret (never the
// key or its plain sha256, which a short DMI tag is brute-forced from),
// and a plan (text or JSON) shows neither.
func TestAssetKeyNeverShown(t *testing.T) {
	const key = "SECRET-TAG-1"
	sum := sha256.Sum256([]byte(key))
	plain := "sha256:" + hex.EncodeToString(sum[:])
	want := AssetKeyHMAC(testAssetSecret, plain)
	e := newPlanEnv(t)
	files := edit(t, baseFiles(), "main.hcl", "ip       = \"10.99.0.12\"\n", "ip       = \"10.99.0.12\"\n  asset_key = \""+key+"\"\n")
	desired := e.next(files, "asset key")
	if got := desired.Nodes["c002"].AssetKey; got != want {
		t.Fatalf("inventory asset_key %q, want %q", got, want)
	}
	if got := desired.Nodes["c001"].AssetKey; got != "" {
		t.Fatalf("c001 has no asset_key, inventory says %q", got)
	}
	enc, err := desired.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc, []byte(key)) || bytes.Contains(enc, []byte(plain[7:])) {
		t.Fatal("the inventory holds the asset key or its plain sha256")
	}
	snap, err := desired.Snapshot(nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := snap.NodeByName("c002"); n.AssetKeyDigest != want {
		t.Fatalf("snapshot node c002 asset key %q, want %q", n.AssetKeyDigest, want)
	}
	for _, running := range []*Inventory{nil, e.running(baseFiles())} {
		p := diff(t, running, desired)
		var text bytes.Buffer
		if err := p.WriteText(&text, false); err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		rc, _ := json.Marshal(p.ResourceChanges)
		for what, out := range map[string]string{"text": text.String(), "resource_changes": string(rc)} {
			if strings.Contains(out, key) || strings.Contains(out, plain[7:]) || strings.Contains(out, want[12:]) {
				t.Errorf("plan %s shows the asset key or a digest:\n%s", what, out)
			}
			if !strings.Contains(out, sensitiveValue) {
				t.Errorf("plan %s does not show that the asset key changed:\n%s", what, out)
			}
		}
		// The saved plan embeds the desired inventory: keyed only.
		if strings.Contains(string(js), key) || strings.Contains(string(js), plain[7:]) {
			t.Error("the JSON plan holds the asset key or its plain sha256")
		}
	}

	// A damaged inventory: a malformed digest is refused, not served.
	desired.Nodes["c002"] = func(n NodeState) NodeState { n.AssetKey = key; return n }(desired.Nodes["c002"])
	if _, err := desired.Snapshot(nil); err == nil || !strings.Contains(err.Error(), "asset_key") {
		t.Fatalf("malformed asset_key: %v", err)
	}
}

// TestAssetKeyUnkeyedPlan: a desired state computed without the server's
// secret (a plan made in CI) says only that a key is set; applying such a
// saved plan on the server matches the keyed state there; an inventory
// written before keyed digests is keyed at the first read.
func TestAssetKeyUnkeyedPlan(t *testing.T) {
	e := newPlanEnv(t)
	files := edit(t, baseFiles(), "main.hcl", "ip       = \"10.99.0.12\"\n", "ip       = \"10.99.0.12\"\n  asset_key = \"SECRET-TAG-1\"\n")
	server := e.next(files, "asset key")
	c, srv := loadFiles(t, files, map[string]string{"image": e.image})
	away, err := Desire(fakeCommit(nextHash, "asset key"), c, srv, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := away.Nodes["c002"].AssetKey; got != AssetKeyUnkeyed {
		t.Fatalf("without the secret: asset_key %q, want %q", got, AssetKeyUnkeyed)
	}
	if !sameDesired(away, server) {
		t.Fatal("a plan made without the secret does not match the server's keyed state")
	}
	other := e.next(edit(t, baseFiles(), "main.hcl", "ip       = \"10.99.0.12\"\n", "ip       = \"10.99.0.12\"\n  asset_key = \"OTHER-TAG\"\n"), "other")
	if sameDesired(server, other) {
		t.Fatal("two keys, one keyed state")
	}

	// The secret: created once, 0600, the same afterwards.
	dir := t.TempDir()
	s1, err := AssetKeySecret(dir, true)
	if err != nil || len(s1) != 32 {
		t.Fatalf("creating: %v %d", err, len(s1))
	}
	fi, err := os.Stat(filepath.Join(dir, AssetKeySecretFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", err, fi.Mode())
	}
	if s2, err := AssetKeySecret(dir, false); err != nil || !bytes.Equal(s1, s2) {
		t.Fatalf("reading again: %v", err)
	}
	if s, err := AssetKeySecret(t.TempDir(), false); s != nil || err != nil {
		t.Fatalf("no secret, no create: %v %v", s, err)
	}

	// Legacy: a plain sha256 is still checked, and keyed by rekeyLegacy.
	legacy := *server
	legacy.Nodes = map[string]NodeState{}
	for name, n := range server.Nodes {
		if n.AssetKey != "" {
			n.AssetKey, n.LegacyAssetKeySHA256 = "", "sha256:"+strings.Repeat("ab", 32)
		}
		legacy.Nodes[name] = n
	}
	if !legacy.rekeyLegacy(s1) || legacy.Nodes["c002"].LegacyAssetKeySHA256 != "" ||
		legacy.Nodes["c002"].AssetKey != AssetKeyHMAC(s1, "sha256:"+strings.Repeat("ab", 32)) {
		t.Fatalf("rekeyLegacy: %+v", legacy.Nodes["c002"])
	}
}
