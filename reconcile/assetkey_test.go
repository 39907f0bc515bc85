package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

// TestAssetKeyNeverShown: a node's asset_key reaches the inventory and the
// boot snapshot only as its sha256, and a plan (text or JSON) shows
// neither the key nor the hash.
func TestAssetKeyNeverShown(t *testing.T) {
	const key = "SECRET-TAG-1"
	sum := sha256.Sum256([]byte(key))
	want := "sha256:" + hex.EncodeToString(sum[:])
	e := newPlanEnv(t)
	files := edit(t, baseFiles(), "main.hcl", "ip       = \"10.99.0.12\"\n", "ip       = \"10.99.0.12\"\n  asset_key = \""+key+"\"\n")
	desired := e.next(files, "asset key")
	if got := desired.Nodes["c002"].AssetKeySHA256; got != want {
		t.Fatalf("inventory asset_key_sha256 %q, want %q", got, want)
	}
	if got := desired.Nodes["c001"].AssetKeySHA256; got != "" {
		t.Fatalf("c001 has no asset_key, inventory says %q", got)
	}
	enc, err := desired.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc, []byte(key)) {
		t.Fatal("the inventory holds the asset key")
	}
	snap, err := desired.Snapshot(nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := snap.NodeByName("c002"); n.AssetKeySHA256 != want {
		t.Fatalf("snapshot node c002 asset key %q, want %q", n.AssetKeySHA256, want)
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
		// The JSON plan embeds the desired inventory for apply; drop it.
		var shown []ResourceChange
		shown = append(shown, p.ResourceChanges...)
		rc, _ := json.Marshal(shown)
		for what, out := range map[string]string{"text": text.String(), "resource_changes": string(rc)} {
			if strings.Contains(out, key) || strings.Contains(out, want[7:]) {
				t.Errorf("plan %s shows the asset key or its hash:\n%s", what, out)
			}
			if !strings.Contains(out, sensitiveValue) {
				t.Errorf("plan %s does not show that the asset key changed:\n%s", what, out)
			}
		}
		if strings.Contains(string(js), key) {
			t.Error("the JSON plan holds the asset key")
		}
	}

	// A damaged inventory: a malformed hash is refused, not served.
	desired.Nodes["c002"] = func(n NodeState) NodeState { n.AssetKeySHA256 = key; return n }(desired.Nodes["c002"])
	if _, err := desired.Snapshot(nil); err == nil || !strings.Contains(err.Error(), "asset_key_sha256") {
		t.Fatalf("malformed asset_key_sha256: %v", err)
	}
}
