package hclspec

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func sumKey(k string) string {
	s := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(s[:])
}

// TestAssetKey: asset_key merges like other profile attributes (the node
// wins), only its sha256 is kept, and it is part of the cluster's hash.
func TestAssetKey(t *testing.T) {
	nodes := `
profile "rack1" {
  image     = image.rocky9
  asset_key = "RACK1-TAG"
}

node "c001" {
  mac      = "52:54:00:00:00:01"
  ip       = "10.99.0.11"
  profiles = [profile.rack1]
}

node "c002" {
  mac       = "52:54:00:00:00:02"
  ip        = "10.99.0.12"
  profiles  = [profile.rack1]
  asset_key = "C002-TAG"
}

node "c003" {
  mac   = "52:54:00:00:00:03"
  ip    = "10.99.0.13"
  image = image.rocky9
}
`
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL, "nodes.hcl": nodes}), Options{})
	for name, want := range map[string]string{"c001": sumKey("RACK1-TAG"), "c002": sumKey("C002-TAG"), "c003": ""} {
		n, _ := c.Node(name)
		if n.AssetKeySHA256 != want {
			t.Errorf("%s: asset key %q, want %q", name, n.AssetKeySHA256, want)
		}
	}
	if n, _ := c.Node("c002"); n.Origins["asset_key"].Start.Line != 17 {
		t.Errorf("origin of c002's asset_key: %v", n.Origins["asset_key"])
	}
	other := mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL, "nodes.hcl": strings.Replace(nodes, "C002-TAG", "C002-TAG2", 1)}), Options{})
	if other.Hash == c.Hash {
		t.Error("changing an asset_key leaves the cluster hash alone: the change would never be applied")
	}
}

func TestAssetKeyInvalid(t *testing.T) {
	for name, tc := range map[string]struct{ value, want string }{
		"empty":      {`""`, "is empty"},
		"spaces":     {`" SECRET-TAG "`, "white space"},
		"control":    {`"SECRET\tTAG"`, "control character"},
		"too long":   {`"` + strings.Repeat("SECRET", 50) + `"`, "longer than 256"},
		"wrong type": {`["SECRET"]`, "must be string"},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := Load(mapFS(map[string]string{"main.hcl": baseHCL, "nodes.hcl": `
node "c001" {
  mac       = "52:54:00:00:00:01"
  ip        = "10.99.0.11"
  image     = image.rocky9
  runtime_overlays = [overlay.generic]
  asset_key = ` + tc.value + `
}
`}), Options{})
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			msg := strings.Join(errorLines(diags), "\n")
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "nodes.hcl:7") {
				t.Fatalf("diagnostic %q, want %q at nodes.hcl:7", msg, tc.want)
			}
			if name != "wrong type" && strings.Contains(msg, "SECRET") {
				t.Errorf("diagnostic shows the key: %q", msg)
			}
		})
	}
}
