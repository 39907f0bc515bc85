package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gitboot/gitboot/internal/statefile"
)

// ReadInventoryDigest is ReadInventory for a reader that needs the
// file's Digest, not its bytes (a plan): while the inventory cache copies
// inventory.json, the file is hashed as it is read in small pieces,
// never held whole (8 MB at 10,000 nodes, its pages a plan's to fault in).
// Otherwise it is read and decoded as ReadInventory does. "" and nil when
// nothing was applied yet.
func ReadInventoryDigest(stateDir string) (*Inventory, string, error) {
	rr, err := ReadRunning(stateDir)
	if rr == nil || err != nil {
		return nil, "", err
	}
	return rr.Inv, rr.Digest, nil
}

// readInventoryDigest reads the inventory from f, stateDir's
// inventory.json opened, as ReadInventoryDigest says.
func readInventoryDigest(stateDir string, f *os.File) (*Inventory, string, error) {
	p := filepath.Join(stateDir, InventoryFile)
	if enc, err := os.ReadFile(filepath.Join(stateDir, InventoryCacheFile)); err == nil {
		h := sha256.New()
		if _, err := io.CopyBuffer(h, f, make([]byte, 256<<10)); err != nil {
			return nil, "", fmt.Errorf("reading inventory: %w", err)
		}
		var sum [sha256.Size]byte
		h.Sum(sum[:0])
		if inv, err := decodeInventoryCacheOf(enc, sum); err == nil && inv.Version == InventoryVersion {
			return inv, "sha256:" + hex.EncodeToString(sum[:]), nil
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, "", fmt.Errorf("reading inventory: %w", err)
		}
	}
	var buf bytes.Buffer
	if st, err := f.Stat(); err == nil {
		buf.Grow(int(st.Size()) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, "", fmt.Errorf("reading inventory: %w", err)
	}
	inv, err := DecodeInventory(buf.Bytes())
	if err != nil {
		return nil, "", statefile.Corrupt(p, err)
	}
	return inv, Digest(buf.Bytes()), nil
}
