package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gitboot/gitboot/internal/atomicfile"
	"github.com/gitboot/gitboot/internal/statefile"
)

// Encode returns the inventory as indented JSON (map keys sorted, so equal
// states encode equally): the bytes of json.MarshalIndent(inv, "", " ") and
// a newline. The nodes are encoded one at a time into a buffer sized up
// front: encoding them all at once held the text three times over at 100,000
// nodes (encoding/json's buffer, which its pool then keeps, its growth, and
// the indented copy), some 400 MB at the peak of an apply.
func (inv *Inventory) Encode() ([]byte, error) {
	if len(inv.Nodes) == 0 {
		data, err := json.MarshalIndent(inv, "", " ")
		return append(data, '\n'), err
	}
	rest := *inv
	rest.Nodes = map[string]NodeState{}
	head, err := json.MarshalIndent(&rest, "", " ")
	if err != nil {
		return nil, err
	}
	const empty = "\n \"nodes\": {}" // a top-level field: no other line starts with one space
	at := bytes.Index(head, []byte(empty))
	if at < 0 {
		return nil, errors.New("encoding inventory: no nodes field")
	}
	at += len(empty) - 1 // at the "}"
	var buf []byte
	for i, name := range sortedKeys(inv.Nodes) {
		n := inv.Nodes[name]
		if i == 0 {
			// Every node encodes to about the same size.
			one := len(appendNodeJSON(nil, &n)) + len(name) + 16
			buf = make([]byte, 0, len(head)+(len(inv.Nodes)+1)*one)
			buf = append(buf, head[:at]...)
		} else {
			buf = append(buf, ',')
		}
		buf = append(buf, "\n  "...)
		buf = appendJSONString(buf, name)
		buf = append(buf, ": "...)
		buf = appendNodeJSON(buf, &n)
	}
	buf = append(buf, "\n }"...)
	buf = append(buf, head[at+1:]...)
	return append(buf, '\n'), nil
}

// Digest identifies an encoded inventory: "sha256:<hex>" of its bytes. A
// saved plan is bound to the digest of the running inventory it was made
// against.
func Digest(encoded []byte) string {
	sum := sha256.Sum256(encoded)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// DecodeInventory parses an encoded inventory.
func DecodeInventory(data []byte) (*Inventory, error) {
	var inv Inventory
	if err := json.Unmarshal(data, &inv); err != nil {
		return nil, fmt.Errorf("reading inventory: %w", err)
	}
	if inv.Version != InventoryVersion {
		return nil, fmt.Errorf("reading inventory: version %d, this gitboot reads %d", inv.Version, InventoryVersion)
	}
	return &inv, nil
}

// ReadInventory reads the running inventory from a state directory. It
// returns (nil, nil, nil) when nothing was applied yet, a
// *statefile.CorruptError when the file is damaged; the bytes are the
// file's content (what Digest is computed over).
func ReadInventory(stateDir string) (*Inventory, []byte, error) {
	data, err := os.ReadFile(filepath.Join(stateDir, InventoryFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading inventory: %w", err)
	}
	if inv, err := readInventoryCache(stateDir, data); err == nil && inv.Version == InventoryVersion {
		return inv, data, nil
	}
	inv, err := DecodeInventory(data)
	if err != nil {
		return nil, nil, statefile.Corrupt(filepath.Join(stateDir, InventoryFile), err)
	}
	return inv, data, nil
}

// ReadInventoryHead reads the running inventory's fields that come
// before its nodes in inventory.json (its variables and server block
// among them, not Nodes or Agent), reading no more of the file than that:
// what a plan needs before it evaluates a commit, while the whole
// inventory is read beside it (PlanCommitRunning). nil when nothing was
// applied yet.
func ReadInventoryHead(stateDir string) (*Inventory, error) {
	p := filepath.Join(stateDir, InventoryFile)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading inventory: %w", err)
	}
	defer f.Close()
	d := json.NewDecoder(f)
	head := map[string]json.RawMessage{}
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil, statefile.Corrupt(p, fmt.Errorf("reading inventory: not a JSON object"))
	}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, statefile.Corrupt(p, fmt.Errorf("reading inventory: %w", err))
		}
		key, _ := t.(string)
		if key == "nodes" {
			break
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, statefile.Corrupt(p, fmt.Errorf("reading inventory: %w", err))
		}
		head[key] = v
	}
	data, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	inv, err := DecodeInventory(data)
	if err != nil {
		return nil, statefile.Corrupt(p, err)
	}
	return inv, nil
}

// writeInventory persists data, inv's encoding, as the running
// inventory, atomically: a crash leaves the old file or the new one,
// whole. Its cache (InventoryCacheFile) follows.
func writeInventory(stateDir string, inv *Inventory, data []byte) error {
	if err := atomicfile.WriteFile(filepath.Join(stateDir, InventoryFile), data, 0o600); err != nil {
		return fmt.Errorf("recording inventory: %w", err)
	}
	writeInventoryCache(stateDir, inv, data)
	return nil
}
