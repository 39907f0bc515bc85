package reconcile

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gitboot/gitboot/internal/atomicfile"
)

// A node's asset key leaves the server's memory only keyed: the inventory
// (the state file, GET /inventory) and saved plans carry
// HMAC-SHA256(server secret, "sha256:<hex of the key's sha256>") as
// "hmac-sha256:<hex>", never the key or an unsalted hash of it (a 7-10
// character DMI tag is brute-forced offline from one). The secret is
// created in the state directory at first start (AssetKeySecretFile,
// 0600). A desired state computed without the secret (a plan made away
// from the server) says only that a key is set (AssetKeyUnkeyed).

// AssetKeySecretFile is the secret's file in the state directory.
const AssetKeySecretFile = "asset-key.secret"

// AssetKeyUnkeyed is a node's asset key in a desired state computed
// without the server's secret: a key is set, its digest is not known
// there. It matches any keyed digest in a saved plan's check.
const AssetKeyUnkeyed = "set"

// hmacPrefix starts a keyed asset key digest.
const hmacPrefix = "hmac-sha256:"

// AssetKeySecret returns the server's secret for asset key digests from
// stateDir, creating it (32 random bytes, mode 0600) when create is set
// and there is none. Without create, a missing file is (nil, nil).
func AssetKeySecret(stateDir string, create bool) ([]byte, error) {
	if stateDir == "" {
		return nil, nil
	}
	path := filepath.Join(stateDir, AssetKeySecretFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(secret) < 32 {
			return nil, fmt.Errorf("%s: not 64 hex digits (move it aside to create a new one; nodes' asset key digests are then recomputed at the next apply)", path)
		}
		return secret, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading the asset key secret: %w", err)
	case !create:
		return nil, nil
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the asset key secret: %w", err)
	}
	if err := atomicfile.WriteFile(path, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("creating the asset key secret: %w", err)
	}
	return secret, nil
}

// AssetKeyHMAC returns the keyed digest of an asset key given as its
// "sha256:<hex>" (hclspec.Node.AssetKeySHA256).
func AssetKeyHMAC(secret []byte, sum string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(sum))
	return hmacPrefix + hex.EncodeToString(m.Sum(nil))
}

// isAssetKeyDigest reports whether s is a keyed digest.
func isAssetKeyDigest(s string) bool {
	return strings.HasPrefix(s, hmacPrefix) && isHex64(s[len(hmacPrefix):])
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// keyAssetKeys replaces the unkeyed asset keys of a desired state with
// their keyed digests (secret nil: they stay unkeyed).
func (inv *Inventory) keyAssetKeys(secret []byte) {
	if secret == nil {
		return
	}
	for name, n := range inv.Nodes {
		if n.assetKeySum == "" {
			continue
		}
		n.AssetKey = AssetKeyHMAC(secret, n.assetKeySum)
		inv.Nodes[name] = n
	}
}

// sameAssetKey reports whether two asset key digests are the same key:
// an unkeyed one (planned without the secret) matches any set key.
func sameAssetKey(a, b string) bool {
	if a == AssetKeyUnkeyed || b == AssetKeyUnkeyed {
		return (a == "") == (b == "")
	}
	return a == b
}

// assetKey is the node's asset key digest, keyed or (from an inventory
// written before) plain.
func (n *NodeState) assetKey() string {
	if n.AssetKey != "" {
		return n.AssetKey
	}
	return n.LegacyAssetKeySHA256
}

// rekeyLegacy replaces the plain asset key hashes of an inventory written
// before keyed digests with keyed ones; it reports whether it changed
// anything.
func (inv *Inventory) rekeyLegacy(secret []byte) bool {
	if secret == nil {
		return false
	}
	changed := false
	for name, n := range inv.Nodes {
		if n.LegacyAssetKeySHA256 == "" {
			continue
		}
		if n.AssetKey == "" {
			n.AssetKey = AssetKeyHMAC(secret, n.LegacyAssetKeySHA256)
		}
		n.LegacyAssetKeySHA256 = ""
		inv.Nodes[name] = n
		changed = true
	}
	return changed
}

// loadAssetSecret reads (or at first start creates) the state
// directory's asset key secret.
func (r *Reconciler) loadAssetSecret() {
	var err error
	if r.assetSecret, err = AssetKeySecret(r.cfg.StateDir, true); err != nil {
		// Nodes with an asset key then get no runtime overlay in secure
		// mode (their digests stay unkeyed, which matches no key).
		r.cfg.Logger.Error("no asset key secret: nodes with an asset_key cannot be checked", "err", err)
	}
}

// AssetKeySecret is the secret the nodes' asset key digests are keyed
// with (nil when it could not be read or created), for the HTTP service's
// check of a node's key.
func (r *Reconciler) AssetKeySecret() []byte { return r.assetSecret }

// rekeyLegacy keys the plain asset key hashes of an inventory written
// before keyed digests (read at Restore) and writes it back, so that GET
// /inventory never serves a plain hash; it returns the inventory's
// encoding as served from now on, and whether the state directory's file
// holds it.
func (r *Reconciler) rekeyLegacy(inv *Inventory, data []byte) ([]byte, bool) {
	if !inv.rekeyLegacy(r.assetSecret) {
		return data, true
	}
	enc, err := inv.Encode()
	if err != nil {
		return data, true
	}
	if err := writeInventory(r.cfg.StateDir, inv, enc); err != nil {
		r.cfg.Logger.Error("rewriting the inventory with keyed asset keys", "err", err)
		return enc, false
	}
	return enc, true
}
